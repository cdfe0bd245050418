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
  description = "Cloud SQL PostgreSQL version (POSTGRES_16: see the database module and infra/README.md)."
  default     = "POSTGRES_16"
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
  description = "Sizing of each function (create, query, supersede, verify): instances, requests per instance, and its SQLAlchemy pool (DB_POOL_SIZE, DB_MAX_OVERFLOW). concurrency must not exceed pool_size + max_overflow."
  validation {
    condition     = alltrue([for name, s in var.function_scaling : s.concurrency <= s.pool_size + s.max_overflow])
    error_message = "Each function's concurrency must be at most pool_size + max_overflow, or requests queue for a connection and then answer 503."
  }
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
  description = "Days each immutable published object (full tile, entry bundle) is retained by Object Retention Lock (CHECKPOINT_RETENTION_DAYS)."
  default     = 365
  validation {
    condition     = var.checkpoint_retention_days >= 1 && var.checkpoint_retention_days <= 36500
    error_message = "checkpoint_retention_days must be between 1 and 36500: published tiles are evidence."
  }
}

variable "checkpoint_retention_mode" {
  type        = string
  description = "Object retention mode the publisher sets (CHECKPOINT_RETENTION_MODE): Locked (irreversible until the time passes) or Unlocked (removable with storage.objects.overrideUnlockedRetention; for dev)."
  default     = "Locked"
  validation {
    condition     = contains(["Locked", "Unlocked"], var.checkpoint_retention_mode)
    error_message = "checkpoint_retention_mode must be Locked or Unlocked."
  }
}

variable "checkpoint_key_version" {
  type        = number
  description = "Version of the EC_SIGN_ED25519 checkpoint key the functions sign notes with (CHECKPOINT_KMS_KEY_VERSION)."
  default     = 1
}

variable "checkpoint_key_protection_level" {
  type        = string
  description = "SOFTWARE or HSM for the checkpoint key; SOFTWARE until HSM support for EC_SIGN_ED25519 is confirmed in the region (infra/README.md)."
  default     = "SOFTWARE"
}

variable "log_origin" {
  type        = string
  description = "LOG_ORIGIN: prefix of every tenant's C2SP log origin (<LOG_ORIGIN>/<tenant_id>), e.g. registry.example.com/plant."
}

variable "checkpoint_max_age" {
  type        = number
  description = "CHECKPOINT_MAX_AGE: seconds unsigned records may wait before a checkpoint is due (the scheduler calls every minute)."
  default     = 60
}

variable "witnesses" {
  type = list(object({
    url          = string
    verifier_key = string
  }))
  description = "WITNESSES: tlog-witness endpoints (url, signed-note verifier key) every new checkpoint is submitted to."
  default     = []
}

variable "db_timeouts" {
  type = object({
    lock_timeout_ms                = number
    statement_timeout_ms           = number
    idle_in_transaction_timeout_ms = number
    connect_timeout_s              = number
  })
  description = "Bounded database waits (DB_LOCK_TIMEOUT_MS, DB_STATEMENT_TIMEOUT_MS, DB_IDLE_IN_TX_TIMEOUT_MS, DB_CONNECT_TIMEOUT_S), defaulting to the application's own defaults (shared/settings.py): a stalled lock holder costs a waiter 3 s, not the whole request timeout."
  default = {
    lock_timeout_ms                = 3000
    statement_timeout_ms           = 15000
    idle_in_transaction_timeout_ms = 30000
    connect_timeout_s              = 5
  }
}

# --- migration job ---------------------------------------------------------------------

variable "migration_image" {
  type        = string
  description = "Digest-pinned migration image. Null on the first apply (the repository must exist before the image can be pushed); the job is created once it is set."
  default     = null
}
