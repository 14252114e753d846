# Alerts: the pipeline falling behind, dead letters growing, Slack failing, the API's 5xx
# rate. Each notifies var.notification_channels.
resource "google_monitoring_alert_policy" "pipeline_behind" {
  display_name          = "Variance: pipeline falling behind (oldest unacked message)"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  documentation {
    content   = "The oldest message in ${local.subscription_name} has waited more than ${var.alert_backlog_age_seconds} s. Check the Dataflow job ${local.streaming_job_name}: workers at max_workers, a hot key, or a failing sink. Messages are kept for ${var.message_retention}."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "oldest_unacked_message_age > ${var.alert_backlog_age_seconds}s"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.pipeline.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_backlog_age_seconds
      duration        = "300s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
}

# The parse stage's Beam counter variance/dead_letters, which Dataflow exports as a user
# counter (cumulative per job), so the condition looks at its increase.
resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "Variance: dead letters growing"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  documentation {
    content   = "The pipeline wrote more than ${var.alert_dead_letters_per_minute} dead letters a minute over 10 minutes. Look at the newest rows: select stage, reason, count(*) from ${local.dataset_id}.dead_letters where recorded_at > timestamp_sub(current_timestamp(), interval 1 hour) group by 1, 2."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "dead letters per 10 minutes > ${var.alert_dead_letters_per_minute * 10}"
    condition_prometheus_query_language {
      query    = "sum(increase(dataflow_googleapis_com:job_user_counter{monitored_resource=\"dataflow_job\",job_name=\"${local.streaming_job_name}\",metric_name=\"dead_letters\"}[10m])) > ${var.alert_dead_letters_per_minute * 10}"
      duration = "0s"
    }
  }
}

resource "google_logging_metric" "slack_errors" {
  name        = "${var.name_prefix}-slack-errors"
  description = "Errors posting to Slack: the sender's error logs and the pipeline's failed posts."
  filter      = "(resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.slack_service_name}\" AND severity>=ERROR) OR (resource.type=\"dataflow_step\" AND resource.labels.job_name=\"${local.streaming_job_name}\" AND textPayload:\"posting to Slack failed\")"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
}

resource "google_monitoring_alert_policy" "slack_errors" {
  display_name          = "Variance: Slack errors"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  documentation {
    content   = "Posting to Slack fails (revoked token, missing channel, rate limits). See the logs of ${local.slack_service_name}."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "Slack errors in 5 minutes > 5"
    condition_threshold {
      filter          = "resource.type = \"global\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.slack_errors.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 5
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "api_5xx" {
  display_name          = "Variance: API 5xx rate"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  documentation {
    content   = "More than ${var.alert_api_5xx_ratio * 100}% of the API's responses are 5xx. 503s mean Pub/Sub did not confirm within VARIANCE_PUBLISH_TIMEOUT (Segment retries them); others are bugs or the database."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "5xx / all requests > ${var.alert_api_5xx_ratio}"
    condition_threshold {
      filter             = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${local.api_service_name}\" AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\""
      denominator_filter = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${local.api_service_name}\" AND metric.type = \"run.googleapis.com/request_count\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_api_5xx_ratio
      duration           = "300s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }

      denominator_aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
}
