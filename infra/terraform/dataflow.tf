# The streaming pipeline as a Flex Template job (spec in storage.tf, image from
# infra/docker/dataflow.Dockerfile). The backfill is launched on demand from the batch
# spec (infra/README.md, "Backfill"), not kept in Terraform state: a finished batch job
# would show up as a change on every plan.
#
# Changing a parameter or the image updates the running job in place (Dataflow's update,
# which keeps state when the graph is compatible); destroying it drains it, so in-flight
# messages finish and nothing already read is lost.
resource "google_dataflow_flex_template_job" "streaming" {
  count    = var.run_streaming_pipeline ? 1 : 0
  provider = google-beta

  name                    = local.streaming_job_name
  region                  = var.region
  container_spec_gcs_path = "gs://${google_storage_bucket.dataflow.name}/${google_storage_bucket_object.streaming_template.name}"
  on_delete               = "drain"
  labels                  = local.labels

  parameters = merge(local.pipeline_parameters, { pipeline = "streaming" })

  service_account_email   = google_service_account.component["pipeline"].email
  network                 = google_compute_network.main.self_link
  subnetwork              = google_compute_subnetwork.main.self_link
  ip_configuration        = "WORKER_IP_PRIVATE"
  temp_location           = "gs://${google_storage_bucket.dataflow.name}/temp"
  staging_location        = "gs://${google_storage_bucket.dataflow.name}/staging"
  sdk_container_image     = var.dataflow_image
  enable_streaming_engine = true
  autoscaling_algorithm   = "THROUGHPUT_BASED"
  num_workers             = var.dataflow_num_workers
  max_workers             = var.dataflow_max_workers
  machine_type            = var.dataflow_machine_type
  launcher_machine_type   = "n2-standard-2"
  additional_experiments  = ["enable_stackdriver_agent_metrics"]

  depends_on = [
    google_project_iam_member.pipeline_dataflow_worker,
    google_pubsub_subscription_iam_member.pipeline_subscriber,
    google_pubsub_subscription_iam_member.pipeline_viewer,
    google_bigquery_dataset_iam_member.pipeline_warehouse_editor,
    google_bigquery_table.warehouse,
    google_secret_manager_secret_iam_member.reader,
    google_storage_bucket_iam_member.pipeline_dataflow_bucket,
    google_artifact_registry_repository_iam_member.pipeline_images,
  ]
}
