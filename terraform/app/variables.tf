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

variable "image" {
  description = "The one image of every function (built from the repository's Dockerfile), named so that each build has a name of its own: pinned by digest (name@sha256:...) from a registry, or, side-loaded with kind load or k3d image import, a tag under kind.local/, ko.local/ or dev.local/ made from the image id (README, Deploy). A tag rebuilt in place changes nothing Terraform sees: no migration, no new Revision. Knative Serving resolves every other tag to a digest through the registry, which a side-loaded image is not in."
  type        = string

  validation {
    # Knative Serving's config-deployment registries-skipping-tag-resolving default.
    condition     = can(regex("^(kind\\.local|ko\\.local|dev\\.local)/[^@]+$|@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be a tag under kind.local/, ko.local/ or dev.local/ (Knative does not resolve those to digests) or be pinned by digest (name@sha256:<64 hex>)."
  }
}

variable "namespace" {
  description = "Namespace of the functions, Kafka and PostgreSQL."
  type        = string
  default     = "orders"
}

variable "kafka_replicas" {
  description = "Kafka nodes (each controller and broker); 3 keeps acks=all writable through one loss. Topics, the offsets and transaction logs get min(kafka_replicas, 3) replicas and min.insync.replicas one fewer (at least 1)."
  type        = number
  default     = 3

  validation {
    condition     = var.kafka_replicas >= 1 && floor(var.kafka_replicas) == var.kafka_replicas
    error_message = "kafka_replicas must be a whole number of nodes, at least 1."
  }
}

variable "postgres_instances" {
  description = "PostgreSQL instances (one primary, the rest streaming replicas)."
  type        = number
  default     = 2
}

variable "postgres_storage" {
  description = "Volume size of each PostgreSQL instance."
  type        = string
  default     = "10Gi"
}

variable "confirm_delay_seconds" {
  description = "Delay between CREATED and CONFIRMED."
  type        = number
  default     = 10
}

variable "ship_delay_seconds" {
  description = "Delay between CONFIRMED and SHIPPED."
  type        = number
  default     = 10
}

variable "domain" {
  description = "Knative's external domain; orders-http is served at orders-http.<namespace>.<domain>."
  type        = string
  default     = "127.0.0.1.sslip.io"
}

variable "tls" {
  description = "Serve the public function over HTTPS (Knative external-domain TLS with cert-manager)."
  type        = bool
  default     = true
}

variable "acme_email" {
  description = "E-mail for Let's Encrypt; empty for a self-signed issuer (kind, k3d)."
  type        = string
  default     = ""
}

variable "event_auth" {
  description = "Only their sources may fire confirm, ship and outbox_relay: turns on Knative Eventing's authentication-oidc (alpha) and the functions' token check."
  type        = bool
  default     = false
}

variable "event_auth_issuer" {
  description = "The cluster's service-account token issuer (kubectl get --raw /.well-known/openid-configuration); kind's and k3d's by default."
  type        = string
  default     = "https://kubernetes.default.svc.cluster.local"
}
