# The API (public: Segment's Tracking API and the management API) and the Slack sender
# (internal, exactly one instance so that per-channel rates hold).
resource "google_cloud_run_v2_service" "api" {
  name                = local.api_service_name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = true
  labels              = local.labels

  template {
    service_account                  = google_service_account.component["api"].email
    max_instance_request_concurrency = var.api_concurrency
    timeout                          = "60s"

    scaling {
      min_instance_count = var.api_min_instances
      max_instance_count = var.api_max_instances
    }

    vpc_access {
      network_interfaces {
        network    = google_compute_network.main.id
        subnetwork = google_compute_subnetwork.main.id
      }
      egress = "PRIVATE_RANGES_ONLY" # the database; Google APIs go out directly
    }

    containers {
      image = var.app_image
      # Migrations ran in the migrate job before this revision was created.
      args = ["api", "--host", "0.0.0.0", "--port", "8080", "--no-migrate"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.api_cpu
          memory = var.api_memory
        }
        startup_cpu_boost = true
      }

      env {
        name  = "GOOGLE_CLOUD_PROJECT"
        value = var.project_id
      }
      env {
        name  = "VARIANCE_EVENTS_TOPIC"
        value = google_pubsub_topic.events.name
      }
      env {
        name  = "VARIANCE_PUBLIC_URL"
        value = local.api_public_url
      }
      env {
        name  = "VARIANCE_WAREHOUSE"
        value = "bigquery"
      }
      env {
        name  = "VARIANCE_BIGQUERY_DATASET"
        value = google_bigquery_dataset.warehouse.dataset_id
      }
      env {
        name = "VARIANCE_DATABASE_URL"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.database_url.secret_id
            version = "latest"
          }
        }
      }
      env {
        name = "VARIANCE_TOKEN_ENCRYPTION_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.token_key.secret_id
            version = "latest"
          }
        }
      }
      env {
        name = "VARIANCE_SLACK_SIGNING_SECRET"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.slack_signing_secret.secret_id
            version = "latest"
          }
        }
      }
      env {
        # Not a secret (Slack puts it in every authorize URL); empty turns "Add to Slack" off.
        name  = "VARIANCE_SLACK_CLIENT_ID"
        value = var.slack_client_id
      }
      env {
        name = "VARIANCE_SLACK_CLIENT_SECRET"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.slack_client_secret.secret_id
            version = "latest"
          }
        }
      }

      startup_probe {
        initial_delay_seconds = 2
        period_seconds        = 3
        timeout_seconds       = 2
        failure_threshold     = 20
        http_get {
          path = "/healthz"
        }
      }

      liveness_probe {
        period_seconds    = 30
        timeout_seconds   = 5
        failure_threshold = 3
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [
    terraform_data.migrate,
    google_secret_manager_secret_iam_member.reader,
    google_secret_manager_secret_version.database_url,
  ]
}

resource "google_cloud_run_v2_service" "slack_sender" {
  name                = local.slack_service_name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = true
  labels              = local.labels

  template {
    service_account = google_service_account.component["slack"].email

    # One sender drains the outbox at each channel's rate (about 1 message/s); two
    # instances would each take the full rate. Rollouts briefly overlap two revisions:
    # the sent-log keyed by stream match keeps that from posting twice.
    scaling {
      min_instance_count = 1
      max_instance_count = 1
    }

    vpc_access {
      network_interfaces {
        network    = google_compute_network.main.id
        subnetwork = google_compute_subnetwork.main.id
      }
      egress = "PRIVATE_RANGES_ONLY" # the database privately; slack.com over the internet
    }

    containers {
      image = var.app_image
      args  = ["slack", "sender", "--host", "0.0.0.0", "--port", "8080"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle = false # works between requests: the CPU must stay allocated
      }

      env {
        name  = "GOOGLE_CLOUD_PROJECT"
        value = var.project_id
      }
      env {
        # the buttons in Slack messages open Variance here
        name  = "VARIANCE_PUBLIC_URL"
        value = local.api_public_url
      }
      env {
        # Slack's dead letters join the pipeline's in the warehouse's dead_letters table.
        name  = "VARIANCE_WAREHOUSE"
        value = "bigquery"
      }
      env {
        name  = "VARIANCE_BIGQUERY_DATASET"
        value = google_bigquery_dataset.warehouse.dataset_id
      }
      env {
        name = "VARIANCE_DATABASE_URL"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.database_url.secret_id
            version = "latest"
          }
        }
      }
      env {
        name = "VARIANCE_TOKEN_ENCRYPTION_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.token_key.secret_id
            version = "latest"
          }
        }
      }

      startup_probe {
        period_seconds    = 3
        failure_threshold = 20
        http_get {
          path = "/healthz"
        }
      }

      liveness_probe {
        period_seconds    = 30
        failure_threshold = 3
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [
    terraform_data.migrate,
    google_secret_manager_secret_iam_member.reader,
    google_bigquery_dataset_iam_member.slack_warehouse_editor,
  ]
}
