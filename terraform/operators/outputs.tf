output "operators" {
  description = "What stage 2 (terraform/app) can now plan against."
  value = {
    strimzi        = helm_release.strimzi.version
    cloudnative_pg = helm_release.cloudnative_pg.version
    cert_manager   = helm_release.cert_manager.version
  }
}
