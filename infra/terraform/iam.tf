# One service account per component, each granted only what it needs, on the resource
# itself wherever the role allows it (the table is in infra/README.md).
resource "google_service_account" "component" {
  for_each = local.components

  account_id   = "${var.name_prefix}-${each.key}"
  display_name = each.value
}

locals {
  sa = { for k, v in google_service_account.component : k => "serviceAccount:${v.email}" }
}

# -- API: publish to the topic, read its four secrets.
resource "google_pubsub_topic_iam_member" "api_publisher" {
  topic  = google_pubsub_topic.events.id
  role   = "roles/pubsub.publisher"
  member = local.sa.api
}

# -- Pipeline: read its subscription (viewer lets Dataflow read the backlog for its
# watermark and autoscaling), write the warehouse, run as a Dataflow worker.
resource "google_pubsub_subscription_iam_member" "pipeline_subscriber" {
  subscription = google_pubsub_subscription.pipeline.id
  role         = "roles/pubsub.subscriber"
  member       = local.sa.pipeline
}

resource "google_pubsub_subscription_iam_member" "pipeline_viewer" {
  subscription = google_pubsub_subscription.pipeline.id
  role         = "roles/pubsub.viewer"
  member       = local.sa.pipeline
}

resource "google_bigquery_dataset_iam_member" "pipeline_warehouse_editor" {
  dataset_id = google_bigquery_dataset.warehouse.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.sa.pipeline
}

# roles/dataflow.worker has no resource-level binding: it is granted on the project.
resource "google_project_iam_member" "pipeline_dataflow_worker" {
  project = var.project_id
  role    = "roles/dataflow.worker"
  member  = local.sa.pipeline
}

resource "google_storage_bucket_iam_member" "pipeline_dataflow_bucket" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.objectAdmin"
  member = local.sa.pipeline
}

resource "google_artifact_registry_repository_iam_member" "pipeline_images" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = local.sa.pipeline
}

# -- dbt: read the warehouse, build the marts, run query jobs (a project-level role).
resource "google_bigquery_dataset_iam_member" "dbt_warehouse_viewer" {
  dataset_id = google_bigquery_dataset.warehouse.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = local.sa.dbt
}

resource "google_bigquery_dataset_iam_member" "dbt_marts_editor" {
  dataset_id = google_bigquery_dataset.marts.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.sa.dbt
}

resource "google_project_iam_member" "dbt_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = local.sa.dbt
}

# -- Slack sender: its dead letters (stage slack) go to the warehouse's dead_letters table
# by streaming inserts, which need bigquery.tables.updateData on the dataset and no query
# job, so no roles/bigquery.jobUser.
resource "google_bigquery_dataset_iam_member" "slack_warehouse_editor" {
  dataset_id = google_bigquery_dataset.warehouse.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.sa.slack
}

# -- Secrets, per secret: who reads which.
locals {
  secret_readers = {
    api_database_url      = { secret = google_secret_manager_secret.database_url.id, member = local.sa.api }
    api_token_key         = { secret = google_secret_manager_secret.token_key.id, member = local.sa.api }
    api_slack_signing     = { secret = google_secret_manager_secret.slack_signing_secret.id, member = local.sa.api }
    api_slack_client      = { secret = google_secret_manager_secret.slack_client_secret.id, member = local.sa.api }
    migrate_database_url  = { secret = google_secret_manager_secret.database_url.id, member = local.sa.migrate }
    pipeline_database_url = { secret = google_secret_manager_secret.database_url.id, member = local.sa.pipeline }
    slack_database_url    = { secret = google_secret_manager_secret.database_url.id, member = local.sa.slack }
    slack_token_key       = { secret = google_secret_manager_secret.token_key.id, member = local.sa.slack }
  }
}

resource "google_secret_manager_secret_iam_member" "reader" {
  for_each = local.secret_readers

  secret_id = each.value.secret
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member
}

# -- Cloud Scheduler may start the dbt job, and nothing else.
resource "google_cloud_run_v2_job_iam_member" "scheduler_runs_dbt" {
  name     = google_cloud_run_v2_job.dbt.name
  location = google_cloud_run_v2_job.dbt.location
  role     = "roles/run.invoker"
  member   = local.sa.scheduler
}

# -- The API is public: Segment's servers and libraries call it without Google
# credentials; every request is authenticated by the application (write key, API token).
resource "google_cloud_run_v2_service_iam_member" "api_public" {
  name     = google_cloud_run_v2_service.api.name
  location = google_cloud_run_v2_service.api.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}
