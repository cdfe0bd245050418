output "instance_name" {
  description = "Name of the Cloud SQL instance."
  value       = google_sql_database_instance.this.name
}

output "instance_connection_name" {
  description = "project:region:instance, the value of INSTANCE_CONNECTION_NAME."
  value       = google_sql_database_instance.this.connection_name
}

output "private_ip_address" {
  description = "Private IP of the instance."
  value       = google_sql_database_instance.this.private_ip_address
}

output "database_name" {
  description = "Name of the application database (DB_NAME)."
  value       = google_sql_database.registry.name
}

output "runtime_db_users" {
  description = "IAM database user of each function, keyed by function name."
  value       = { for name, user in google_sql_user.runtime : name => user.name }
}

output "migrator_db_user" {
  description = "IAM database user of the migration job."
  value       = google_sql_user.migrator.name
}
