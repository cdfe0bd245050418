# Three keys in one key ring, none of which Terraform can destroy (destroying a signing
# key would make every signature unverifiable against a fresh public key fetch):
# - the record signing key: asymmetric, its private half never leaves KMS; records are
#   signed through the API (KMS_KEY_VERSION), with the configured algorithm;
# - the checkpoint key: EC_SIGN_ED25519, because C2SP signed notes (tlog-checkpoint)
#   carry Ed25519 signatures (type 0x01); CHECKPOINT_KMS_KEY_VERSION;
# - the data key: the customer-managed encryption key (CMEK) for the database, the
#   buckets and the image repository.
# Each version the functions are pointed at is read back at plan/apply time and must
# exist, be ENABLED and have the expected algorithm (data sources with postconditions).

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

# The version the functions sign records with must exist and be usable: a typo in
# signing_key_version, or a version disabled during a rotation, fails the plan here
# instead of every signature at run time.
data "google_kms_crypto_key_version" "signing" {
  crypto_key = google_kms_crypto_key.signing.id
  version    = var.key_version

  lifecycle {
    postcondition {
      condition     = self.state == "ENABLED"
      error_message = "Signing key version ${var.key_version} is not ENABLED (state ${self.state}): create or re-enable it before pointing KMS_KEY_VERSION at it."
    }
    postcondition {
      condition     = self.algorithm == var.algorithm
      error_message = "Signing key version ${var.key_version} has algorithm ${self.algorithm}, not ${var.algorithm}."
    }
  }
}

resource "google_kms_crypto_key" "checkpoint" {
  # checkov:skip=CKV_GCP_43:Cloud KMS cannot rotate asymmetric keys automatically (rotation_period is only valid for symmetric keys); a checkpoint key change is a new verifier key for every witness and client, done by the runbook in infra/README.md.
  name     = "${var.name_prefix}-checkpoint"
  key_ring = google_kms_key_ring.this.id
  purpose  = "ASYMMETRIC_SIGN"
  labels   = var.labels

  version_template {
    algorithm        = "EC_SIGN_ED25519"
    protection_level = var.checkpoint_protection_level
  }

  lifecycle {
    prevent_destroy = true
  }
}

data "google_kms_crypto_key_version" "checkpoint" {
  crypto_key = google_kms_crypto_key.checkpoint.id
  version    = var.checkpoint_key_version

  lifecycle {
    postcondition {
      condition     = self.state == "ENABLED"
      error_message = "Checkpoint key version ${var.checkpoint_key_version} is not ENABLED (state ${self.state})."
    }
    postcondition {
      condition     = self.algorithm == "EC_SIGN_ED25519"
      error_message = "Checkpoint key version ${var.checkpoint_key_version} has algorithm ${self.algorithm}; signed notes need EC_SIGN_ED25519."
    }
  }
}

resource "google_kms_crypto_key_iam_member" "checkpoint_signer" {
  for_each = var.signer_members

  crypto_key_id = google_kms_crypto_key.checkpoint.id
  role          = "roles/cloudkms.signer"
  member        = each.value
}

resource "google_kms_crypto_key_iam_member" "checkpoint_public_key_viewer" {
  for_each = var.public_key_viewer_members

  crypto_key_id = google_kms_crypto_key.checkpoint.id
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
