# Images, the Dataflow staging/temp bucket and the Flex Template specs.
resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption at rest; customer-managed keys (Cloud KMS) are a later choice, see infra/README.md
  repository_id = local.artifact_repository
  location      = var.region
  format        = "DOCKER"
  description   = "Variance images: app, dataflow, dbt."
  labels        = local.labels

  docker_config {
    immutable_tags = true # a tag names one build forever; deploys refer to exact tags
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket" "dataflow" {
  #checkov:skip=CKV_GCP_62:holds only staged packages, temp files and template specs; reads and writes are in Cloud Audit Logs (data access) when enabled
  name                        = "${var.project_id}-${var.name_prefix}-dataflow"
  location                    = var.region
  labels                      = local.labels
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # Staged packages and temp files are only needed while a job starts or runs.
  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }
}

# Flex Template specs: what `gcloud dataflow flex-template build` would write, written by
# Terraform so the spec and its parameters are reviewed with the rest.
resource "google_storage_bucket_object" "streaming_template" {
  bucket       = google_storage_bucket.dataflow.name
  name         = "templates/streaming.json"
  content_type = "application/json"
  content = jsonencode({
    image   = var.dataflow_image
    sdkInfo = { language = "PYTHON" }
    metadata = {
      name        = "Variance signals (streaming)"
      description = "Pub/Sub -> parse -> signals engine -> BigQuery, serving tables, Slack."
      parameters = [
        { name = "pipeline", label = "Pipeline", helpText = "Which pipeline the launcher builds: streaming.", isOptional = false, regexes = ["^streaming$"] },
        { name = "events_subscription", label = "Subscription", helpText = "Pub/Sub subscription name (in the job's project).", isOptional = false },
        { name = "bigquery_dataset", label = "Warehouse dataset", helpText = "BigQuery dataset of the warehouse tables.", isOptional = false },
        { name = "database_url_secret", label = "Database URL secret", helpText = "Secret Manager version holding VARIANCE_DATABASE_URL.", isOptional = false },
        { name = "allowed_lateness", label = "Allowed lateness", helpText = "VARIANCE_ALLOWED_LATENESS, e.g. 3d.", isOptional = true },
        { name = "dedupe_window", label = "De-duplication window", helpText = "VARIANCE_DEDUPE_WINDOW, e.g. 2d.", isOptional = true },
      ]
    }
  })
}

resource "google_storage_bucket_object" "backfill_template" {
  bucket       = google_storage_bucket.dataflow.name
  name         = "templates/backfill.json"
  content_type = "application/json"
  content = jsonencode({
    image   = var.dataflow_image
    sdkInfo = { language = "PYTHON" }
    metadata = {
      name        = "Variance backfill (batch)"
      description = "Segment archive files (JSON lines, .gz too) of one connection through the same engine, as of a time."
      parameters = [
        { name = "pipeline", label = "Pipeline", helpText = "Which pipeline the launcher builds: backfill.", isOptional = false, regexes = ["^backfill$"] },
        { name = "input", label = "Archive files", helpText = "gs:// file pattern(s) of Segment calls, comma-separated.", isOptional = false },
        { name = "connection", label = "Connection id", helpText = "The connection the calls came through.", isOptional = false },
        { name = "as_of", label = "As of", helpText = "RFC 3339 time milestones are computed as of; default now.", isOptional = true },
        { name = "bigquery_dataset", label = "Warehouse dataset", helpText = "BigQuery dataset of the warehouse tables.", isOptional = false },
        { name = "database_url_secret", label = "Database URL secret", helpText = "Secret Manager version holding VARIANCE_DATABASE_URL.", isOptional = false },
        { name = "allowed_lateness", label = "Allowed lateness", helpText = "VARIANCE_ALLOWED_LATENESS, e.g. 3d.", isOptional = true },
      ]
    }
  })
}
