# HTTPS for the public function: Knative's external-domain TLS asks cert-manager (installed by
# stage 1) for a certificate per Knative Service, from this issuer.
resource "kubernetes_manifest" "issuer" {
  count = var.tls ? 1 : 0
  manifest = {
    apiVersion = "cert-manager.io/v1"
    kind       = "ClusterIssuer"
    metadata = {
      name = "orders-issuer"
    }
    spec = var.acme_email == "" ? { selfSigned = {} } : {
      acme = {
        email               = var.acme_email
        server              = "https://acme-v02.api.letsencrypt.org/directory"
        privateKeySecretRef = { name = "orders-acme-account" }
        solvers             = [{ http01 = { ingress = { class = "kourier.ingress.networking.knative.dev" } } }]
      }
    }
  }

  # An ACME issuer is Ready once its account is registered; a wrong email or server fails here.
  wait {
    condition {
      type   = "Ready"
      status = "True"
    }
  }
  timeouts {
    create = "5m"
    update = "5m"
  }
}

resource "kubernetes_config_map_v1_data" "knative_domain" {
  metadata {
    name      = "config-domain"
    namespace = "knative-serving"
  }
  data  = { (var.domain) = "" }
  force = true
}

resource "kubernetes_config_map_v1_data" "knative_tls" {
  count = var.tls ? 1 : 0
  metadata {
    name      = "config-network"
    namespace = "knative-serving"
  }
  data  = { "external-domain-tls" = "Enabled", "http-protocol" = "Redirected" }
  force = true
}

resource "kubernetes_config_map_v1_data" "knative_certmanager" {
  count = var.tls ? 1 : 0
  metadata {
    name      = "config-certmanager"
    namespace = "knative-serving"
  }
  data = {
    issuerRef = "kind: ClusterIssuer\nname: orders-issuer\n"
  }
  force      = true
  depends_on = [kubernetes_manifest.issuer]
}
