variable "project_id" {
  type        = string
  description = "Project that owns the bucket."
}

variable "name" {
  type        = string
  description = "Globally unique bucket name."
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$", var.name))
    error_message = "name must be a valid bucket name."
  }
}

variable "location" {
  type        = string
  description = "Bucket location (region or multi-region)."
}

variable "retention_days" {
  type        = number
  description = "Retention period in days; objects cannot be deleted or replaced before it ends. 0 disables the retention policy."
  default     = 0
  validation {
    condition     = var.retention_days >= 0 && var.retention_days <= 36500
    error_message = "retention_days must be between 0 and 36500."
  }
}

variable "retention_locked" {
  type        = bool
  description = "Lock the retention policy. Irreversible: a locked policy can never be shortened or removed, and the bucket cannot be deleted while objects are retained."
  default     = false
}

variable "noncurrent_versions_kept" {
  type        = number
  description = "Noncurrent object versions kept per object before lifecycle deletes older ones (0 keeps all)."
  default     = 0
  validation {
    condition     = var.noncurrent_versions_kept >= 0
    error_message = "noncurrent_versions_kept must not be negative."
  }
}

variable "kms_key_name" {
  type        = string
  description = "Customer-managed key that encrypts the objects (default_kms_key_name)."
}

variable "access_log_bucket" {
  type        = string
  description = "Bucket that receives this bucket's usage logs; null for the log bucket itself."
  default     = null
}

variable "force_destroy" {
  type        = bool
  description = "Let terraform destroy delete the objects too (never for evidence buckets)."
  default     = false
}

variable "object_creator_members" {
  type        = map(string)
  description = "Members that may create objects (roles/storage.objectCreator), keyed by a static name."
  default     = {}
}

variable "object_viewer_members" {
  type        = map(string)
  description = "Members that may read objects (roles/storage.objectViewer), keyed by a static name."
  default     = {}
}

variable "labels" {
  type        = map(string)
  description = "Labels on the bucket."
  default     = {}
}
