# A private network for the registry: Cloud SQL gets a private IP through private services
# access (service networking peering), and the functions and the migration job reach it
# through a Serverless VPC Access connector. Nothing here has a public address.

resource "google_compute_network" "this" {
  project                 = var.project_id
  name                    = "${var.name_prefix}-vpc"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

# Nothing is served from this network: deny all ingress explicitly (and log it) instead of
# relying on the implied rule. The connector's own health-check rules, which Google
# creates at priority 1000, still apply.
resource "google_compute_firewall" "deny_all_ingress" {
  project       = var.project_id
  name          = "${var.name_prefix}-deny-all-ingress"
  network       = google_compute_network.this.id
  direction     = "INGRESS"
  priority      = 65534
  source_ranges = ["0.0.0.0/0"]

  deny {
    protocol = "all"
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_subnetwork" "connector" {
  project                  = var.project_id
  name                     = "${var.name_prefix}-connector"
  region                   = var.region
  network                  = google_compute_network.this.id
  ip_cidr_range            = var.connector_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_SEC"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# The range Cloud SQL draws its private IP from.
resource "google_compute_global_address" "private_services" {
  project       = var.project_id
  name          = "${var.name_prefix}-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = var.private_service_prefix_length
  network       = google_compute_network.this.id
}

# ABANDON: the peering cannot be deleted while Cloud SQL still uses it (and the
# instance outlives Terraform on purpose), so a destroy leaves it to Google to remove
# with the producer instances instead of failing half-way.
resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.this.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
  deletion_policy         = "ABANDON"
}

resource "google_vpc_access_connector" "this" {
  project       = var.project_id
  name          = "${var.name_prefix}-cx"
  region        = var.region
  machine_type  = var.connector_machine_type
  min_instances = var.connector_min_instances
  max_instances = var.connector_max_instances

  subnet {
    name = google_compute_subnetwork.connector.name
  }

  lifecycle {
    precondition {
      condition     = var.connector_max_instances > var.connector_min_instances
      error_message = "connector_max_instances must be greater than connector_min_instances."
    }
  }
}
