variable "project_id" {
  type        = string
  description = "Project that owns the key ring."
}

variable "location" {
  type        = string
  description = "KMS location of the key ring (usually the functions' region)."
}

variable "name_prefix" {
  type        = string
  description = "Prefix for the key ring and key names."
}

variable "data_key_rotation_period" {
  type        = string
  description = "Rotation period of the symmetric data key (CMEK for Cloud SQL, buckets and images), in seconds with an s suffix; at most 90 days."
  default     = "7776000s"
  validation {
    condition     = can(regex("^[0-9]+s$", var.data_key_rotation_period)) && tonumber(trimsuffix(var.data_key_rotation_period, "s")) >= 86400 && tonumber(trimsuffix(var.data_key_rotation_period, "s")) <= 7776000
    error_message = "data_key_rotation_period must be between 86400s (1 day) and 7776000s (90 days)."
  }
}

variable "encrypter_decrypter_members" {
  type        = map(string)
  description = "Service agents that encrypt data at rest with the data key (roles/cloudkms.cryptoKeyEncrypterDecrypter), keyed by a static name."
  default     = {}
}

variable "algorithm" {
  type        = string
  description = "Asymmetric signing algorithm of the key."
  default     = "EC_SIGN_P256_SHA256"
  validation {
    condition     = contains(["EC_SIGN_P256_SHA256", "RSA_SIGN_PSS_4096_SHA256"], var.algorithm)
    error_message = "algorithm must be EC_SIGN_P256_SHA256 or RSA_SIGN_PSS_4096_SHA256."
  }
}

variable "protection_level" {
  type        = string
  description = "SOFTWARE or HSM."
  default     = "HSM"
  validation {
    condition     = contains(["SOFTWARE", "HSM"], var.protection_level)
    error_message = "protection_level must be SOFTWARE or HSM."
  }
}

variable "key_version" {
  type        = number
  description = "The key version the functions sign with (KMS_KEY_VERSION). Raise it after creating a new version to rotate."
  default     = 1
  validation {
    condition     = var.key_version >= 1 && floor(var.key_version) == var.key_version
    error_message = "key_version must be a positive integer."
  }
}

variable "signer_members" {
  type        = map(string)
  description = "IAM members that may sign with the key (roles/cloudkms.signer), keyed by a static name."
  default     = {}
}

variable "public_key_viewer_members" {
  type        = map(string)
  description = "IAM members that may read the public key (roles/cloudkms.publicKeyViewer), keyed by a static name."
  default     = {}
}

variable "labels" {
  type        = map(string)
  description = "Labels on the key."
  default     = {}
}

variable "checkpoint_key_version" {
  type        = number
  description = "The checkpoint key version the functions sign notes with (CHECKPOINT_KMS_KEY_VERSION)."
  default     = 1
  validation {
    condition     = var.checkpoint_key_version >= 1 && floor(var.checkpoint_key_version) == var.checkpoint_key_version
    error_message = "checkpoint_key_version must be a positive integer."
  }
}

variable "checkpoint_protection_level" {
  type        = string
  description = "SOFTWARE or HSM for the EC_SIGN_ED25519 checkpoint key. SOFTWARE by default: HSM support for Ed25519 is not confirmed for every region (infra/README.md, confirm at first apply); the level cannot change after creation."
  default     = "SOFTWARE"
  validation {
    condition     = contains(["SOFTWARE", "HSM"], var.checkpoint_protection_level)
    error_message = "checkpoint_protection_level must be SOFTWARE or HSM."
  }
}
