output "function_urls" {
  description = "HTTPS URL of each function."
  value       = module.functions.urls
}

output "instance_connection_name" {
  description = "Cloud SQL instance connection name (project:region:instance)."
  value       = module.database.instance_connection_name
}

output "database_name" {
  description = "Application database name."
  value       = module.database.database_name
}

output "kms_key_version" {
  description = "Full name of the KMS key version the functions sign with."
  value       = module.kms.key_version_name
}

output "kms_crypto_key" {
  description = "The signing key (new versions are created under it when rotating)."
  value       = module.kms.crypto_key_id
}

output "checkpoint_bucket" {
  description = "Bucket signed checkpoints are published to."
  value       = module.checkpoint_bucket.name
}

output "source_bucket" {
  description = "Bucket holding the function source bundles."
  value       = module.source_bucket.name
}

output "access_log_bucket" {
  description = "Bucket receiving the other buckets' usage logs."
  value       = module.access_log_bucket.name
}

output "artifact_repository" {
  description = "Docker repository for the migration image: REGION-docker.pkg.dev/PROJECT/REPO."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "migration_job" {
  description = "Name of the migration job (null until migration_image is set)."
  value       = one(module.migration_job[*].name)
}

output "migration_execute_command" {
  description = "Command that runs the migration and waits for it (null until migration_image is set)."
  value       = one(module.migration_job[*].execute_command)
}

output "service_accounts" {
  description = "Service account emails: one per function and the migrator."
  value = merge(module.identity.function_emails, {
    migrator = module.identity.migrator_email
  })
}

output "database_users" {
  description = "IAM database users: one per function and the migrator."
  value = merge(module.database.runtime_db_users, {
    migrator = module.database.migrator_db_user
  })
}

output "connection_budget" {
  description = "Connections the deployment may open at most, and the max_connections flag that covers them."
  value = {
    functions       = local.function_connections
    migration       = var.migration_connections
    headroom        = var.connection_headroom
    total           = local.connection_budget
    max_connections = var.max_connections
  }
}

output "checkpoint_kms_key_version" {
  description = "Full name of the EC_SIGN_ED25519 key version that signs checkpoint notes (CHECKPOINT_KMS_KEY_VERSION)."
  value       = module.kms.checkpoint_key_version_name
}

output "scheduler_service_account" {
  description = "Service account of the Cloud Scheduler jobs (SCHEDULER_SERVICE_ACCOUNT)."
  value       = module.identity.scheduler_email
}

output "scheduler_jobs" {
  description = "Cloud Scheduler jobs, keyed by purpose."
  value       = module.scheduler.job_names
}
