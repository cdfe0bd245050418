# Two keys in one key ring. The service signing key: an asymmetric Cloud KMS key whose private half never leaves
# KMS. Records and checkpoints are signed through the API (KMS_KEY_VERSION); the key can
# never be destroyed by Terraform, because destroying it would make every signature
# unverifiable against a fresh public key fetch. The data key is the customer-managed
# encryption key (CMEK) for the database, the buckets and the image repository.

resource "google_kms_key_ring" "this" {
  project  = var.project_id
  name     = "${var.name_prefix}-keys"
  location = var.location
}

resource "google_kms_crypto_key" "signing" {
  # checkov:skip=CKV_GCP_43:Cloud KMS cannot rotate asymmetric keys automatically (rotation_period is only valid for symmetric keys); rotation is the runbook in infra/README.md.
  name     = "${var.name_prefix}-signing"
  key_ring = google_kms_key_ring.this.id
  purpose  = "ASYMMETRIC_SIGN"
  labels   = var.labels

  version_template {
    algorithm        = var.algorithm
    protection_level = var.protection_level
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "signer" {
  for_each = var.signer_members

  crypto_key_id = google_kms_crypto_key.signing.id
  role          = "roles/cloudkms.signer"
  member        = each.value
}

resource "google_kms_crypto_key_iam_member" "public_key_viewer" {
  for_each = var.public_key_viewer_members

  crypto_key_id = google_kms_crypto_key.signing.id
  role          = "roles/cloudkms.publicKeyViewer"
  member        = each.value
}

resource "google_kms_crypto_key" "data" {
  name            = "${var.name_prefix}-data"
  key_ring        = google_kms_key_ring.this.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = var.data_key_rotation_period
  labels          = var.labels

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = var.protection_level
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "encrypter_decrypter" {
  for_each = var.encrypter_decrypter_members

  crypto_key_id = google_kms_crypto_key.data.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}
