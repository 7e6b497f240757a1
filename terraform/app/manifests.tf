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
  # Replication follows the number of nodes: each partition on min(nodes, 3) of them, and writes
  # (acks=all) need one copy fewer than that, at least one: Strimzi's advice ("set the minimum
  # number of in-sync replicas required to 1 less than the replication factor") and its
  # single-node example (all 1). With 3 nodes this is what knative/ says: 3 and 2.
  kafka_replication_factor = min(var.kafka_replicas, 3)
  kafka_min_insync         = max(local.kafka_replication_factor - 1, 1)
  kafka = {
    for name, kafka in local.by_kind["Kafka"] :
    name => merge(kafka, { spec = merge(kafka.spec, { kafka = merge(kafka.spec.kafka, {
      config = merge(kafka.spec.kafka.config, {
        "default.replication.factor"               = local.kafka_replication_factor
        "offsets.topic.replication.factor"         = local.kafka_replication_factor
        "transaction.state.log.replication.factor" = local.kafka_replication_factor
        "transaction.state.log.min.isr"            = local.kafka_min_insync
        "min.insync.replicas"                      = local.kafka_min_insync
      })
    }) }) })
  }
  topics = {
    for name, topic in local.by_kind["KafkaTopic"] :
    name => merge(topic, { spec = merge(topic.spec, { replicas = local.kafka_replication_factor }) })
  }
  eventing = merge(local.by_kind["KafkaSink"], local.by_kind["KafkaSource"], local.by_kind["PingSource"])
  # The migration Job's name carries the image: knative/deploy-with-kn.sh names it alike.
  migrate_job = "orders-migrate-${substr(sha256(var.image), 0, 12)}"
}
