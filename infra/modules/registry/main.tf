# The whole registry for one environment: network, database, identities, signing key,
# buckets, the four functions and the migration job.

locals {
  # What each function is allowed to do is decided here, not by the operator: only the
  # functions that sign records or checkpoints get the signer role and may publish
  # checkpoints; all of them may read the public key.
  functions = {
    create    = { entry_point = "create", signs = true, scheduled = false }
    query     = { entry_point = "query", signs = false, scheduled = false }
    supersede = { entry_point = "supersede", signs = true, scheduled = false }
    verify    = { entry_point = "verify", signs = true, scheduled = true }
  }

  # A 2nd gen function's cloudfunctions.net URL is fixed by region, project and name, so
  # it can be the scheduler's target and ID token audience, and be given to verify
  # itself (SCHEDULER_AUDIENCE), without a dependency cycle; terraform_data.verify_url
  # checks it against the deployed function's url.
  verify_url = "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.name_prefix}-verify"

  signing_functions = toset([for name, f in local.functions : name if f.signs])

  # The connection budget. Each function instance may hold its pool plus overflow; during
  # a rollout the old and the new revision both run (each up to max_instances), so every
  # function counts twice; one migration may run; headroom stays free for operators and
  # Cloud SQL itself. The plan fails (terraform_data.connection_budget) when it does not
  # fit under max_connections.
  rollout_revisions        = 2
  per_revision_connections = sum([for name, s in var.function_scaling : s.max_instances * (s.pool_size + s.max_overflow)])
  function_connections     = local.rollout_revisions * local.per_revision_connections
  connection_budget        = local.function_connections + var.migration_connections + var.connection_headroom

  sql_instance_name = coalesce(var.database_instance_name, "${var.name_prefix}-pg")
  bucket_prefix     = "${var.project_id}-${var.name_prefix}"

  labels = merge(var.labels, { app = "plant-registry", managed-by = "terraform" })

  services = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    # Terraform itself calls these two: project IAM and the project number go through
    # Resource Manager, enabling the others goes through Service Usage.
    "cloudresourcemanager.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudkms.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "serviceusage.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
    "vpcaccess.googleapis.com",
  ])
}

# A `check` block only warns; these preconditions fail the plan.
resource "terraform_data" "connection_budget" {
  input = {
    budget          = local.connection_budget
    max_connections = var.max_connections
  }

  lifecycle {
    precondition {
      condition     = local.connection_budget <= var.max_connections
      error_message = "Connection budget ${local.connection_budget} (${local.rollout_revisions} revisions x ${local.per_revision_connections} function connections + migration ${var.migration_connections} + headroom ${var.connection_headroom}) exceeds max_connections ${var.max_connections}: lower max instances or pool sizes, or raise max_connections."
    }
    precondition {
      condition     = alltrue([for name, s in var.function_scaling : s.concurrency <= s.pool_size + s.max_overflow])
      error_message = "Every function's concurrency must be at most pool_size + max_overflow, or requests queue for a connection and then answer 503."
    }
  }
}

resource "google_project_service" "this" {
  for_each = local.services

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

module "network" {
  source = "../network"

  project_id  = var.project_id
  region      = var.region
  name_prefix = var.name_prefix

  depends_on = [google_project_service.this]
}

data "google_project" "this" {
  project_id = var.project_id

  depends_on = [google_project_service.this]
}

module "identity" {
  source = "../identity"

  project_id        = var.project_id
  project_number    = data.google_project.this.number
  region            = var.region
  name_prefix       = var.name_prefix
  function_names    = toset(keys(local.functions))
  sql_instance_name = local.sql_instance_name

  depends_on = [google_project_service.this]
}

# Service agents that encrypt data at rest with the CMEK data key. google-beta is the
# provider that can create a service agent before its first use.
resource "google_project_service_identity" "sqladmin" {
  provider = google-beta

  project = var.project_id
  service = "sqladmin.googleapis.com"

  depends_on = [google_project_service.this]
}

resource "google_project_service_identity" "artifactregistry" {
  provider = google-beta

  project = var.project_id
  service = "artifactregistry.googleapis.com"

  depends_on = [google_project_service.this]
}

data "google_storage_project_service_account" "gcs" {
  project = var.project_id

  depends_on = [google_project_service.this]
}

module "database" {
  source = "../database"

  project_id                     = var.project_id
  region                         = var.region
  instance_name                  = local.sql_instance_name
  network_id                     = module.network.private_services_network
  encryption_key_name            = module.kms.data_key_id
  database_version               = var.database_version
  edition                        = var.database_edition
  tier                           = var.database_tier
  availability_type              = var.database_availability_type
  disk_size_gb                   = var.database_disk_size_gb
  ssl_mode                       = var.database_ssl_mode
  retained_backups               = var.retained_backups
  transaction_log_retention_days = var.transaction_log_retention_days
  max_connections                = var.max_connections
  connection_budget              = local.connection_budget
  runtime_service_accounts       = module.identity.function_emails
  migrator_service_account_email = module.identity.migrator_email
  labels                         = local.labels

  # The Cloud SQL service agent must hold the data key before the instance is created.
  depends_on = [module.kms]
}

module "kms" {
  source = "../kms"

  project_id       = var.project_id
  location         = var.region
  name_prefix      = var.name_prefix
  algorithm        = var.signing_key_algorithm
  protection_level = var.signing_key_protection_level
  key_version      = var.signing_key_version
  labels           = local.labels

  checkpoint_key_version      = var.checkpoint_key_version
  checkpoint_protection_level = var.checkpoint_key_protection_level

  signer_members            = { for name in local.signing_functions : name => module.identity.function_members[name] }
  public_key_viewer_members = module.identity.function_members

  encrypter_decrypter_members = {
    cloudsql         = "serviceAccount:${google_project_service_identity.sqladmin.email}"
    artifactregistry = "serviceAccount:${google_project_service_identity.artifactregistry.email}"
    storage          = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
  }

  depends_on = [google_project_service.this]
}

# Usage logs of the other two buckets. It does not log itself.
module "access_log_bucket" {
  source = "../bucket"

  kms_key_name = module.kms.data_key_id

  project_id               = var.project_id
  name                     = "${local.bucket_prefix}-access-logs"
  location                 = var.region
  noncurrent_versions_kept = 1
  labels                   = local.labels
  object_creator_members = {
    storage-analytics = "group:cloud-storage-analytics@google.com"
  }

  depends_on = [module.kms]
}

module "source_bucket" {
  source = "../bucket"

  kms_key_name = module.kms.data_key_id

  project_id               = var.project_id
  name                     = "${local.bucket_prefix}-fn-source"
  location                 = var.region
  noncurrent_versions_kept = 5
  access_log_bucket        = module.access_log_bucket.name
  labels                   = local.labels
  object_viewer_members = {
    builder = module.identity.builder_member
  }

  depends_on = [module.kms]
}

# Signed checkpoints published outside the database, as a static tlog-tiles log:
# `checkpoint` (replaced by every new checkpoint; its history stays as noncurrent
# versions) plus full tiles and entry bundles that never change. No bucket-wide
# retention policy (it would freeze `checkpoint` and GCS refuses it with versioning):
# Object Retention Lock is enabled, and the publisher sets a retain-until time on each
# immutable object it uploads (CHECKPOINT_RETENTION_DAYS, CHECKPOINT_RETENTION_MODE),
# which even the publisher's own delete permission cannot override.
resource "google_project_iam_custom_role" "checkpoint_publisher" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_checkpoint_publisher"
  title       = "Plant Registry checkpoint publisher"
  description = "Publish the tlog-tiles layout: create and read objects, replace the checkpoint object, set retention on immutable objects. Cannot override or shorten retention."
  permissions = [
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.get",
    "storage.objects.list",
    "storage.objects.setRetention",
  ]

  depends_on = [google_project_service.this]
}

module "checkpoint_bucket" {
  source = "../bucket"

  kms_key_name = module.kms.data_key_id

  project_id            = var.project_id
  name                  = "${local.bucket_prefix}-checkpoints"
  location              = var.region
  object_retention      = true
  object_publisher_role = google_project_iam_custom_role.checkpoint_publisher.name
  access_log_bucket     = module.access_log_bucket.name
  labels                = local.labels
  object_publisher_members = {
    for name in local.signing_functions : name => module.identity.function_members[name]
  }

  depends_on = [module.kms]
}

resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.region
  repository_id = var.name_prefix
  format        = "DOCKER"
  description   = "Function images built by Cloud Build and the migration image."
  kms_key_name  = module.kms.data_key_id
  labels        = local.labels

  depends_on = [module.kms]
}

resource "google_artifact_registry_repository_iam_member" "builder" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = module.identity.builder_member
}

# Public keys of rotated-out signing key versions (infra/README.md, key rotation). Secret
# Manager is only the delivery mechanism: the content is public.
resource "google_secret_manager_secret" "trusted_keys" {
  count = var.trusted_public_keys_pem == null ? 0 : 1

  project   = var.project_id
  secret_id = "${var.name_prefix}-trusted-keys"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

resource "google_secret_manager_secret_version" "trusted_keys" {
  count = var.trusted_public_keys_pem == null ? 0 : 1

  secret      = google_secret_manager_secret.trusted_keys[0].id
  secret_data = var.trusted_public_keys_pem
}

resource "google_secret_manager_secret_iam_member" "trusted_keys" {
  for_each = var.trusted_public_keys_pem == null ? {} : module.identity.function_members

  project   = var.project_id
  secret_id = google_secret_manager_secret.trusted_keys[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

module "functions" {
  source = "../functions"

  project_id                 = var.project_id
  region                     = var.region
  name_prefix                = var.name_prefix
  bundle_dir                 = var.bundle_dir
  bundle_zip_path            = var.bundle_zip_path
  source_bucket              = module.source_bucket.name
  available_memory           = var.function_memory
  ingress_settings           = var.ingress_settings
  invoker_members            = var.invoker_members
  vpc_connector_id           = module.network.connector_id
  build_service_account_id   = module.identity.builder_id
  docker_repository          = google_artifact_registry_repository.images.id
  instance_connection_name   = module.database.instance_connection_name
  database_name              = module.database.database_name
  kms_key_version            = module.kms.key_version_name
  checkpoint_kms_key_version = module.kms.checkpoint_key_version_name
  log_origin                 = var.log_origin
  checkpoint_max_age         = var.checkpoint_max_age
  checkpoint_retention = {
    days = var.checkpoint_retention_days
    mode = var.checkpoint_retention_mode
  }
  witnesses                 = var.witnesses
  db_timeouts               = var.db_timeouts
  scheduler_service_account = module.identity.scheduler_email
  scheduler_audience        = local.verify_url
  jwt_issuer                = var.jwt_issuer
  jwt_audience              = var.jwt_audience
  jwt_jwks_url              = var.jwt_jwks_url
  checkpoint_bucket         = module.checkpoint_bucket.name
  log_level                 = var.log_level
  labels                    = local.labels

  trusted_keys_secret = var.trusted_public_keys_pem == null ? null : {
    project_id = var.project_id
    secret     = google_secret_manager_secret.trusted_keys[0].secret_id
    version    = google_secret_manager_secret_version.trusted_keys[0].version
  }

  functions = {
    for name, f in local.functions : name => {
      entry_point           = f.entry_point
      service_account_email = module.identity.function_emails[name]
      db_user               = module.database.runtime_db_users[name]
      min_instances         = var.function_scaling[name].min_instances
      max_instances         = var.function_scaling[name].max_instances
      concurrency           = var.function_scaling[name].concurrency
      pool_size             = var.function_scaling[name].pool_size
      max_overflow          = var.function_scaling[name].max_overflow
      publishes_checkpoints = f.signs
      scheduled             = f.scheduled
    }
  }

  depends_on = [
    google_artifact_registry_repository_iam_member.builder,
    google_secret_manager_secret_iam_member.trusted_keys,
  ]
}

module "migration_job" {
  source = "../migration_job"
  count  = var.migration_image == null ? 0 : 1

  project_id               = var.project_id
  region                   = var.region
  name_prefix              = var.name_prefix
  image                    = var.migration_image
  service_account_email    = module.identity.migrator_email
  db_user                  = module.database.migrator_db_user
  runtime_logins           = values(module.database.runtime_db_users)
  instance_connection_name = module.database.instance_connection_name
  database_name            = module.database.database_name
  vpc_connector_id         = module.network.connector_id
  log_level                = var.log_level
  labels                   = local.labels
}

# Scheduled maintenance (issue 8: checkpoints when nobody writes; issue 9: idempotency
# expiry), calling verify with the scheduler account's ID token.
module "scheduler" {
  source = "../scheduler"

  project_id            = var.project_id
  region                = var.region
  name_prefix           = var.name_prefix
  verify_url            = local.verify_url
  service_account_email = module.identity.scheduler_email

  depends_on = [module.functions]
}

# Fails the apply if the deployed verify URL is not the one the scheduler calls and the
# function checks as audience (known only once the function exists).
resource "terraform_data" "verify_url" {
  input = module.functions.urls["verify"]

  lifecycle {
    postcondition {
      condition     = self.output == local.verify_url
      error_message = "The verify function's URL (${self.output}) differs from the scheduler's target and audience (${local.verify_url})."
    }
  }
}
