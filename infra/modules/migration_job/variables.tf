variable "project_id" {
  type        = string
  description = "Project of the job."
}

variable "region" {
  type        = string
  description = "Region of the job."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the job name."
}

variable "image" {
  type        = string
  description = "Migration image built from the repository's Dockerfile, pinned by digest (REGION-docker.pkg.dev/P/R/migrate@sha256:...)."
  validation {
    condition     = can(regex("^[a-z0-9.-]+/[^@ ]+@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: HOST/PATH@sha256:<64 hex digits>."
  }
}

variable "service_account_email" {
  type        = string
  description = "The migrator service account."
}

variable "db_user" {
  type        = string
  description = "IAM database user of the migrator (DB_USER)."
}

variable "runtime_logins" {
  type        = list(string)
  description = "IAM database users the migration grants registry_runtime (DB_RUNTIME_LOGINS)."
  validation {
    condition     = length(var.runtime_logins) > 0
    error_message = "runtime_logins must name at least one login."
  }
}

variable "instance_connection_name" {
  type        = string
  description = "INSTANCE_CONNECTION_NAME."
}

variable "database_name" {
  type        = string
  description = "DB_NAME."
}

variable "vpc_connector_id" {
  type        = string
  description = "Serverless VPC Access connector for egress to the private database IP."
}

variable "timeout_seconds" {
  type        = number
  description = "Task timeout of one migration run."
  default     = 900
  validation {
    condition     = var.timeout_seconds >= 60 && var.timeout_seconds <= 86400
    error_message = "timeout_seconds must be between 60 and 86400."
  }
}

variable "log_level" {
  type        = string
  description = "LOG_LEVEL of the migration."
  default     = "INFO"
  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels on the job."
  default     = {}
}
