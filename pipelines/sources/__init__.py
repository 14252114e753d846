"""Where the pipelines read from: the durable local Pub/Sub read (Google Pub/Sub on Dataflow is Beam's own)."""
