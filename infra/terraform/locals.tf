# Every name in one place. Generated values (the warehouse tables and the bus's event-time
# attribute) are in warehouse_tables.tf, written by infra/generate_terraform.py.
locals {
  labels = merge(var.labels, { app = "variance", deployment = var.name_prefix })

  topic_name        = "${var.name_prefix}-segment-events"
  subscription_name = "${var.name_prefix}-pipeline"
  dataset_id        = replace("${var.name_prefix}_warehouse", "-", "_")
  dbt_dataset_id    = replace("${var.name_prefix}_marts", "-", "_")

  api_service_name    = "${var.name_prefix}-api"
  slack_service_name  = "${var.name_prefix}-slack-sender"
  migrate_job_name    = "${var.name_prefix}-migrate"
  dbt_job_name        = "${var.name_prefix}-dbt"
  streaming_job_name  = "${var.name_prefix}-signals"
  database_name       = "variance"
  database_user       = "variance"
  artifact_repository = "${var.name_prefix}-images"

  # The run.app URL is deterministic (SERVICE-PROJECT_NUMBER.REGION.run.app), which lets
  # the service know its own public URL without a dependency cycle.
  api_public_url = coalesce(var.public_url, "https://${local.api_service_name}-${data.google_project.this.number}.${var.region}.run.app")

  # One service account per component; iam.tf grants each only what it needs.
  components = {
    api       = "Variance API (ingestion and management) on Cloud Run"
    migrate   = "Variance app-database migrations (Cloud Run job)"
    pipeline  = "Variance signals pipeline (Dataflow launcher and workers)"
    dbt       = "Variance dbt build (Cloud Run job)"
    slack     = "Variance Slack sender (Cloud Run, one instance)"
    scheduler = "Cloud Scheduler caller of the dbt job"
  }

  # What the pipeline's Flex Template launcher turns into settings (infra/dataflow/launch.py).
  pipeline_parameters = {
    events_subscription = google_pubsub_subscription.pipeline.name
    bigquery_dataset    = google_bigquery_dataset.warehouse.dataset_id
    database_url_secret = "${google_secret_manager_secret.database_url.id}/versions/latest"
    allowed_lateness    = var.allowed_lateness
    dedupe_window       = var.dedupe_window
  }
}

data "google_project" "this" {
  project_id = var.project_id
}
