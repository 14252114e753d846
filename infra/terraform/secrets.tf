# Secrets. The database password and the token-encryption key are generated here (so they
# are in Terraform state: keep the state bucket private); the Slack signing secret and the
# Slack app's client secret come from the Slack app's settings page and are added by hand
# (infra/README.md, step 4), so they are never in Terraform state.
resource "random_password" "database" {
  length  = 40
  special = false # it goes into a URL
}

resource "random_id" "token_key" {
  byte_length = 32
}

resource "google_secret_manager_secret" "database_password" {
  secret_id = "${var.name_prefix}-database-password"
  labels    = local.labels

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "database_password" {
  secret      = google_secret_manager_secret.database_password.id
  secret_data = random_password.database.result
}

# VARIANCE_DATABASE_URL as the programs read it: the password above inside a URL to the
# private IP. TLS is required by the instance (ssl_mode ENCRYPTED_ONLY).
resource "google_secret_manager_secret" "database_url" {
  secret_id = "${var.name_prefix}-database-url"
  labels    = local.labels

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "database_url" {
  secret      = google_secret_manager_secret.database_url.id
  secret_data = "postgresql://${local.database_user}:${random_password.database.result}@${google_sql_database_instance.app.private_ip_address}:5432/${local.database_name}?sslmode=require"
}

resource "google_secret_manager_secret" "token_key" {
  secret_id = "${var.name_prefix}-token-encryption-key"
  labels    = local.labels

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "token_key" {
  secret      = google_secret_manager_secret.token_key.id
  secret_data = random_id.token_key.b64_url
}

resource "google_secret_manager_secret" "slack_signing_secret" {
  secret_id = "${var.name_prefix}-slack-signing-secret"
  labels    = local.labels

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

# The Slack app's client secret, for the "Add to Slack" exchange (oauth.v2.access); only
# the API reads it.
resource "google_secret_manager_secret" "slack_client_secret" {
  secret_id = "${var.name_prefix}-slack-client-secret"
  labels    = local.labels

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.enabled]
}
