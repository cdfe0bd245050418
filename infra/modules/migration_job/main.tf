# The migration job: `python -m tools.migrate` (the image's entry point: alembic upgrade
# head inside the role protocol of docs/adr/0007-cloud-sql-role-model.md) as the migrator
# IAM database user, reaching the private IP through the VPC connector. The container's
# command is never overridden here. One task, no retries:
# a failed migration is investigated, not repeated blindly. Run it with
# `gcloud run jobs execute NAME --region REGION --wait` (infra/README.md).

locals {
  # Every key is read by shared/settings.py (tests/infra checks it).
  job_env = {
    INSTANCE_CONNECTION_NAME = var.instance_connection_name
    DB_USER                  = var.db_user
    DB_NAME                  = var.database_name
    DB_IAM_AUTH              = "true"
    DB_IP_TYPE               = "private"
    DB_RUNTIME_LOGINS        = join(",", var.runtime_logins)
    LOG_LEVEL                = var.log_level
  }
}

resource "google_cloud_run_v2_job" "migrate" {
  project             = var.project_id
  location            = var.region
  name                = "${var.name_prefix}-migrate"
  labels              = var.labels
  deletion_protection = false

  template {
    task_count  = 1
    parallelism = 1

    template {
      service_account = var.service_account_email
      max_retries     = 0
      timeout         = "${var.timeout_seconds}s"

      vpc_access {
        connector = var.vpc_connector_id
        egress    = "PRIVATE_RANGES_ONLY"
      }

      containers {
        image = var.image

        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }

        dynamic "env" {
          for_each = local.job_env
          content {
            name  = env.key
            value = env.value
          }
        }
      }
    }
  }
}
