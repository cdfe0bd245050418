# Development: one zone, a small instance, small function limits.

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
  name_prefix = "registry-dev"
  labels      = { env = "dev" }

  database_tier              = "db-custom-1-3840"
  database_availability_type = "ZONAL"
  retained_backups           = 7

  # Budget: 2 revisions (a rollout runs old and new side by side) x (2 + 2 + 1 + 2)
  # instances x (4 + 2) connections = 84, + 2 migration + 10 headroom = 96 <= 100.
  # concurrency 6 = pool 4 + overflow 2: no request waits for a connection.
  max_connections = 100
  function_scaling = {
    create    = { min_instances = 0, max_instances = 2, concurrency = 6, pool_size = 4, max_overflow = 2 }
    query     = { min_instances = 0, max_instances = 2, concurrency = 6, pool_size = 4, max_overflow = 2 }
    supersede = { min_instances = 0, max_instances = 1, concurrency = 6, pool_size = 4, max_overflow = 2 }
    verify    = { min_instances = 0, max_instances = 2, concurrency = 6, pool_size = 4, max_overflow = 2 }
  }

  signing_key_protection_level = "SOFTWARE"
  signing_key_version          = var.signing_key_version
  trusted_public_keys_pem      = var.trusted_public_keys_file == null ? null : file(var.trusted_public_keys_file)
  # Dev objects are retained for a week and can be released early by an operator with
  # storage.objects.overrideUnlockedRetention.
  checkpoint_retention_days = 7
  checkpoint_retention_mode = "Unlocked"
  log_origin                = var.log_origin
  witnesses                 = var.witnesses

  jwt_issuer      = var.jwt_issuer
  jwt_audience    = var.jwt_audience
  jwt_jwks_url    = var.jwt_jwks_url
  invoker_members = var.invoker_members
  log_level       = "DEBUG"

  bundle_dir      = "${path.root}/../../../build/bundle"
  bundle_zip_path = "${path.root}/../../../build/bundle-dev.zip"
  migration_image = var.migration_image
}
