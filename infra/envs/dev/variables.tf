variable "project_id" {
  type        = string
  description = "Google Cloud project to deploy into."
}

variable "region" {
  type        = string
  description = "Region of every regional resource."
  default     = "europe-west1"
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
  description = "https URL of the token issuer's JWKS (JWT_JWKS_URL)."
}

variable "invoker_members" {
  type        = list(string)
  description = "Principals allowed to invoke the functions (roles/run.invoker)."
  default     = []
}

variable "signing_key_version" {
  type        = number
  description = "KMS key version the functions sign with; raise it to rotate."
  default     = 1
}

variable "trusted_public_keys_file" {
  type        = string
  description = "Path of a PEM bundle with the public keys of rotated-out signing key versions; null before the first rotation."
  default     = null
}

variable "migration_image" {
  type        = string
  description = "Digest-pinned migration image; null on the first apply."
  default     = null
}

variable "log_origin" {
  type        = string
  description = "LOG_ORIGIN: prefix of every tenant's log origin, e.g. registry.example.com/plant (a public, stable identity: witnesses and clients pin it)."
}

variable "witnesses" {
  type = list(object({
    url          = string
    verifier_key = string
  }))
  description = "WITNESSES: tlog-witness endpoints (url, verifier_key) that cosign every checkpoint; empty for none."
  default     = []
}
