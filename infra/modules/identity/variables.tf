variable "project_id" {
  type        = string
  description = "Project that owns the service accounts."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the service account ids (at most 20 characters)."
}

variable "function_names" {
  type        = set(string)
  description = "Functions that each get their own runtime service account."
}

variable "sql_instance_name" {
  type        = string
  description = "Cloud SQL instance the runtime and migrator accounts may connect to; their Cloud SQL roles are conditioned on it."
}

variable "project_number" {
  type        = string
  description = "Project number (names the Cloud Functions staging bucket gcf-v2-sources-NUMBER-REGION)."
}

variable "region" {
  type        = string
  description = "Region of the functions (names the staging bucket)."
}
