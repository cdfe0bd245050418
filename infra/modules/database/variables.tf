variable "project_id" {
  type        = string
  description = "Project that owns the instance."
}

variable "region" {
  type        = string
  description = "Region of the Cloud SQL instance."
}

variable "instance_name" {
  type        = string
  description = "Name of the Cloud SQL instance."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,96}[a-z0-9]$", var.instance_name))
    error_message = "instance_name must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "network_id" {
  type        = string
  description = "VPC network the instance's private IP lives in; pass the network module's private_services_network so the instance waits for the peering."
}

variable "database_version" {
  type        = string
  description = "Cloud SQL PostgreSQL major version. POSTGRES_16 by default: generally available on both editions, and the first major whose role rules the Cloud SQL role model relies on (docs/adr/0007-cloud-sql-role-model.md)."
  default     = "POSTGRES_16"
  validation {
    condition     = contains(["POSTGRES_16", "POSTGRES_17", "POSTGRES_18"], var.database_version)
    error_message = "database_version must be POSTGRES_16, POSTGRES_17 or POSTGRES_18: before 16 any CREATEROLE holder could grant itself registry_owner, and later majors are not yet tested here."
  }
}

variable "encryption_key_name" {
  type        = string
  description = "Customer-managed key (same region) that encrypts the instance's disks and backups."
}

variable "edition" {
  type        = string
  description = "Cloud SQL edition: ENTERPRISE or ENTERPRISE_PLUS."
  default     = "ENTERPRISE"
  validation {
    condition     = contains(["ENTERPRISE", "ENTERPRISE_PLUS"], var.edition)
    error_message = "edition must be ENTERPRISE or ENTERPRISE_PLUS."
  }
}

variable "tier" {
  type        = string
  description = "Machine tier, for example db-custom-2-7680."
  default     = "db-custom-2-7680"
}

variable "availability_type" {
  type        = string
  description = "ZONAL or REGIONAL (high availability with a standby in a second zone)."
  default     = "REGIONAL"
  validation {
    condition     = contains(["ZONAL", "REGIONAL"], var.availability_type)
    error_message = "availability_type must be ZONAL or REGIONAL."
  }
}

variable "disk_size_gb" {
  type        = number
  description = "Initial disk size in GB; the disk grows automatically."
  default     = 20
  validation {
    condition     = var.disk_size_gb >= 10
    error_message = "disk_size_gb must be at least 10."
  }
}

variable "ssl_mode" {
  type        = string
  description = "Transport security the instance enforces. The Cloud SQL connector satisfies both values."
  default     = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
  validation {
    condition     = contains(["ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"], var.ssl_mode)
    error_message = "ssl_mode must be ENCRYPTED_ONLY or TRUSTED_CLIENT_CERTIFICATE_REQUIRED; unencrypted connections are never allowed."
  }
}

variable "require_connectors" {
  type        = bool
  description = "Refuse connections that do not come through a Cloud SQL connector or the Auth Proxy."
  default     = true
}

variable "max_connections" {
  type        = number
  description = "The max_connections flag. Must cover the connection budget (see the registry module)."
  validation {
    condition     = var.max_connections >= 25 && var.max_connections <= 262143
    error_message = "max_connections must be between 25 and 262143."
  }
}

variable "connection_budget" {
  type        = number
  description = "Connections the deployment can open at most: two revisions of every function at max instances x (pool + overflow), the migration job and headroom."
}

variable "backup_start_time" {
  type        = string
  description = "Start of the daily backup window, HH:MM UTC."
  default     = "02:00"
  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.backup_start_time))
    error_message = "backup_start_time must be HH:MM."
  }
}

variable "backup_location" {
  type        = string
  description = "Multi-region or region for backups; null keeps them in the default multi-region."
  default     = null
}

variable "retained_backups" {
  type        = number
  description = "Automated backups to keep."
  default     = 14
  validation {
    condition     = var.retained_backups >= 7 && var.retained_backups <= 365
    error_message = "retained_backups must be between 7 and 365."
  }
}

variable "transaction_log_retention_days" {
  type        = number
  description = "Days of write-ahead log kept for point-in-time recovery."
  default     = 7
  validation {
    condition     = var.transaction_log_retention_days >= 1 && var.transaction_log_retention_days <= 35
    error_message = "transaction_log_retention_days must be between 1 and 35 (at most 7 on ENTERPRISE)."
  }
}

variable "maintenance_day" {
  type        = number
  description = "Day of the maintenance window, 1 (Monday) to 7 (Sunday)."
  default     = 7
  validation {
    condition     = var.maintenance_day >= 1 && var.maintenance_day <= 7
    error_message = "maintenance_day must be between 1 and 7."
  }
}

variable "maintenance_hour" {
  type        = number
  description = "Hour of the maintenance window, 0-23 UTC."
  default     = 3
  validation {
    condition     = var.maintenance_hour >= 0 && var.maintenance_hour <= 23
    error_message = "maintenance_hour must be between 0 and 23."
  }
}

variable "maintenance_update_track" {
  type        = string
  description = "canary, stable or week5: when this instance receives maintenance relative to others."
  default     = "stable"
  validation {
    condition     = contains(["canary", "stable", "week5"], var.maintenance_update_track)
    error_message = "maintenance_update_track must be canary, stable or week5."
  }
}

variable "database_name" {
  type        = string
  description = "Name of the application database."
  default     = "registry"
  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.database_name))
    error_message = "database_name must be a lowercase PostgreSQL identifier."
  }
}

variable "runtime_service_accounts" {
  type        = map(string)
  description = "Service account email of each function, keyed by function name; each becomes an IAM database user that the migration grants the runtime role."
}

variable "migrator_service_account_email" {
  type        = string
  description = "Service account of the migration job; its IAM database user gets cloudsqlsuperuser so the migration can create and grant roles."
}

variable "labels" {
  type        = map(string)
  description = "Labels on the instance."
  default     = {}
}
