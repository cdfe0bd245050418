output "urls" {
  description = "HTTPS URL of each function."
  value       = { for name, fn in google_cloudfunctions2_function.this : name => fn.url }
}

output "names" {
  description = "Deployed name of each function."
  value       = { for name, fn in google_cloudfunctions2_function.this : name => fn.name }
}

output "bundle_object" {
  description = "gs:// path of the deployed source bundle."
  value       = "gs://${var.source_bucket}/${google_storage_bucket_object.bundle.name}"
}
