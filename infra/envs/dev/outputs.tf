output "function_urls" {
  description = "HTTPS URL of each function."
  value       = module.registry.function_urls
}

output "instance_connection_name" {
  description = "Cloud SQL instance connection name."
  value       = module.registry.instance_connection_name
}

output "kms_key_version" {
  description = "KMS key version the functions sign with."
  value       = module.registry.kms_key_version
}

output "kms_crypto_key" {
  description = "The signing key."
  value       = module.registry.kms_crypto_key
}

output "checkpoint_bucket" {
  description = "Bucket signed checkpoints are published to."
  value       = module.registry.checkpoint_bucket
}

output "source_bucket" {
  description = "Bucket holding the function source bundles."
  value       = module.registry.source_bucket
}

output "access_log_bucket" {
  description = "Bucket receiving usage logs."
  value       = module.registry.access_log_bucket
}

output "artifact_repository" {
  description = "Docker repository for the migration image."
  value       = module.registry.artifact_repository
}

output "migration_job" {
  description = "Migration job name (null until migration_image is set)."
  value       = module.registry.migration_job
}

output "migration_execute_command" {
  description = "Runs the migration and waits for it."
  value       = module.registry.migration_execute_command
}

output "service_accounts" {
  description = "Service account emails."
  value       = module.registry.service_accounts
}

output "database_users" {
  description = "IAM database users."
  value       = module.registry.database_users
}

output "connection_budget" {
  description = "Connection budget and max_connections."
  value       = module.registry.connection_budget
}

output "checkpoint_kms_key_version" {
  description = "Full name of the KMS key version that signs checkpoint notes."
  value       = module.registry.checkpoint_kms_key_version
}

output "scheduler_jobs" {
  description = "Cloud Scheduler jobs (run one now: gcloud scheduler jobs run NAME --location REGION)."
  value       = module.registry.scheduler_jobs
}
