output "name" {
  description = "Name of the Cloud Run job."
  value       = google_cloud_run_v2_job.migrate.name
}

output "execute_command" {
  description = "Command that runs the migration and waits for it."
  value       = "gcloud run jobs execute ${google_cloud_run_v2_job.migrate.name} --project ${var.project_id} --region ${var.region} --wait"
}
