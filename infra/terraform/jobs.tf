# Jobs: the app-database migrations (run before a new API revision serves) and the
# scheduled dbt build.
resource "google_cloud_run_v2_job" "migrate" {
  name                = local.migrate_job_name
  location            = var.region
  deletion_protection = true
  labels              = local.labels

  template {
    task_count = 1

    template {
      service_account = google_service_account.component["migrate"].email
      max_retries     = 1
      timeout         = "900s"

      vpc_access {
        network_interfaces {
          network    = google_compute_network.main.id
          subnetwork = google_compute_subnetwork.main.id
        }
        egress = "PRIVATE_RANGES_ONLY"
      }

      containers {
        image = var.app_image
        args  = ["db-upgrade"]

        env {
          name = "VARIANCE_DATABASE_URL"
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.database_url.secret_id
              version = "latest"
            }
          }
        }
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.reader,
    google_secret_manager_secret_version.database_url,
    google_sql_database.app,
    google_sql_user.app,
  ]
}

# Runs the migrations job whenever the app image changes, and waits for it, before the
# API and the Slack sender get a revision of that image (they depend on this). Needs
# gcloud where `terraform apply` runs. Migrations must keep working with the revision
# still serving (add columns and tables first, drop them a release later).
resource "terraform_data" "migrate" {
  triggers_replace = [var.app_image, google_cloud_run_v2_job.migrate.id]

  provisioner "local-exec" {
    command = "gcloud run jobs execute ${google_cloud_run_v2_job.migrate.name} --project ${var.project_id} --region ${var.region} --wait"
  }
}

resource "google_cloud_run_v2_job" "dbt" {
  name                = local.dbt_job_name
  location            = var.region
  deletion_protection = true
  labels              = local.labels

  template {
    task_count = 1

    template {
      service_account = google_service_account.component["dbt"].email
      max_retries     = 1
      timeout         = "3600s"

      containers {
        image = var.dbt_image
        args  = ["dbt", "build", "--target", "bigquery"]

        resources {
          limits = {
            cpu    = "1"
            memory = "2Gi"
          }
        }

        env {
          name  = "GOOGLE_CLOUD_PROJECT"
          value = var.project_id
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
          name  = "VARIANCE_DBT_BIGQUERY_DATASET"
          value = google_bigquery_dataset.marts.dataset_id
        }
        env {
          name  = "VARIANCE_BIGQUERY_LOCATION"
          value = var.bigquery_location
        }
      }
    }
  }
}

resource "google_cloud_scheduler_job" "dbt" {
  name        = "${var.name_prefix}-dbt-build"
  description = "Runs the dbt job: variance dbt build --target bigquery."
  region      = var.region
  schedule    = var.dbt_schedule
  time_zone   = var.dbt_time_zone

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${google_cloud_run_v2_job.dbt.name}:run"

    oauth_token {
      service_account_email = google_service_account.component["scheduler"].email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_cloud_run_v2_job_iam_member.scheduler_runs_dbt]
}
