# The app database: PostgreSQL on a private IP only, TLS required, daily backups and
# point-in-time recovery, a standby in a second zone when db_high_availability is on.
resource "google_sql_database_instance" "app" {
  #checkov:skip=CKV_GCP_6:TLS is required by ip_configuration.ssl_mode = ENCRYPTED_ONLY; the check reads require_ssl, which provider 6 replaced with ssl_mode
  #checkov:skip=CKV_GCP_79:the default (var.db_version) is POSTGRES_17; the suite runs on PostgreSQL 15 and nothing here has run on 18 yet: set db_version = "POSTGRES_18" once it has
  #checkov:skip=CKV2_GCP_13:log_duration logs every statement of the API's hot path; Query Insights records latencies instead
  name                = "${var.name_prefix}-app"
  database_version    = var.db_version
  region              = var.region
  deletion_protection = true

  settings {
    tier              = var.db_tier
    edition           = "ENTERPRISE"
    availability_type = var.db_high_availability ? "REGIONAL" : "ZONAL"
    disk_type         = "PD_SSD"
    disk_autoresize   = true
    user_labels       = local.labels

    ip_configuration {
      ipv4_enabled                                  = false
      private_network                               = google_compute_network.main.id
      enable_private_path_for_google_cloud_services = true
      ssl_mode                                      = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      start_time                     = "02:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = var.db_log_retention_days

      backup_retention_settings {
        retained_backups = var.db_backup_retention
        retention_unit   = "COUNT"
      }
    }

    maintenance_window {
      day          = 7
      hour         = 3
      update_track = "stable"
    }

    insights_config {
      query_insights_enabled  = true
      record_application_tags = false
      record_client_address   = false
    }

    # Logging flags for audits (checkov's CIS checks), and a connection ceiling sized
    # for api_max_instances x 30 (SQLAlchemy pool 10 + overflow 20) plus the pipeline.
    database_flags {
      name  = "max_connections"
      value = "800"
    }
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
    database_flags {
      name  = "pgaudit.log"
      value = "ddl,role"
    }
  }

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database" "app" {
  name     = local.database_name
  instance = google_sql_database_instance.app.name
}

resource "google_sql_user" "app" {
  name     = local.database_user
  instance = google_sql_database_instance.app.name
  password = random_password.database.result
}
