# The whole registry for one environment: network, database, identities, signing key,
# buckets, the four functions and the migration job.

locals {
  # What each function is allowed to do is decided here, not by the operator: only the
  # functions that sign records or checkpoints get the signer role and may publish
  # checkpoints; all of them may read the public key.
  functions = {
    create    = { entry_point = "create", signs = true }
    query     = { entry_point = "query", signs = false }
    supersede = { entry_point = "supersede", signs = true }
    verify    = { entry_point = "verify", signs = true }
  }

  signing_functions = toset([for name, f in local.functions : name if f.signs])

  # The connection budget: every function instance may hold its pool plus overflow, one
  # migration may run, and headroom stays free for operators and Cloud SQL itself.
  function_connections = sum([for name, s in var.function_scaling : s.max_instances * (s.pool_size + s.max_overflow)])
  connection_budget    = local.function_connections + var.migration_connections + var.connection_headroom

  sql_instance_name = coalesce(var.database_instance_name, "${var.name_prefix}-pg")
  bucket_prefix     = "${var.project_id}-${var.name_prefix}"

  labels = merge(var.labels, { app = "plant-registry", managed-by = "terraform" })

  services = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudkms.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
    "vpcaccess.googleapis.com",
  ])
}

check "connection_budget" {
  assert {
    condition     = local.connection_budget <= var.max_connections
    error_message = "Connection budget ${local.connection_budget} (functions ${local.function_connections} + migration ${var.migration_connections} + headroom ${var.connection_headroom}) exceeds max_connections ${var.max_connections}."
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

module "identity" {
  source = "../identity"

  project_id        = var.project_id
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

# Signed checkpoints published outside the database: write-once for the retention period,
# writable (create and read, never delete) by the signing functions only.
module "checkpoint_bucket" {
  source = "../bucket"

  kms_key_name = module.kms.data_key_id

  project_id        = var.project_id
  name              = "${local.bucket_prefix}-checkpoints"
  location          = var.region
  retention_days    = var.checkpoint_retention_days
  retention_locked  = var.checkpoint_retention_locked
  access_log_bucket = module.access_log_bucket.name
  labels            = local.labels
  object_creator_members = {
    for name in local.signing_functions : name => module.identity.function_members[name]
  }
  # The publisher writes with ifGenerationMatch=0 and, when the object already exists,
  # reads it back to confirm the bytes are identical (a retried publication).
  object_viewer_members = {
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

  project_id               = var.project_id
  region                   = var.region
  name_prefix              = var.name_prefix
  bundle_dir               = var.bundle_dir
  bundle_zip_path          = var.bundle_zip_path
  source_bucket            = module.source_bucket.name
  available_memory         = var.function_memory
  ingress_settings         = var.ingress_settings
  invoker_members          = var.invoker_members
  vpc_connector_id         = module.network.connector_id
  build_service_account_id = module.identity.builder_id
  docker_repository        = google_artifact_registry_repository.images.id
  instance_connection_name = module.database.instance_connection_name
  database_name            = module.database.database_name
  kms_key_version          = module.kms.key_version_name
  jwt_issuer               = var.jwt_issuer
  jwt_audience             = var.jwt_audience
  jwt_jwks_url             = var.jwt_jwks_url
  checkpoint_bucket        = module.checkpoint_bucket.name
  log_level                = var.log_level
  labels                   = local.labels

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
