variable "project_id" {
  type        = string
  description = "Google Cloud project to deploy into."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid project id."
  }
}

variable "region" {
  type        = string
  description = "Region of every regional resource (functions, job, database, key ring, buckets)."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name, for example registry-dev (3-20 characters)."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels on every resource that takes them."
  default     = {}
}

# --- database --------------------------------------------------------------------------

variable "database_instance_name" {
  type        = string
  description = "Name of the Cloud SQL instance; null means NAME_PREFIX-pg. Changed only to adopt a restored clone (infra/README.md)."
  default     = null
}

variable "database_version" {
  type        = string
  description = "Cloud SQL PostgreSQL version."
  default     = "POSTGRES_18"
}

variable "database_tier" {
  type        = string
  description = "Cloud SQL machine tier."
  default     = "db-custom-2-7680"
}

variable "database_edition" {
  type        = string
  description = "ENTERPRISE or ENTERPRISE_PLUS."
  default     = "ENTERPRISE"
}

variable "database_availability_type" {
  type        = string
  description = "ZONAL or REGIONAL."
  default     = "REGIONAL"
}

variable "database_disk_size_gb" {
  type        = number
  description = "Initial disk size in GB (grows automatically)."
  default     = 20
}

variable "database_ssl_mode" {
  type        = string
  description = "ENCRYPTED_ONLY or TRUSTED_CLIENT_CERTIFICATE_REQUIRED."
  default     = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
}

variable "retained_backups" {
  type        = number
  description = "Automated backups kept."
  default     = 14
}

variable "transaction_log_retention_days" {
  type        = number
  description = "Days of point-in-time recovery."
  default     = 7
}

variable "max_connections" {
  type        = number
  description = "The max_connections database flag; must be at least the connection budget."
}

variable "connection_headroom" {
  type        = number
  description = "Connections kept free for operators, Cloud SQL maintenance and the Auth Proxy."
  default     = 10
  validation {
    condition     = var.connection_headroom >= 5
    error_message = "connection_headroom must be at least 5."
  }
}

variable "migration_connections" {
  type        = number
  description = "Connections one migration run opens."
  default     = 2
  validation {
    condition     = var.migration_connections >= 1
    error_message = "migration_connections must be at least 1."
  }
}

# --- functions -------------------------------------------------------------------------

variable "function_scaling" {
  type = map(object({
    min_instances = number
    max_instances = number
    concurrency   = number
    pool_size     = number
    max_overflow  = number
  }))
  description = "Sizing of each function (create, query, supersede, verify): instances, requests per instance, and its SQLAlchemy pool (DB_POOL_SIZE, DB_MAX_OVERFLOW)."
  validation {
    condition     = length(setsymmetricdifference(keys(var.function_scaling), ["create", "query", "supersede", "verify"])) == 0
    error_message = "function_scaling must have exactly the keys create, query, supersede and verify."
  }
}

variable "function_memory" {
  type        = string
  description = "Memory of each function instance."
  default     = "512Mi"
}

variable "ingress_settings" {
  type        = string
  description = "ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  default     = "ALLOW_ALL"
}

variable "invoker_members" {
  type        = list(string)
  description = "Principals allowed to invoke the functions (roles/run.invoker), e.g. serviceAccount:client@P.iam.gserviceaccount.com."
  default     = []
}

variable "jwt_issuer" {
  type        = string
  description = "iss claim of bearer tokens (JWT_ISSUER)."
}

variable "jwt_audience" {
  type        = string
  description = "aud claim of bearer tokens (JWT_AUDIENCE)."
}

variable "jwt_jwks_url" {
  type        = string
  description = "https URL of the issuer's JWKS (JWT_JWKS_URL)."
}

variable "log_level" {
  type        = string
  description = "LOG_LEVEL of the functions and the job."
  default     = "INFO"
}

variable "bundle_dir" {
  type        = string
  description = "Directory made by `make bundle`."
}

variable "bundle_zip_path" {
  type        = string
  description = "Where the zipped bundle is written before upload."
}

# --- signing key -----------------------------------------------------------------------

variable "signing_key_algorithm" {
  type        = string
  description = "EC_SIGN_P256_SHA256 or RSA_SIGN_PSS_4096_SHA256."
  default     = "EC_SIGN_P256_SHA256"
}

variable "signing_key_protection_level" {
  type        = string
  description = "SOFTWARE or HSM."
  default     = "HSM"
}

variable "signing_key_version" {
  type        = number
  description = "Key version the functions sign with; raise it to rotate (infra/README.md)."
  default     = 1
}

variable "trusted_public_keys_pem" {
  type        = string
  description = "PEM bundle of the public keys of earlier signing key versions (public material, not a secret). Mounted into the functions as TRUSTED_PUBLIC_KEYS_FILE; null before the first rotation."
  default     = null
  validation {
    condition     = var.trusted_public_keys_pem == null || can(regex("-----BEGIN PUBLIC KEY-----", var.trusted_public_keys_pem))
    error_message = "trusted_public_keys_pem must contain PEM public keys."
  }
}

# --- checkpoints -----------------------------------------------------------------------

variable "checkpoint_retention_days" {
  type        = number
  description = "Days a published checkpoint cannot be deleted or replaced."
  default     = 365
  validation {
    condition     = var.checkpoint_retention_days >= 1
    error_message = "checkpoint_retention_days must be at least 1: published checkpoints are evidence."
  }
}

variable "checkpoint_retention_locked" {
  type        = bool
  description = "Lock the checkpoint bucket's retention policy (irreversible)."
  default     = false
}

# --- migration job ---------------------------------------------------------------------

variable "migration_image" {
  type        = string
  description = "Digest-pinned migration image. Null on the first apply (the repository must exist before the image can be pushed); the job is created once it is set."
  default     = null
}
