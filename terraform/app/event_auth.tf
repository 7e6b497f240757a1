# With var.event_auth, Knative Eventing's sources present OIDC tokens (service-account tokens of
# the cluster's issuer, for their spec.sink.audience) and the event functions verify them
# (orders-event-auth, see manifests.tf). The flag is alpha and cluster-wide: it also has every
# other source and broker in the cluster send and expect tokens.
resource "kubernetes_config_map_v1_data" "eventing_oidc" {
  count = var.event_auth ? 1 : 0
  metadata {
    name      = "config-features"
    namespace = "knative-eventing"
  }
  data  = { "authentication-oidc" = "enabled" }
  force = true
}
