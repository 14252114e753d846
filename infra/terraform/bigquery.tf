# The warehouse the pipeline writes (raw tables, from core/warehouse.py through the
# generated warehouse_tables.tf) and the dataset dbt builds its models in.
resource "google_bigquery_dataset" "warehouse" {
  #checkov:skip=CKV_GCP_81:Google-managed encryption at rest; customer-managed keys (Cloud KMS) are a later choice, see infra/README.md
  dataset_id    = local.dataset_id
  friendly_name = "Variance warehouse"
  description   = "Rows the Variance pipeline writes; schema from core/warehouse.py."
  location      = var.bigquery_location
  labels        = local.labels

  delete_contents_on_destroy = false
  depends_on                 = [google_project_service.enabled]
}

resource "google_bigquery_dataset" "marts" {
  #checkov:skip=CKV_GCP_81:Google-managed encryption at rest; customer-managed keys (Cloud KMS) are a later choice, see infra/README.md
  dataset_id    = local.dbt_dataset_id
  friendly_name = "Variance marts"
  description   = "Models dbt builds from the warehouse dataset (dbt/)."
  location      = var.bigquery_location
  labels        = local.labels

  delete_contents_on_destroy = false
  depends_on                 = [google_project_service.enabled]
}

resource "google_bigquery_table" "warehouse" {
  #checkov:skip=CKV_GCP_80:Google-managed encryption at rest; customer-managed keys (Cloud KMS) are a later choice, see infra/README.md
  for_each = local.warehouse_tables

  dataset_id          = google_bigquery_dataset.warehouse.dataset_id
  table_id            = each.key
  description         = each.value.description
  labels              = local.labels
  deletion_protection = true
  clustering          = each.value.cluster_by
  schema              = jsonencode(each.value.schema)

  time_partitioning {
    type  = "DAY"
    field = each.value.partition_by
  }

  # The row key, declared (BigQuery does not enforce it): the pipeline sends it as the
  # insert id, and dbt keeps the newest row per key.
  table_constraints {
    primary_key {
      columns = each.value.key
    }
  }
}
