# A private bucket: uniform bucket-level access, public access prevention enforced,
# object versioning, a customer-managed encryption key, optional Object Retention Lock
# and usage logs.
#
# No bucket-level retention policy, ever: GCS refuses Object Versioning on a bucket with
# a retention policy, and a bucket-wide policy would also freeze objects that must be
# replaced (the tlog-tiles `checkpoint` object changes with every new checkpoint).
# Evidence buckets enable Object Retention Lock instead, and the writer sets a
# retention time on each immutable object it uploads (full tiles, entry bundles).

resource "google_storage_bucket" "this" {
  project                     = var.project_id
  name                        = var.name
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels
  # Can only be chosen when the bucket is created; lets objects carry their own
  # retention (mode Locked or Unlocked, retain-until time).
  enable_object_retention = var.object_retention

  versioning {
    enabled = true
  }

  encryption {
    default_kms_key_name = var.kms_key_name
  }

  dynamic "lifecycle_rule" {
    for_each = var.noncurrent_versions_kept > 0 ? [var.noncurrent_versions_kept] : []
    content {
      condition {
        num_newer_versions = lifecycle_rule.value
        with_state         = "ARCHIVED"
      }
      action {
        type = "Delete"
      }
    }
  }

  dynamic "logging" {
    for_each = var.access_log_bucket == null ? [] : [var.access_log_bucket]
    content {
      log_bucket = logging.value
    }
  }
}

resource "google_storage_bucket_iam_member" "object_creator" {
  for_each = var.object_creator_members

  bucket = google_storage_bucket.this.name
  role   = "roles/storage.objectCreator"
  member = each.value
}

resource "google_storage_bucket_iam_member" "object_viewer" {
  for_each = var.object_viewer_members

  bucket = google_storage_bucket.this.name
  role   = "roles/storage.objectViewer"
  member = each.value
}

# Writers that must also replace objects and set per-object retention (a custom role:
# no predefined role has create + delete + setRetention without also overriding
# retention or changing IAM).
resource "google_storage_bucket_iam_member" "object_publisher" {
  for_each = var.object_publisher_role == null ? {} : var.object_publisher_members

  bucket = google_storage_bucket.this.name
  role   = var.object_publisher_role
  member = each.value
}
