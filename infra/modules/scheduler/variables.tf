variable "project_id" {
  type        = string
  description = "Project of the scheduler jobs."
}

variable "region" {
  type        = string
  description = "Region of the scheduler jobs (the functions' region)."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the job names."
}

variable "verify_url" {
  type        = string
  description = "HTTPS URL of the verify function; the jobs call paths under it and use it as the ID token audience (SCHEDULER_AUDIENCE)."
}

variable "service_account_email" {
  type        = string
  description = "Scheduler service account (SCHEDULER_SERVICE_ACCOUNT); it holds roles/run.invoker on verify and nothing else."
}

variable "checkpoint_schedule" {
  type        = string
  description = "Cron schedule (UTC) of the checkpoint job."
  default     = "* * * * *"
}

variable "expire_idempotency_schedule" {
  type        = string
  description = "Cron schedule (UTC) of the idempotency expiry job."
  default     = "17 3 * * *"
}

variable "attempt_deadline_seconds" {
  type        = number
  description = "How long one call may take before the scheduler gives up (at most the function timeout)."
  default     = 60
  validation {
    condition     = var.attempt_deadline_seconds >= 15 && var.attempt_deadline_seconds <= 1800
    error_message = "attempt_deadline_seconds must be between 15 and 1800."
  }
}
