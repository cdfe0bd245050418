variable "project_id" {
  type        = string
  description = "Project of the functions."
}

variable "region" {
  type        = string
  description = "Region of the functions."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the function names."
}

variable "bundle_dir" {
  type        = string
  description = "Directory `make bundle` assembled (main.py, functions/, shared/, requirements.txt)."
}

variable "bundle_zip_path" {
  type        = string
  description = "Where archive_file writes the zipped bundle."
}

variable "source_bucket" {
  type        = string
  description = "Bucket the zipped bundle is uploaded to."
}

variable "functions" {
  type = map(object({
    entry_point           = string
    service_account_email = string
    db_user               = string
    min_instances         = number
    max_instances         = number
    concurrency           = number
    pool_size             = number
    max_overflow          = number
    publishes_checkpoints = bool
    scheduled             = bool
  }))
  description = "The four functions, keyed by name: entry point, runtime account, IAM database user and sizing."
  validation {
    condition     = alltrue([for f in values(var.functions) : f.max_instances >= 1 && f.min_instances >= 0 && f.min_instances <= f.max_instances])
    error_message = "Each function needs 0 <= min_instances <= max_instances and max_instances >= 1."
  }
  validation {
    condition     = alltrue([for f in values(var.functions) : f.concurrency >= 1 && f.concurrency <= 1000])
    error_message = "concurrency must be between 1 and 1000."
  }
  validation {
    condition     = alltrue([for f in values(var.functions) : f.pool_size >= 1 && f.pool_size <= 100 && f.max_overflow >= 0 && f.max_overflow <= 100])
    error_message = "pool_size must be 1-100 and max_overflow 0-100 (the limits Settings enforces)."
  }
  validation {
    condition     = alltrue([for f in values(var.functions) : f.concurrency <= f.pool_size + f.max_overflow])
    error_message = "Each function's concurrency must be at most pool_size + max_overflow: a request beyond the pool waits DB_POOL_TIMEOUT and then answers 503."
  }
}

variable "available_memory" {
  type        = string
  description = "Memory of each function instance."
  default     = "512Mi"
}

variable "available_cpu" {
  type        = string
  description = "vCPUs of each function instance (at least 1 when concurrency > 1)."
  default     = "1"
}

variable "timeout_seconds" {
  type        = number
  description = "Request timeout."
  default     = 60
  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 3600
    error_message = "timeout_seconds must be between 1 and 3600."
  }
}

variable "ingress_settings" {
  type        = string
  description = "Who may reach the functions at the network level."
  default     = "ALLOW_ALL"
  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "ingress_settings must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "invoker_members" {
  type        = list(string)
  description = "Members granted roles/run.invoker on every function (they send a Google ID token in X-Serverless-Authorization; Authorization carries the registry JWT)."
  default     = []
  validation {
    condition     = alltrue([for m in var.invoker_members : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "invoker_members must name principals; allUsers and allAuthenticatedUsers are not allowed."
  }
}

variable "vpc_connector_id" {
  type        = string
  description = "Serverless VPC Access connector for egress to the database's private IP."
}

variable "build_service_account_id" {
  type        = string
  description = "Service account Cloud Build uses (projects/P/serviceAccounts/E)."
}

variable "docker_repository" {
  type        = string
  description = "Artifact Registry repository (projects/P/locations/L/repositories/R) the function images go to."
}

variable "instance_connection_name" {
  type        = string
  description = "INSTANCE_CONNECTION_NAME."
}

variable "database_name" {
  type        = string
  description = "DB_NAME."
}

variable "kms_key_version" {
  type        = string
  description = "KMS_KEY_VERSION: full cryptoKeyVersions name of the signing key version."
  validation {
    condition     = can(regex("/cryptoKeyVersions/[0-9]+$", var.kms_key_version))
    error_message = "kms_key_version must end in /cryptoKeyVersions/N."
  }
}

variable "jwt_issuer" {
  type        = string
  description = "JWT_ISSUER: the iss claim bearer tokens must carry."
}

variable "jwt_audience" {
  type        = string
  description = "JWT_AUDIENCE: the aud claim bearer tokens must carry."
}

variable "jwt_jwks_url" {
  type        = string
  description = "JWT_JWKS_URL: https URL of the token issuer's JWKS."
  validation {
    condition     = startswith(var.jwt_jwks_url, "https://")
    error_message = "jwt_jwks_url must be an https:// URL."
  }
}

variable "checkpoint_bucket" {
  type        = string
  description = "CHECKPOINT_BUCKET, set on the functions that publish signed checkpoints."
}

variable "checkpoint_kms_key_version" {
  type        = string
  description = "CHECKPOINT_KMS_KEY_VERSION: full name of the EC_SIGN_ED25519 key version that signs checkpoint notes."
  validation {
    condition     = can(regex("/cryptoKeys/[^/]+/cryptoKeyVersions/[0-9]+$", var.checkpoint_kms_key_version))
    error_message = "checkpoint_kms_key_version must be a full .../cryptoKeys/K/cryptoKeyVersions/N name."
  }
}

variable "log_origin" {
  type        = string
  description = "LOG_ORIGIN: prefix of every tenant's log origin (<LOG_ORIGIN>/<tenant_id>), a schema-less URL such as registry.example.com/plant."
  validation {
    condition     = can(regex("^[a-z0-9.-]+(/[A-Za-z0-9._~-]+)*$", var.log_origin)) && !can(regex("^https?:", var.log_origin))
    error_message = "log_origin must be host[/path] without a scheme or trailing slash, e.g. registry.example.com/plant."
  }
}

variable "checkpoint_max_age" {
  type        = number
  description = "CHECKPOINT_MAX_AGE: seconds unsigned records may wait before a checkpoint is due."
  default     = 60
  validation {
    condition     = var.checkpoint_max_age >= 1 && var.checkpoint_max_age <= 86400
    error_message = "checkpoint_max_age must be between 1 and 86400 seconds."
  }
}

variable "checkpoint_retention" {
  type = object({
    days = number
    mode = string
  })
  description = "CHECKPOINT_RETENTION_DAYS and CHECKPOINT_RETENTION_MODE: the Object Retention Lock the publisher sets on each immutable object (full tiles, entry bundles). Locked cannot be shortened or removed by anyone; Unlocked can be by a holder of storage.objects.overrideUnlockedRetention."
  validation {
    condition     = var.checkpoint_retention.days >= 1 && var.checkpoint_retention.days <= 36500 && contains(["Locked", "Unlocked"], var.checkpoint_retention.mode)
    error_message = "checkpoint_retention needs days between 1 and 36500 and mode Locked or Unlocked."
  }
}

variable "witnesses" {
  type = list(object({
    url          = string
    verifier_key = string
  }))
  description = "WITNESSES (JSON list of {url, verifier_key}): tlog-witness endpoints every new checkpoint is submitted to. Empty: none."
  default     = []
  validation {
    condition     = alltrue([for w in var.witnesses : startswith(w.url, "https://") && length(split("+", w.verifier_key)) == 3])
    error_message = "Each witness needs an https:// url and a signed-note verifier key (name+hash+base64)."
  }
}

variable "db_timeouts" {
  type = object({
    lock_timeout_ms                = number
    statement_timeout_ms           = number
    idle_in_transaction_timeout_ms = number
    connect_timeout_s              = number
  })
  description = "DB_LOCK_TIMEOUT_MS, DB_STATEMENT_TIMEOUT_MS, DB_IDLE_IN_TX_TIMEOUT_MS and DB_CONNECT_TIMEOUT_S: every database wait is bounded; each must end well before the function timeout."
  validation {
    condition = (
      var.db_timeouts.lock_timeout_ms >= 1 &&
      var.db_timeouts.lock_timeout_ms < var.db_timeouts.statement_timeout_ms &&
      var.db_timeouts.idle_in_transaction_timeout_ms >= 1 &&
      var.db_timeouts.connect_timeout_s >= 1 && var.db_timeouts.connect_timeout_s <= 60
    )
    error_message = "db_timeouts: every value must be positive, lock_timeout_ms below statement_timeout_ms, and connect_timeout_s at most 60."
  }
}

variable "scheduler_service_account" {
  type        = string
  description = "SCHEDULER_SERVICE_ACCOUNT: email of the Cloud Scheduler account whose Google-signed ID token the scheduled admin endpoints accept (verify only)."
}

variable "scheduler_audience" {
  type        = string
  description = "SCHEDULER_AUDIENCE: the aud the scheduler's ID token carries (the verify function's URL)."
}

variable "trusted_keys_secret" {
  type = object({
    project_id = string
    secret     = string
    version    = string
  })
  description = "Secret Manager secret holding the PEM bundle of earlier signing public keys; mounted as a file and named by TRUSTED_PUBLIC_KEYS_FILE. Null when no key has been rotated out."
  default     = null
}

variable "log_level" {
  type        = string
  description = "LOG_LEVEL of the functions."
  default     = "INFO"
  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels on the functions."
  default     = {}
}
