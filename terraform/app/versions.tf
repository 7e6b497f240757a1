# Stage 2 of 2: the orders system itself. Apply terraform/operators first: `kubernetes_manifest`
# reads the Kafka, KafkaTopic and Cluster CRDs while planning, so they must already exist.
terraform {
  required_version = ">= 1.6"

  # Local state, as in stage 1; see the README ("Deploy") for moving it to a shared backend.
  backend "local" {
    path = "terraform.tfstate"
  }

  required_providers {
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
