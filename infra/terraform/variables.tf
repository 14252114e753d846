variable "project_id" {
  description = "Google Cloud project that holds every resource of this deployment."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region for Cloud Run, Cloud SQL, Dataflow, Artifact Registry and the buckets (e.g. europe-west1)."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 or us-central1."
  }
}

variable "bigquery_location" {
  description = "BigQuery dataset location (a region such as europe-west1, or the multi-region EU or US)."
  type        = string
  default     = "EU"

  validation {
    condition     = can(regex("^(EU|US|[a-z]+-[a-z]+[0-9])$", var.bigquery_location))
    error_message = "bigquery_location must be EU, US or a region such as europe-west1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name, so that several deployments can share a project."
  type        = string
  default     = "variance"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,13}$", var.name_prefix))
    error_message = "name_prefix must be 2-14 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "app_image" {
  description = "Image of the API, the migrations job and the Slack sender (infra/docker/app.Dockerfile), by tag or digest."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+-docker\\.pkg\\.dev/.+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$", var.app_image))
    error_message = "app_image must be an Artifact Registry image with an explicit tag or digest (never an implicit latest)."
  }
}

variable "dbt_image" {
  description = "Image of the scheduled dbt job (infra/docker/dbt.Dockerfile), by tag or digest."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+-docker\\.pkg\\.dev/.+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$", var.dbt_image))
    error_message = "dbt_image must be an Artifact Registry image with an explicit tag or digest."
  }
}

variable "dataflow_image" {
  description = "Flex Template launcher image, also the workers' SDK container (infra/docker/dataflow.Dockerfile), by tag or digest."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+-docker\\.pkg\\.dev/.+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$", var.dataflow_image))
    error_message = "dataflow_image must be an Artifact Registry image with an explicit tag or digest."
  }
}

variable "public_url" {
  description = "Public base URL of the API as Segment and users see it (a custom domain); null uses the service's run.app URL."
  type        = string
  default     = null

  validation {
    condition     = var.public_url == null || can(regex("^https://[^/]+$", var.public_url))
    error_message = "public_url must be an https:// origin without a path or trailing slash."
  }
}

variable "slack_client_id" {
  description = "Client ID of the Slack app (Basic Information > App Credentials) for \"Add to Slack\"; empty leaves the install flow off (a single-team bot token can still post)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([0-9]+\\.[0-9]+)?$", var.slack_client_id))
    error_message = "slack_client_id must be empty or a Slack client ID: digits, a dot, digits (e.g. 1234567890.1234567890123)."
  }
}

variable "api_min_instances" {
  description = "Cloud Run minimum instances of the API (1 or more keeps ingestion free of cold starts)."
  type        = number
  default     = 1

  validation {
    condition     = var.api_min_instances >= 0 && var.api_min_instances <= 100
    error_message = "api_min_instances must be between 0 and 100."
  }
}

variable "api_max_instances" {
  description = "Cloud Run maximum instances of the API; bounded so that instances x 30 connections stay under Cloud SQL's max_connections."
  type        = number
  default     = 20

  validation {
    condition     = var.api_max_instances >= 1 && var.api_max_instances <= 100
    error_message = "api_max_instances must be between 1 and 100."
  }
}

variable "api_concurrency" {
  description = "Concurrent requests per API instance (the app is async; publishing is batched across requests)."
  type        = number
  default     = 80

  validation {
    condition     = var.api_concurrency >= 1 && var.api_concurrency <= 1000
    error_message = "api_concurrency must be between 1 and 1000."
  }
}

variable "api_cpu" {
  description = "vCPUs per API instance."
  type        = string
  default     = "2"

  validation {
    condition     = contains(["1", "2", "4", "8"], var.api_cpu)
    error_message = "api_cpu must be 1, 2, 4 or 8."
  }
}

variable "api_memory" {
  description = "Memory per API instance (Cloud Run syntax, e.g. 1Gi)."
  type        = string
  default     = "1Gi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.api_memory))
    error_message = "api_memory must look like 512Mi or 2Gi."
  }
}

variable "ack_deadline_seconds" {
  description = "Ack deadline of the pipeline's subscription (VARIANCE_ACK_DEADLINE); Dataflow extends it while messages are in flight."
  type        = number
  default     = 60

  validation {
    condition     = var.ack_deadline_seconds >= 10 && var.ack_deadline_seconds <= 600
    error_message = "ack_deadline_seconds must be between 10 and 600 (Pub/Sub's limits)."
  }
}

variable "message_retention" {
  description = "How long the topic and the subscription keep messages, e.g. 604800s (7 days): how long the pipeline may be down or behind without loss."
  type        = string
  default     = "604800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.message_retention)) && tonumber(trimsuffix(var.message_retention, "s")) >= 600 && tonumber(trimsuffix(var.message_retention, "s")) <= 604800
    error_message = "message_retention must be between 600s and 604800s (the subscription's limits), written in seconds like 604800s."
  }
}

variable "allowed_lateness" {
  description = "VARIANCE_ALLOWED_LATENESS for the pipeline: how late an event may be and still count for milestones (e.g. 3d)."
  type        = string
  default     = "3d"

  validation {
    condition     = can(regex("^[0-9]+(s|m|h|d)$", var.allowed_lateness))
    error_message = "allowed_lateness must be a duration such as 90m, 12h or 3d."
  }
}

variable "dedupe_window" {
  description = "VARIANCE_DEDUPE_WINDOW for the pipeline: how long message ids are remembered (e.g. 2d)."
  type        = string
  default     = "2d"

  validation {
    condition     = can(regex("^[0-9]+(s|m|h|d)$", var.dedupe_window))
    error_message = "dedupe_window must be a duration such as 12h or 2d."
  }
}

variable "dataflow_machine_type" {
  description = "Dataflow worker machine type of the streaming pipeline."
  type        = string
  default     = "n2-standard-2"

  validation {
    condition     = can(regex("^[a-z0-9]+-[a-z]+-[0-9]+$", var.dataflow_machine_type))
    error_message = "dataflow_machine_type must be a Compute Engine machine type such as n2-standard-2."
  }
}

variable "dataflow_max_workers" {
  description = "Upper bound for Dataflow's autoscaling of the streaming pipeline (its cost ceiling)."
  type        = number
  default     = 10

  validation {
    condition     = var.dataflow_max_workers >= 1 && var.dataflow_max_workers <= 1000
    error_message = "dataflow_max_workers must be between 1 and 1000."
  }
}

variable "dataflow_num_workers" {
  description = "Workers the streaming pipeline starts with (autoscaling moves between this and dataflow_max_workers)."
  type        = number
  default     = 1

  validation {
    condition     = var.dataflow_num_workers >= 1 && var.dataflow_num_workers <= 1000
    error_message = "dataflow_num_workers must be between 1 and 1000."
  }
}

variable "run_streaming_pipeline" {
  description = "Launch the streaming Flex Template job. Off for the first apply, when the images and template may not exist yet."
  type        = bool
  default     = true
}

variable "db_tier" {
  description = "Cloud SQL machine tier of the app database (e.g. db-custom-2-7680)."
  type        = string
  default     = "db-custom-2-7680"

  validation {
    condition     = can(regex("^db-(custom-[0-9]+-[0-9]+|perf-optimized-N-[0-9]+|g1-small|f1-micro)$", var.db_tier))
    error_message = "db_tier must be a Cloud SQL tier such as db-custom-2-7680."
  }
}

variable "db_version" {
  description = "Cloud SQL PostgreSQL major version."
  type        = string
  default     = "POSTGRES_17"

  validation {
    condition     = contains(["POSTGRES_15", "POSTGRES_16", "POSTGRES_17", "POSTGRES_18"], var.db_version)
    error_message = "db_version must be POSTGRES_15, POSTGRES_16, POSTGRES_17 or POSTGRES_18."
  }
}

variable "db_high_availability" {
  description = "Run the app database as a regional (high-availability) instance with a standby in a second zone."
  type        = bool
  default     = true
}

variable "db_backup_retention" {
  description = "Number of daily backups Cloud SQL keeps."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention >= 1 && var.db_backup_retention <= 365
    error_message = "db_backup_retention must be between 1 and 365."
  }
}

variable "db_log_retention_days" {
  description = "Days of write-ahead log kept for point-in-time recovery."
  type        = number
  default     = 7

  validation {
    condition     = var.db_log_retention_days >= 1 && var.db_log_retention_days <= 7
    error_message = "db_log_retention_days must be between 1 and 7."
  }
}

variable "network_cidr" {
  description = "Primary range of the subnet used by Dataflow workers and Cloud Run's direct VPC egress."
  type        = string
  default     = "10.20.0.0/20"

  validation {
    condition     = can(cidrnetmask(var.network_cidr))
    error_message = "network_cidr must be an IPv4 CIDR block such as 10.20.0.0/20."
  }
}

variable "dbt_schedule" {
  description = "Cron schedule (Cloud Scheduler syntax, in dbt_time_zone) of `variance dbt build --target bigquery`."
  type        = string
  default     = "17 * * * *"

  validation {
    condition     = length(split(" ", var.dbt_schedule)) == 5
    error_message = "dbt_schedule must be a five-field cron expression such as \"17 * * * *\"."
  }
}

variable "dbt_time_zone" {
  description = "Time zone of dbt_schedule (IANA name)."
  type        = string
  default     = "Etc/UTC"

  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.dbt_time_zone))
    error_message = "dbt_time_zone must be an IANA time zone name such as Etc/UTC or Europe/Paris."
  }
}

variable "notification_channels" {
  description = "Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) that every alert notifies."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[0-9]+$", c))])
    error_message = "Each notification channel must be a full id: projects/PROJECT/notificationChannels/NUMBER."
  }
}

variable "alert_backlog_age_seconds" {
  description = "Alert when the subscription's oldest unacknowledged message is older than this: the pipeline is falling behind."
  type        = number
  default     = 300

  validation {
    condition     = var.alert_backlog_age_seconds >= 60
    error_message = "alert_backlog_age_seconds must be at least 60."
  }
}

variable "alert_dead_letters_per_minute" {
  description = "Alert when the pipeline writes more dead-letter rows than this per minute (over 10 minutes)."
  type        = number
  default     = 10

  validation {
    condition     = var.alert_dead_letters_per_minute > 0
    error_message = "alert_dead_letters_per_minute must be positive."
  }
}

variable "alert_api_5xx_ratio" {
  description = "Alert when this fraction of the API's responses are 5xx over 5 minutes (0.01 = 1%)."
  type        = number
  default     = 0.01

  validation {
    condition     = var.alert_api_5xx_ratio > 0 && var.alert_api_5xx_ratio < 1
    error_message = "alert_api_5xx_ratio must be between 0 and 1."
  }
}

variable "labels" {
  description = "Labels added to every resource that takes labels."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "Label keys and values must be lower-case letters, digits, underscores or hyphens (keys start with a letter)."
  }
}
