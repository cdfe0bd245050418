# The four HTTP functions (2nd gen), built by Cloud Build from one zipped source bundle.
# Every environment variable set here is one that shared/settings.py reads
# (tests/infra checks the keys of base_env, checkpoint_env and scheduler_env against it).

locals {
  base_env = {
    INSTANCE_CONNECTION_NAME = var.instance_connection_name
    DB_NAME                  = var.database_name
    DB_IAM_AUTH              = "true"
    DB_IP_TYPE               = "private"
    KMS_KEY_VERSION          = var.kms_key_version
    JWT_ISSUER               = var.jwt_issuer
    JWT_AUDIENCE             = var.jwt_audience
    JWT_JWKS_URL             = var.jwt_jwks_url
    LOG_LEVEL                = var.log_level
    # Links each request log line to its Cloud Trace (gen2 runtimes do not set it).
    GOOGLE_CLOUD_PROJECT = var.project_id
    # C2SP checkpoints: the Ed25519 note key, and the log origin prefix
    # (<LOG_ORIGIN>/<tenant_id>). Every function serves or checks checkpoints.
    CHECKPOINT_KMS_KEY_VERSION = var.checkpoint_kms_key_version
    LOG_ORIGIN                 = var.log_origin
    # Every database wait is bounded (lock, statement, idle transaction, connect).
    DB_LOCK_TIMEOUT_MS       = tostring(var.db_timeouts.lock_timeout_ms)
    DB_STATEMENT_TIMEOUT_MS  = tostring(var.db_timeouts.statement_timeout_ms)
    DB_IDLE_IN_TX_TIMEOUT_MS = tostring(var.db_timeouts.idle_in_transaction_timeout_ms)
    DB_CONNECT_TIMEOUT_S     = tostring(var.db_timeouts.connect_timeout_s)
  }

  # Only the functions that sign and publish checkpoints.
  checkpoint_env = {
    CHECKPOINT_BUCKET         = var.checkpoint_bucket
    CHECKPOINT_MAX_AGE        = tostring(var.checkpoint_max_age)
    CHECKPOINT_RETENTION_DAYS = tostring(var.checkpoint_retention.days)
    CHECKPOINT_RETENTION_MODE = var.checkpoint_retention.mode
    WITNESSES                 = jsonencode(var.witnesses)
  }

  # Only the function whose admin endpoints Cloud Scheduler calls (verify): the caller
  # it must accept with a Google-signed ID token instead of a registry JWT.
  scheduler_env = {
    SCHEDULER_SERVICE_ACCOUNT = var.scheduler_service_account
    SCHEDULER_AUDIENCE        = var.scheduler_audience
  }

  # Public keys of rotated-out signing key versions, so records they signed still verify.
  trusted_keys_dir = "/etc/registry/trusted-keys"
  trusted_keys_env = {
    TRUSTED_PUBLIC_KEYS_FILE = "${local.trusted_keys_dir}/keys.pem"
  }

  # Per-function values (DB_USER, DB_POOL_SIZE, DB_MAX_OVERFLOW) are set inline below.
  invoker_bindings = {
    for pair in setproduct(keys(var.functions), var.invoker_members) :
    "${pair[0]}|${pair[1]}" => { function = pair[0], member = pair[1] }
  }
}

data "archive_file" "bundle" {
  type        = "zip"
  source_dir  = var.bundle_dir
  output_path = var.bundle_zip_path
  excludes    = ["**/__pycache__/**", "**/*.pyc"]
}

# The object name carries the content hash, so a changed bundle redeploys the functions
# and an unchanged one does not.
resource "google_storage_bucket_object" "bundle" {
  name   = "bundles/registry-${data.archive_file.bundle.output_sha256}.zip"
  bucket = var.source_bucket
  source = data.archive_file.bundle.output_path
}

resource "google_cloudfunctions2_function" "this" {
  # checkov:skip=CKV_GCP_124:Ingress is the ingress_settings variable (default ALLOW_ALL so client services outside the VPC can call the API); every call still needs roles/run.invoker (no allUsers, enforced by validation) and a registry JWT. Set ALLOW_INTERNAL_AND_GCLB when a load balancer fronts the functions.
  for_each = var.functions

  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-${each.key}"
  description = "Plant Registry ${each.key}"
  labels      = var.labels

  build_config {
    runtime           = "python312"
    entry_point       = each.value.entry_point
    service_account   = var.build_service_account_id
    docker_repository = var.docker_repository

    source {
      storage_source {
        bucket = var.source_bucket
        object = google_storage_bucket_object.bundle.name
      }
    }
  }

  service_config {
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    available_memory                 = var.available_memory
    available_cpu                    = var.available_cpu
    timeout_seconds                  = var.timeout_seconds
    ingress_settings                 = var.ingress_settings
    all_traffic_on_latest_revision   = true
    service_account_email            = each.value.service_account_email
    vpc_connector                    = var.vpc_connector_id
    vpc_connector_egress_settings    = "PRIVATE_RANGES_ONLY"

    environment_variables = merge(
      local.base_env,
      each.value.publishes_checkpoints ? local.checkpoint_env : {},
      each.value.scheduled ? local.scheduler_env : {},
      var.trusted_keys_secret == null ? {} : local.trusted_keys_env,
      {
        DB_USER         = each.value.db_user
        DB_POOL_SIZE    = tostring(each.value.pool_size)
        DB_MAX_OVERFLOW = tostring(each.value.max_overflow)
      },
    )

    dynamic "secret_volumes" {
      for_each = var.trusted_keys_secret == null ? [] : [var.trusted_keys_secret]
      content {
        mount_path = local.trusted_keys_dir
        project_id = secret_volumes.value.project_id
        secret     = secret_volumes.value.secret

        versions {
          version = secret_volumes.value.version
          path    = "keys.pem"
        }
      }
    }
  }
}

# A 2nd gen function is served by a Cloud Run service of the same name; invoking it needs
# roles/run.invoker on that service.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local.invoker_bindings

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this[each.value.function].name
  role     = "roles/run.invoker"
  member   = each.value.member
}

# Cloud Scheduler may invoke only the scheduled function (verify), nothing else.
resource "google_cloud_run_v2_service_iam_member" "scheduler" {
  for_each = { for name, f in var.functions : name => f if f.scheduled }

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${var.scheduler_service_account}"
}
