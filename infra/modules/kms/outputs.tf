output "crypto_key_id" {
  description = "Id of the signing key (projects/P/locations/L/keyRings/R/cryptoKeys/K)."
  value       = google_kms_crypto_key.signing.id
}

output "key_version_name" {
  description = "Full name of the key version the functions sign with: the value of KMS_KEY_VERSION."
  value       = "${google_kms_crypto_key.signing.id}/cryptoKeyVersions/${var.key_version}"
}

output "data_key_id" {
  description = "Id of the symmetric data key used as CMEK."
  value       = google_kms_crypto_key.data.id
}
