resource "helm_release" "strimzi" {
  name             = "strimzi"
  repository       = "https://strimzi.io/charts/"
  chart            = "strimzi-kafka-operator"
  version          = var.strimzi_version
  namespace        = "strimzi"
  create_namespace = true
  wait             = true

  set {
    name  = "watchAnyNamespace"
    value = "true"
  }
}

# Bitnami's PostgreSQL images are no longer maintained; CloudNativePG runs upstream PostgreSQL.
resource "helm_release" "cloudnative_pg" {
  name             = "cnpg"
  repository       = "https://cloudnative-pg.github.io/charts"
  chart            = "cloudnative-pg"
  version          = var.cloudnative_pg_version
  namespace        = "cnpg-system"
  create_namespace = true
  wait             = true
}

resource "helm_release" "cert_manager" {
  name             = "cert-manager"
  repository       = "https://charts.jetstack.io"
  chart            = "cert-manager"
  version          = var.cert_manager_version
  namespace        = "cert-manager"
  create_namespace = true
  wait             = true

  set {
    name  = "crds.enabled"
    value = "true"
  }
}
