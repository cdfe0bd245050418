# One service account per function, one for the migration job and one for Cloud Build.
# Each function's account can connect and log in to this registry's Cloud SQL instance
# only (IAM conditions); everything else it may do is granted on the one resource it needs
# (the KMS key, the checkpoint bucket), next to that resource.

locals {
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

# Cloud Build writes build logs; it needs nothing else at project level.
resource "google_project_iam_member" "builder_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.builder.email}"
}
