# State holds the generated database password and token key: keep it in a bucket only
# the deployers can read, e.g.
#   terraform init -backend-config="bucket=acme-terraform-state" -backend-config="prefix=variance"
# (The offline checks in tests/infra load every file but this one: a backend needs init.)
terraform {
  backend "gcs" {}
}
