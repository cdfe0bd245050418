variable "project_id" {
  type        = string
  description = "Project that owns the network."
}

variable "region" {
  type        = string
  description = "Region of the connector subnet and the Serverless VPC Access connector."
}

variable "name_prefix" {
  type        = string
  description = "Prefix for every resource name, for example registry-dev."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "connector_cidr" {
  type        = string
  description = "A /28 range for the Serverless VPC Access connector subnet (the functions' and the job's egress to the private database IP)."
  default     = "10.8.0.0/28"
  validation {
    condition     = can(cidrhost(var.connector_cidr, 0)) && endswith(var.connector_cidr, "/28")
    error_message = "connector_cidr must be an IPv4 /28 range."
  }
}

variable "private_service_prefix_length" {
  type        = number
  description = "Prefix length of the range reserved for private services access (Cloud SQL's private IP comes from it)."
  default     = 20
  validation {
    condition     = var.private_service_prefix_length >= 16 && var.private_service_prefix_length <= 24
    error_message = "private_service_prefix_length must be between 16 and 24."
  }
}

variable "connector_min_instances" {
  type        = number
  description = "Minimum connector instances (at least 2)."
  default     = 2
  validation {
    condition     = var.connector_min_instances >= 2 && var.connector_min_instances <= 9
    error_message = "connector_min_instances must be between 2 and 9."
  }
}

variable "connector_max_instances" {
  type        = number
  description = "Maximum connector instances (at most 10, more than the minimum)."
  default     = 3
  validation {
    condition     = var.connector_max_instances >= 3 && var.connector_max_instances <= 10
    error_message = "connector_max_instances must be between 3 and 10."
  }
}

variable "connector_machine_type" {
  type        = string
  description = "Machine type of the connector instances."
  default     = "e2-micro"
  validation {
    condition     = contains(["f1-micro", "e2-micro", "e2-standard-4"], var.connector_machine_type)
    error_message = "connector_machine_type must be f1-micro, e2-micro or e2-standard-4."
  }
}
