resource "kubernetes_namespace_v1" "orders" {
  metadata {
    name = var.namespace
  }
}

resource "kubernetes_manifest" "kafka_node_pools" {
  for_each   = local.node_pools
  manifest   = each.value
  depends_on = [kubernetes_namespace_v1.orders]
}

resource "kubernetes_manifest" "kafka" {
  for_each   = local.kafka
  manifest   = each.value
  depends_on = [kubernetes_manifest.kafka_node_pools]

  wait {
    condition {
      type   = "Ready"
      status = "True"
    }
  }
  timeouts {
    create = "20m"
  }
}

resource "kubernetes_manifest" "kafka_topics" {
  for_each   = local.topics
  manifest   = each.value
  depends_on = [kubernetes_manifest.kafka]

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

# CloudNativePG writes the Secret orders-db-app (keys: uri, username, password, host, dbname),
# which the migration Job and every function read; no secret appears in this configuration.
resource "kubernetes_manifest" "postgres" {
  manifest = {
    apiVersion = "postgresql.cnpg.io/v1"
    kind       = "Cluster"
    metadata = {
      name      = "orders-db"
      namespace = var.namespace
    }
    spec = {
      instances = var.postgres_instances
      storage = {
        size = var.postgres_storage
      }
      bootstrap = {
        initdb = {
          database = "orders"
          owner    = "orders"
        }
      }
    }
  }
  depends_on = [kubernetes_namespace_v1.orders]

  wait {
    condition {
      type   = "Ready"
      status = "True"
    }
  }
  timeouts {
    create = "15m"
  }
}

resource "kubernetes_manifest" "config" {
  manifest   = local.config
  depends_on = [kubernetes_namespace_v1.orders]
}

resource "kubernetes_manifest" "event_auth_config" {
  manifest   = local.event_auth_config
  depends_on = [kubernetes_namespace_v1.orders]
}

# Runs `orders migrate` (wait for the database, then alembic upgrade head) once per image, before
# any function starts: the Job is named after the image (local.migrate_job), so a new image is a
# new Job that migrates again, and the same image leaves the finished Job as it is.
resource "kubernetes_job_v1" "migrate" {
  metadata {
    name      = local.migrate_job
    namespace = var.namespace
  }
  spec {
    backoff_limit = 4
    template {
      metadata {
        labels = {
          app = "orders-migrate"
        }
      }
      spec {
        restart_policy                  = "Never"
        automount_service_account_token = false
        security_context {
          run_as_non_root = true
          run_as_user     = 10001
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }
        container {
          name              = "migrate"
          image             = var.image
          image_pull_policy = "IfNotPresent"
          command           = ["orders", "migrate"]
          env {
            name = "DATABASE_URL"
            value_from {
              secret_key_ref {
                name = "orders-db-app"
                key  = "uri"
              }
            }
          }
          resources {
            requests = {
              cpu    = "100m"
              memory = "128Mi"
            }
            limits = {
              cpu    = "1"
              memory = "256Mi"
            }
          }
          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            capabilities {
              drop = ["ALL"]
            }
          }
        }
      }
    }
  }
  wait_for_completion = true
  timeouts {
    create = "10m"
    update = "10m"
  }
  depends_on = [kubernetes_manifest.postgres]
}

resource "kubernetes_manifest" "services" {
  for_each = local.by_kind["Service"]
  manifest = each.value
  depends_on = [
    kubernetes_job_v1.migrate,
    kubernetes_manifest.config,
    kubernetes_manifest.event_auth_config,
    kubernetes_manifest.kafka_topics,
    kubernetes_config_map_v1_data.knative_domain,
    kubernetes_annotations.knative_controller_restart,
  ]

  wait {
    condition {
      type   = "Ready"
      status = "True"
    }
  }
  timeouts {
    create = "10m"
    update = "10m"
  }
}

resource "kubernetes_manifest" "eventing" {
  for_each   = local.eventing
  manifest   = each.value
  depends_on = [kubernetes_manifest.services, kubernetes_manifest.kafka_topics]

  wait {
    condition {
      type   = "Ready"
      status = "True"
    }
  }
  timeouts {
    create = "10m"
    update = "10m"
  }
}
