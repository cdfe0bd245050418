output "function_emails" {
  description = "Runtime service account email of each function."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "function_members" {
  description = "IAM member string (serviceAccount:...) of each function's account."
  value       = { for name, sa in google_service_account.function : name => "serviceAccount:${sa.email}" }
}

output "migrator_email" {
  description = "Service account email of the migration job."
  value       = google_service_account.migrator.email
}

output "builder_id" {
  description = "Resource id of the Cloud Build service account (projects/P/serviceAccounts/E)."
  value       = google_service_account.builder.id
}

output "builder_member" {
  description = "IAM member string of the Cloud Build service account."
  value       = "serviceAccount:${google_service_account.builder.email}"
}

output "scheduler_email" {
  description = "Service account email of the Cloud Scheduler jobs (SCHEDULER_SERVICE_ACCOUNT)."
  value       = google_service_account.scheduler.email
}
