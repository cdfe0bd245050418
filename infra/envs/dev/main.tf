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

  # Budget: (3 + 4 + 2 + 3) instances x (4 + 2) connections = 72, + 2 migration
  # + 10 headroom = 84 <= 100.
  max_connections = 100
  function_scaling = {
    create    = { min_instances = 0, max_instances = 3, concurrency = 6, pool_size = 4, max_overflow = 2 }
    query     = { min_instances = 0, max_instances = 4, concurrency = 6, pool_size = 4, max_overflow = 2 }
    supersede = { min_instances = 0, max_instances = 2, concurrency = 6, pool_size = 4, max_overflow = 2 }
    verify    = { min_instances = 0, max_instances = 3, concurrency = 6, pool_size = 4, max_overflow = 2 }
  }

  signing_key_protection_level = "SOFTWARE"
  signing_key_version          = var.signing_key_version
  trusted_public_keys_pem      = var.trusted_public_keys_file == null ? null : file(var.trusted_public_keys_file)
  checkpoint_retention_days    = 7
  checkpoint_retention_locked  = false

  jwt_issuer      = var.jwt_issuer
  jwt_audience    = var.jwt_audience
  jwt_jwks_url    = var.jwt_jwks_url
  invoker_members = var.invoker_members
  log_level       = "DEBUG"

  bundle_dir      = "${path.root}/../../../build/bundle"
  bundle_zip_path = "${path.root}/../../../build/bundle-dev.zip"
  migration_image = var.migration_image
}
