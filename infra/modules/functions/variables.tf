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
