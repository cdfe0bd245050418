output "crypto_key_id" {
  description = "Id of the record signing key (projects/P/locations/L/keyRings/R/cryptoKeys/K)."
  value       = google_kms_crypto_key.signing.id
}

output "key_version_name" {
  description = "Full name of the record signing key version (KMS_KEY_VERSION), read back from KMS so the plan fails when it does not exist or is not ENABLED."
  value       = "${google_kms_crypto_key.signing.id}/cryptoKeyVersions/${data.google_kms_crypto_key_version.signing.version}"
}

output "checkpoint_crypto_key_id" {
  description = "Id of the EC_SIGN_ED25519 checkpoint key."
  value       = google_kms_crypto_key.checkpoint.id
}

output "checkpoint_key_version_name" {
  description = "Full name of the checkpoint key version (CHECKPOINT_KMS_KEY_VERSION), read back from KMS like key_version_name."
  value       = "${google_kms_crypto_key.checkpoint.id}/cryptoKeyVersions/${data.google_kms_crypto_key_version.checkpoint.version}"
}

output "data_key_id" {
  description = "Id of the symmetric data key used as CMEK."
  value       = google_kms_crypto_key.data.id
}
