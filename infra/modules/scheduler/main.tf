# Cloud Scheduler jobs that call the verify function's admin endpoints when nobody
# writes: sign due checkpoints every minute (CHECKPOINT_MAX_AGE), and expire old
# idempotency keys once a day. Each call carries a Google-signed OIDC ID token of the
# scheduler service account (audience: the verify function's URL). Cloud Run IAM checks
# it (the account has roles/run.invoker on verify only); the app then accepts it in place
# of a registry JWT only on the checkpoint sweep and only from SCHEDULER_SERVICE_ACCOUNT
# (infra/README.md, "Scheduled calls").

locals {
  jobs = {
    checkpoint = {
      description = "Sign due checkpoints of every tenant (POST /maintenance/checkpoint-sweep on verify)."
      schedule    = var.checkpoint_schedule
      path        = "/maintenance/checkpoint-sweep"
    }
    expire-idempotency = {
      description = "Expire idempotency keys past their retention (POST /maintenance/expire-idempotency on verify)."
      schedule    = var.expire_idempotency_schedule
      path        = "/maintenance/expire-idempotency"
    }
  }
}

resource "google_cloud_scheduler_job" "this" {
  for_each = local.jobs

  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-${each.key}"
  description      = each.value.description
  schedule         = each.value.schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "${var.attempt_deadline_seconds}s"

  # A missed run is not retried: the next scheduled run does the same work.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${var.verify_url}${each.value.path}"
    body        = base64encode("{}")
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = var.service_account_email
      audience              = var.verify_url
    }
  }

  lifecycle {
    precondition {
      condition     = startswith(var.verify_url, "https://") && !endswith(var.verify_url, "/")
      error_message = "verify_url must be the verify function's https URL without a trailing slash."
    }
  }
}
