# The API publishes every accepted Segment call here (data: the event JSON; attributes:
# org_id, connection_id, connection_name, message_id, type and the event time).
resource "google_pubsub_topic" "events" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption at rest; customer-managed keys (Cloud KMS) are a later choice, see infra/README.md
  name                       = local.topic_name
  labels                     = local.labels
  message_retention_duration = var.message_retention # lets a new subscription seek back after an incident

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_project_service.enabled]
}

# The pipeline's subscription. No ordering (Beam orders by event time itself), no
# exactly-once delivery and no dead-letter topic: Dataflow acknowledges a message once
# it is checkpointed and does not support Pub/Sub dead-letter topics or retry policies
# on a subscription it reads (Pub/Sub "Handling message failures" points to Dataflow's
# "unsupported Pub/Sub features"), so such a topic would never receive anything. Bad
# messages land in the warehouse's dead_letters table with their stage and reason.
resource "google_pubsub_subscription" "pipeline" {
  name                         = local.subscription_name
  topic                        = google_pubsub_topic.events.id
  ack_deadline_seconds         = var.ack_deadline_seconds
  message_retention_duration   = var.message_retention
  retain_acked_messages        = false
  enable_message_ordering      = false
  enable_exactly_once_delivery = false

  # Records, for readers of the console, which attribute the pipeline passes to
  # ReadFromPubSub(timestamp_attribute=...) as each element's event time.
  labels = merge(local.labels, { timestamp_attribute = local.bus_event_time_attribute })

  expiration_policy {
    ttl = "" # never expires, even while the pipeline is stopped
  }
}
