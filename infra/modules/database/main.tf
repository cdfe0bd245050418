# Cloud SQL for PostgreSQL: private IP only, TLS enforced, IAM database authentication,
# automated backups with point-in-time recovery, deletion protection at both the Terraform
# and the API level, and max_connections sized from a stated budget.

locals {
  # Cloud SQL names a service account's IAM database user after its email without the
  # ".gserviceaccount.com" suffix (PostgreSQL identifiers are limited to 63 bytes).
  runtime_db_users = { for name, email in var.runtime_service_accounts : name => trimsuffix(email, ".gserviceaccount.com") }
  migrator_db_user = trimsuffix(var.migrator_service_account_email, ".gserviceaccount.com")
}

resource "google_sql_database_instance" "this" {
  # checkov:skip=CKV_GCP_79:The major version is pinned deliberately (POSTGRES_16 by default: generally available on both editions; 17 and 18 are allowed by the variable once confirmed, infra/README.md "Confirm at first apply"). Upgrading a major is a planned operation, not a scanner default.
  project             = var.project_id
  name                = var.instance_name
  region              = var.region
  database_version    = var.database_version
  encryption_key_name = var.encryption_key_name
  deletion_protection = true

  settings {
    tier                        = var.tier
    edition                     = var.edition
    availability_type           = var.availability_type
    disk_type                   = "PD_SSD"
    disk_size                   = var.disk_size_gb
    disk_autoresize             = true
    deletion_protection_enabled = true
    connector_enforcement       = var.require_connectors ? "REQUIRED" : "NOT_REQUIRED"
    user_labels                 = var.labels

    ip_configuration {
      ipv4_enabled                                  = false
      private_network                               = var.network_id
      ssl_mode                                      = var.ssl_mode
      enable_private_path_for_google_cloud_services = true
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
      start_time                     = var.backup_start_time
      location                       = var.backup_location
      transaction_log_retention_days = var.transaction_log_retention_days

      backup_retention_settings {
        retained_backups = var.retained_backups
        retention_unit   = "COUNT"
      }
    }

    maintenance_window {
      day          = var.maintenance_day
      hour         = var.maintenance_hour
      update_track = var.maintenance_update_track
    }

    insights_config {
      query_insights_enabled  = true
      query_plans_per_minute  = 5
      query_string_length     = 1024
      record_application_tags = true
      record_client_address   = true
    }

    # IAM database authentication: the functions and the job log in as their service
    # accounts with short-lived tokens; no password exists anywhere.
    database_flags {
      name  = "cloudsql.iam_authentication"
      value = "on"
    }
    database_flags {
      name  = "max_connections"
      value = tostring(var.max_connections)
    }
    # The logging flags CIS and security scanners expect.
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
    database_flags {
      name  = "pgaudit.log"
      value = "role,ddl"
    }
  }

  lifecycle {
    precondition {
      condition     = var.connection_budget <= var.max_connections
      error_message = "The connection budget (${var.connection_budget}) exceeds max_connections (${var.max_connections}): lower max instances or pool sizes, or raise max_connections."
    }
  }
}

resource "google_sql_database" "registry" {
  project  = var.project_id
  instance = google_sql_database_instance.this.name
  name     = var.database_name
}

# One IAM database user per function service account. database_roles is pinned to the
# empty list: the Admin API decides a user's predefined roles when none are given, and a
# runtime login must hold nothing but registry_runtime, which the migration job grants
# (DB_RUNTIME_LOGINS) and checks (it fails when a runtime login holds any other role).
# ABANDON: IAM users of PostgreSQL cannot be deleted through the API once SQL grants
# name them; a destroy leaves them to the instance's own teardown (infra/README.md).
resource "google_sql_user" "runtime" {
  for_each = local.runtime_db_users

  project         = var.project_id
  instance        = google_sql_database_instance.this.name
  name            = each.value
  type            = "CLOUD_IAM_SERVICE_ACCOUNT"
  database_roles  = []
  deletion_policy = "ABANDON"
}

# The migrator is only a member of cloudsqlsuperuser. Membership does not carry
# CREATEROLE, so the migration job creates the registry roles under SET ROLE
# cloudsqlsuperuser and holds registry_owner only while it migrates
# (docs/adr/0007-cloud-sql-role-model.md). It owns alembic_version, so it cannot be
# deleted through the API either: ABANDON.
resource "google_sql_user" "migrator" {
  project         = var.project_id
  instance        = google_sql_database_instance.this.name
  name            = local.migrator_db_user
  type            = "CLOUD_IAM_SERVICE_ACCOUNT"
  database_roles  = ["cloudsqlsuperuser"]
  deletion_policy = "ABANDON"
}
