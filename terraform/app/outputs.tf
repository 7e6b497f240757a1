output "url" {
  description = "The public URL of the orders API."
  value       = "${var.tls ? "https" : "http"}://orders-http.${var.namespace}.${var.domain}"
}

output "migration_job" {
  description = "The Job that migrated the database before the functions started."
  value       = kubernetes_job_v1.migrate.metadata[0].name
}
