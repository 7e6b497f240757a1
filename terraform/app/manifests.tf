# The manifests under knative/ are the single description of the system: `orders dev` runs its
# local stand-ins from them, and this stage applies them, changing only the namespace, the image
# and the sizes chosen by variables.
locals {
  knative_dir = "${path.module}/../../knative"
  documents = flatten([
    for file in fileset(local.knative_dir, "*.yaml") : [
      for text in split("\n---\n", replace(replace(replace(replace(
        file("${local.knative_dir}/${file}"),
        "namespace: orders", "namespace: ${var.namespace}"),
        ".orders.svc", ".${var.namespace}.svc"),
        "serving.knative.dev/service/orders/", "serving.knative.dev/service/${var.namespace}/"),
      "image: orders:latest", "image: ${var.image}")) :
      yamldecode(text) if trimspace(replace(text, "/(?m)^#.*$/", "")) != ""
    ]
  ])
  by_kind = {
    for kind in distinct([for d in local.documents : d.kind]) :
    kind => { for d in local.documents : d.metadata.name => d if d.kind == kind }
  }
  config = merge(local.by_kind["ConfigMap"]["orders-config"], {
    data = merge(local.by_kind["ConfigMap"]["orders-config"].data, {
      CONFIRM_DELAY_SECONDS = tostring(var.confirm_delay_seconds)
      SHIP_DELAY_SECONDS    = tostring(var.ship_delay_seconds)
    })
  })
  # Who may fire the event functions: off until var.event_auth names the API server's key set.
  event_auth_config = merge(local.by_kind["ConfigMap"]["orders-event-auth"], {
    data = merge(local.by_kind["ConfigMap"]["orders-event-auth"].data,
      { EVENT_AUTH_ISSUER = var.event_auth_issuer },
      var.event_auth ? { EVENT_AUTH_JWKS_URL = "https://kubernetes.default.svc/openid/v1/jwks" } : {},
    )
  })
  node_pools = {
    for name, pool in local.by_kind["KafkaNodePool"] :
    name => merge(pool, { spec = merge(pool.spec, { replicas = var.kafka_replicas }) })
  }
  eventing = merge(local.by_kind["KafkaSink"], local.by_kind["KafkaSource"], local.by_kind["PingSource"])
}
