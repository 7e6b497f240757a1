variable "kubeconfig" {
  description = "Path of the kubeconfig to use."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "kubeconfig context (e.g. kind-orders or k3d-orders); null for the current one."
  type        = string
  default     = null
}

variable "strimzi_version" {
  description = "Strimzi operator chart version (1.x serves kafka.strimzi.io/v1; 1.0.1 or later: 1.0.0 has CVE-2026-55225 and CVE-2026-55226)."
  type        = string
  default     = "1.0.1"
}

variable "cloudnative_pg_version" {
  description = "CloudNativePG operator chart version."
  type        = string
  default     = "0.26.0"
}

variable "cert_manager_version" {
  description = "cert-manager chart version (for Knative's external-domain TLS)."
  type        = string
  default     = "v1.18.2"
}
