output "api_url" {
  description = "The API's public base URL: point Segment sources (apiHost) and the Variance destination's webhook at it."
  value       = local.api_public_url
}

output "api_run_url" {
  description = "The Cloud Run URL of the API service as Cloud Run reports it."
  value       = google_cloud_run_v2_service.api.uri
}

output "events_topic" {
  description = "Pub/Sub topic the API publishes Segment calls to (VARIANCE_EVENTS_TOPIC)."
  value       = google_pubsub_topic.events.id
}

output "pipeline_subscription" {
  description = "Pub/Sub subscription the streaming pipeline reads (VARIANCE_EVENTS_SUBSCRIPTION)."
  value       = google_pubsub_subscription.pipeline.id
}

output "warehouse_dataset" {
  description = "BigQuery dataset of the warehouse tables (VARIANCE_BIGQUERY_DATASET)."
  value       = "${var.project_id}.${google_bigquery_dataset.warehouse.dataset_id}"
}

output "marts_dataset" {
  description = "BigQuery dataset dbt builds its models in."
  value       = "${var.project_id}.${google_bigquery_dataset.marts.dataset_id}"
}

output "image_repository" {
  description = "Artifact Registry path to push the app, dataflow and dbt images to."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "streaming_template" {
  description = "gs:// path of the streaming Flex Template spec."
  value       = "gs://${google_storage_bucket.dataflow.name}/${google_storage_bucket_object.streaming_template.name}"
}

output "backfill_template" {
  description = "gs:// path of the batch backfill Flex Template spec (launch it with gcloud, see infra/README.md)."
  value       = "gs://${google_storage_bucket.dataflow.name}/${google_storage_bucket_object.backfill_template.name}"
}

output "pipeline_parameters" {
  description = "Parameters the pipeline templates take, as deployed (no secrets: the database URL is a secret version name)."
  value       = local.pipeline_parameters
}

output "pipeline_service_account" {
  description = "Service account of the Dataflow launcher and workers (also for backfill launches)."
  value       = google_service_account.component["pipeline"].email
}

output "database_instance" {
  description = "Cloud SQL instance connection name of the app database."
  value       = google_sql_database_instance.app.connection_name
}
