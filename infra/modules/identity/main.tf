# One service account per function, one for the migration job, one for Cloud Build and
# one for Cloud Scheduler.
# Each function's account can connect and log in to this registry's Cloud SQL instance
# only (IAM conditions); everything else it may do is granted on the one resource it needs
# (the KMS key, the checkpoint bucket), next to that resource.

locals {
  staging_sources_bucket    = "gcf-v2-sources-${var.project_number}-${var.region}"
  staging_sources_condition = "resource.name == \"projects/_/buckets/${local.staging_sources_bucket}\" || resource.name.startsWith(\"projects/_/buckets/${local.staging_sources_bucket}/\")"

  sql_condition = "resource.name == \"projects/${var.project_id}/instances/${var.sql_instance_name}\" && resource.service == \"sqladmin.googleapis.com\""

  database_accounts = merge(
    { for name in var.function_names : name => "serviceAccount:${google_service_account.function[name].email}" },
    { migrator = "serviceAccount:${google_service_account.migrator.email}" },
  )

  database_roles = ["roles/cloudsql.client", "roles/cloudsql.instanceUser"]

  database_bindings = {
    for pair in setproduct(keys(local.database_accounts), local.database_roles) :
    "${pair[0]}|${pair[1]}" => { member = local.database_accounts[pair[0]], role = pair[1] }
  }
}

resource "google_service_account" "function" {
  for_each = var.function_names

  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.key}"
  display_name = "Plant Registry ${each.key} function"
  description  = "Runtime identity of the ${each.key} Cloud Function."
}

resource "google_service_account" "migrator" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-migrator"
  display_name = "Plant Registry migration job"
  description  = "Runs alembic upgrade head; owns the schema through registry_owner."
}

# Cloud Scheduler's identity: its ID token reaches the verify function's maintenance
# endpoints. It gets roles/run.invoker on verify (modules/functions) and nothing else.
resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "Plant Registry scheduled maintenance"
  description  = "Calls verify's POST /maintenance/checkpoint-sweep and /maintenance/expire-idempotency from Cloud Scheduler."
}

resource "google_service_account" "builder" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-builder"
  display_name = "Plant Registry function builds"
  description  = "Cloud Build identity that turns the source bundle into function images."
}

resource "google_project_iam_member" "database" {
  for_each = local.database_bindings

  project = var.project_id
  role    = each.value.role
  member  = each.value.member

  condition {
    title       = "registry-sql-instance-only"
    description = "Only this registry's Cloud SQL instance."
    expression  = local.sql_condition
  }
}

# Cloud Build writes build logs.
resource "google_project_iam_member" "builder_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.builder.email}"
}

# Cloud Functions (2nd gen) copies the source into its own staging bucket,
# gcf-v2-sources-PROJECT_NUMBER-REGION, and the build reads it from there, so the
# builder needs read access to that bucket too, not only to ours. Google creates the
# bucket on the first deployment, so the grant is a project binding conditioned on that
# one bucket's name (a bucket-level binding could not be planned before it exists).
resource "google_project_iam_member" "builder_staging_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.builder.email}"

  condition {
    title       = "gcf-staging-sources-only"
    description = "Only the Cloud Functions staging bucket of this project and region."
    expression  = local.staging_sources_condition
  }
}
