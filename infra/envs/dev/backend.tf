# Remote state in GCS. State holds no secrets (IAM database authentication means no
# passwords exist), but it is still the map of the deployment: keep the state bucket
# private, versioned and in a separate admin project. Uncomment, set the bucket, then run
# `terraform init -migrate-state`. Alternatively keep this commented and pass
# `terraform init -backend-config="bucket=..." -backend-config="prefix=plant-registry/dev"`
# with an empty `backend "gcs" {}` block.
#
# terraform {
#   backend "gcs" {
#     bucket = "my-terraform-state-bucket"
#     prefix = "plant-registry/dev"
#   }
# }
