"""The one settings definition, read by the API, the pipeline, the CLI and dbt tooling.

Every value comes from an environment variable (CLI flags set the same variables), so
choosing between the local stack and Google Cloud never means editing code.
"""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from variance.core.durations import parse_duration


class WarehouseTarget(str, Enum):
    local = "local"
    bigquery = "bigquery"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    google_cloud_project: str = Field(
        "variance-local",
        alias="GOOGLE_CLOUD_PROJECT",
        description="project of the Pub/Sub topic, BigQuery and Dataflow (any name works on the emulator)",
    )
    events_topic: str = Field(
        "segment-events",
        alias="VARIANCE_EVENTS_TOPIC",
        description="Pub/Sub topic the API publishes accepted calls to",
    )
    events_subscription: str = Field(
        "variance-pipeline",
        alias="VARIANCE_EVENTS_SUBSCRIPTION",
        description="Pub/Sub subscription the streaming pipeline reads",
    )
    pubsub_emulator_host: str | None = Field(
        None,
        alias="PUBSUB_EMULATOR_HOST",
        description="`host:port` of Google's Pub/Sub emulator; unset means Google Cloud",
    )
    database_url: str | None = Field(
        None,
        alias="VARIANCE_DATABASE_URL",
        description="the app database, e.g. `postgresql://user@host/db`; unset means a SQLite file `VARIANCE_DATA_DIR/variance.db`",
    )
    data_dir: Path = Field(
        Path(".variance"),
        alias="VARIANCE_DATA_DIR",
        description="everything local: app database, warehouse lake (and dbt's marts), Slack outbox, the running pipeline's `pipeline-state.json` (pid, phase, counts; what tests and the demo wait on)",
    )
    warehouse: WarehouseTarget = Field(
        WarehouseTarget.local,
        alias="VARIANCE_WAREHOUSE",
        description="warehouse target: the local Parquet lake read through DuckDB, or BigQuery",
    )
    bigquery_dataset: str = Field(
        "variance",
        alias="VARIANCE_BIGQUERY_DATASET",
        description="BigQuery dataset of the pipeline's tables (dbt's sources)",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        alias="VARIANCE_PUBLIC_URL",
        description="base of the webhook URLs shown for connections and of the links in Slack messages; `https://` makes session cookies Secure",
    )
    publish_timeout_s: float = Field(
        5.0,
        alias="VARIANCE_PUBLISH_TIMEOUT",
        gt=0,
        le=60,
        description="seconds the API waits for Pub/Sub to confirm before answering 503",
    )
    allowed_lateness_text: str = Field(
        "3d",
        alias="VARIANCE_ALLOWED_LATENESS",
        description="how late an event may be and still count for milestones; later ones are dead letters of stage `milestones` (a duration: `90m`, `12h`, `3d`)",
    )
    # Long enough for the redeliveries and client re-sends seen in practice (Segment's
    # libraries retry for hours, Pub/Sub redelivers within its ack deadline); older
    # duplicates are still harmless in the warehouse, whose rows are keyed.
    dedupe_window_text: str = Field(
        "2d",
        alias="VARIANCE_DEDUPE_WINDOW",
        description="how long the pipeline remembers message ids for de-duplication (a duration: `90m`, `12h`, `3d`)",
    )
    config_refresh_s: float = Field(
        30.0,
        alias="VARIANCE_CONFIG_REFRESH",
        gt=0,
        le=60,
        description="seconds between re-reads of configuration by the running pipeline",
    )
    # How long Pub/Sub waits for an acknowledgement before redelivering; the local
    # pipeline extends it while work is in flight, so it only matters after a crash.
    ack_deadline_s: int = Field(
        60,
        alias="VARIANCE_ACK_DEADLINE",
        ge=10,
        le=600,
        description="Pub/Sub ack deadline of the pipeline's subscription, in seconds (extended while work is in flight)",
    )
    slack_token: str | None = Field(
        None,
        alias="VARIANCE_SLACK_TOKEN",
        repr=False,
        description="a single team's bot token, used only for the organisation named by `VARIANCE_SLACK_TOKEN_ORG` (the demo, one-team setups); other organisations install Slack",
    )
    slack_api_url: str | None = Field(
        None,
        alias="VARIANCE_SLACK_API_URL",
        description="where `slack-sdk` sends calls; unset means Slack's own (a test's fake Slack sets it)",
    )
    # The demo's or a single team's bot token stands in for an installation of one
    # organisation only (its id here), never for every organisation.
    slack_token_org: str | None = Field(
        None,
        alias="VARIANCE_SLACK_TOKEN_ORG",
        description="the organisation id `VARIANCE_SLACK_TOKEN` belongs to",
    )
    # Fernet keys for bot tokens at rest, comma-separated: the first encrypts, every one
    # decrypts (rotation: put the new key first, re-encrypt, then drop the old one).
    token_encryption_key: str | None = Field(
        None,
        alias="VARIANCE_TOKEN_ENCRYPTION_KEY",
        repr=False,
        description="Fernet key(s), comma-separated, for bot tokens at rest: the first encrypts, all decrypt",
    )
    slack_signing_secret: str | None = Field(
        None,
        alias="VARIANCE_SLACK_SIGNING_SECRET",
        repr=False,
        description="the secret Slack signs its callbacks (events, buttons) with",
    )
    slack_client_id: str | None = Field(
        None,
        alias="VARIANCE_SLACK_CLIENT_ID",
        description="the Slack app's OAuth client id",
    )
    slack_client_secret: str | None = Field(
        None,
        alias="VARIANCE_SLACK_CLIENT_SECRET",
        repr=False,
        description="the Slack app's OAuth client secret",
    )
    # Slack takes about one message per second per channel (short bursts pass); the
    # workspace-wide pace keeps many busy channels of one team from tripping its limits.
    slack_channel_rate: float = Field(
        1.0,
        alias="VARIANCE_SLACK_CHANNEL_RATE",
        gt=0,
        le=10,
        description="messages per second per Slack channel",
    )
    slack_workspace_rate: float = Field(
        4.0,
        alias="VARIANCE_SLACK_WORKSPACE_RATE",
        gt=0,
        le=50,
        description="messages per second per Slack workspace",
    )
    # More than this many matches waiting for one channel become one digest.
    slack_digest_after: int = Field(
        10,
        alias="VARIANCE_SLACK_DIGEST_AFTER",
        ge=1,
        le=1000,
        description="more matches than this waiting for one channel go as one digest",
    )
    slack_max_attempts: int = Field(
        5,
        alias="VARIANCE_SLACK_MAX_ATTEMPTS",
        ge=1,
        le=20,
        description="tries of a post failing transiently before it is a dead letter",
    )
    # The sent-log must outlive any redelivery or restart catch-up (which reaches one day back).
    slack_sent_retention_text: str = Field(
        "3d",
        alias="VARIANCE_SLACK_SENT_RETENTION",
        description="how long the sent-log keeps a posted match's key (a duration: `90m`, `12h`, `3d`)",
    )

    @field_validator("allowed_lateness_text", "dedupe_window_text", "slack_sent_retention_text")
    @classmethod
    def _lateness_is_a_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def allowed_lateness(self) -> timedelta:
        return parse_duration(self.allowed_lateness_text)

    @property
    def dedupe_window(self) -> timedelta:
        return parse_duration(self.dedupe_window_text)

    @property
    def slack_sent_retention(self) -> timedelta:
        return parse_duration(self.slack_sent_retention_text)

    @property
    def resolved_database_url(self) -> str:
        """The app database: ``VARIANCE_DATABASE_URL``, else a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'variance.db').resolve()}"

    @property
    def uses_emulator(self) -> bool:
        return bool(self.pubsub_emulator_host)

    @property
    def topic_path(self) -> str:
        return f"projects/{self.google_cloud_project}/topics/{self.events_topic}"

    @property
    def subscription_path(self) -> str:
        return f"projects/{self.google_cloud_project}/subscriptions/{self.events_subscription}"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "slack-outbox.jsonl"


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment; keyword overrides use the environment variable names."""
    return Settings(**overrides)  # type: ignore[arg-type]
