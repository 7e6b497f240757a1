# Stage 1 of 2: the operators whose CRDs stage 2 needs. `kubernetes_manifest` reads a CRD's
# schema while planning, so Kafka, KafkaTopic and Cluster resources cannot be planned until this
# stage has been applied.
terraform {
  required_version = ">= 1.6"

  # Local state: one operator installs this once per cluster from one machine. Teams that share
  # the cluster move it to a remote backend (e.g. "kubernetes" or "s3") with locking.
  backend "local" {
    path = "terraform.tfstate"
  }

  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = "~> 2.17"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.38"
    }
  }
}

provider "kubernetes" {
  config_path    = var.kubeconfig
  config_context = var.kube_context
}

provider "helm" {
  kubernetes {
    config_path    = var.kubeconfig
    config_context = var.kube_context
  }
}
