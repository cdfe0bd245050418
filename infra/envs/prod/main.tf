# Production: regional (HA) instance, HSM-backed signing key, a year of locked
# retention on published tiles.

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

module "registry" {
  source = "../../modules/registry"

  project_id  = var.project_id
  region      = var.region
  name_prefix = "registry-prod"
  labels      = { env = "prod" }

  database_tier              = "db-custom-4-16384"
  database_availability_type = "REGIONAL"
  database_disk_size_gb      = 50
  retained_backups           = 30

  # Budget: 2 revisions (a rollout runs old and new side by side) x (8 + 12 + 4 + 8)
  # instances x (6 + 2) connections = 512, + 2 migration + 10 headroom = 524 <= 600.
  # concurrency 8 = pool 6 + overflow 2: no request waits for a connection.
  max_connections = 600
  function_scaling = {
    create    = { min_instances = 1, max_instances = 8, concurrency = 8, pool_size = 6, max_overflow = 2 }
    query     = { min_instances = 1, max_instances = 12, concurrency = 8, pool_size = 6, max_overflow = 2 }
    supersede = { min_instances = 0, max_instances = 4, concurrency = 8, pool_size = 6, max_overflow = 2 }
    verify    = { min_instances = 1, max_instances = 8, concurrency = 8, pool_size = 6, max_overflow = 2 }
  }

  signing_key_protection_level = "HSM"
  signing_key_version          = var.signing_key_version
  trusted_public_keys_pem      = var.trusted_public_keys_file == null ? null : file(var.trusted_public_keys_file)
  # Immutable tiles and entry bundles are locked for a year (Object Retention Lock).
  checkpoint_retention_days = 365
  checkpoint_retention_mode = "Locked"
  log_origin                = var.log_origin
  witnesses                 = var.witnesses

  jwt_issuer      = var.jwt_issuer
  jwt_audience    = var.jwt_audience
  jwt_jwks_url    = var.jwt_jwks_url
  invoker_members = var.invoker_members
  log_level       = "INFO"

  bundle_dir      = "${path.root}/../../../build/bundle"
  bundle_zip_path = "${path.root}/../../../build/bundle-prod.zip"
  migration_image = var.migration_image
}
