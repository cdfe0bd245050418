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

variable "object_retention" {
  type        = bool
  description = "Enable Object Retention Lock (enable_object_retention), so writers can protect individual objects until a retain-until time. Fixed at creation: changing it replaces the bucket."
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

variable "object_publisher_role" {
  type        = string
  description = "Custom role (projects/P/roles/R) granted to object_publisher_members; null grants none."
  default     = null
  validation {
    condition     = var.object_publisher_role == null || can(regex("^projects/[a-z][a-z0-9-]+/roles/[A-Za-z0-9_.]+$", var.object_publisher_role))
    error_message = "object_publisher_role must be a project custom role name (projects/P/roles/R)."
  }
}

variable "object_publisher_members" {
  type        = map(string)
  description = "Members granted object_publisher_role, keyed by a static name."
  default     = {}
}
