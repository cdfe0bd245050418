output "job_names" {
  description = "Name of each scheduler job, keyed by purpose."
  value       = { for key, job in google_cloud_scheduler_job.this : key => job.name }
}
