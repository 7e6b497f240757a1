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

# Knative Serving's controller reads config-network once, at start-up, to decide whether to run
# its cert-manager integration (knative/serving cmd/controller/main.go,
# shouldEnableNetCertManagerController), so with external-domain-tls turned on after it started
# no certificate is ever issued, and, http-protocol being Redirected, no public Service becomes
# Ready. Knative's docs (serving/encryption/external-domain-tls.md) say to restart it:
# `kubectl rollout restart deploy/controller -n knative-serving`. This is that restart: an
# annotation of the Deployment's pod template, a hash of config-network's data as set here, so it
# rolls once the setting is written and again whenever it changes; by then the issuer is Ready and
# config-certmanager names it. The Services wait for it (main.tf).
resource "kubernetes_annotations" "knative_controller_restart" {
  count       = var.tls ? 1 : 0
  api_version = "apps/v1"
  kind        = "Deployment"
  metadata {
    name      = "controller"
    namespace = "knative-serving"
  }
  template_annotations = {
    "orders/config-network-sha256" = sha256(jsonencode(kubernetes_config_map_v1_data.knative_tls[0].data))
  }
  force = true
  depends_on = [
    kubernetes_manifest.issuer,
    kubernetes_config_map_v1_data.knative_certmanager,
  ]
}
