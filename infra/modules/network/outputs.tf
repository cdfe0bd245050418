output "network_id" {
  description = "Id of the VPC network (projects/P/global/networks/N), for Cloud SQL's private_network."
  value       = google_compute_network.this.id
}

output "connector_id" {
  description = "Id of the Serverless VPC Access connector the functions and the job egress through."
  value       = google_vpc_access_connector.this.id
}

output "private_services_network" {
  description = "The network id, read from the service networking connection so that Cloud SQL is created only after the peering exists."
  value       = google_service_networking_connection.private_services.network
}
