"""The product's words, defined once: every enum and table name the parts share.

The ORM, the API schemas (their OpenAPI enums), the engine, the CLI's options and the
warehouse all import these, so a value or a table name is spelt in one place. Each is a
``StrEnum``: it compares equal to, formats as and serialises as the plain string stored in a
database or a row, so ``f"{WarehouseTable.events}"`` is ``events``.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user may do in their organisation."""

    admin = "admin"
    member = "member"


class AccountMapping(StrEnum):
    """How a connection finds a contact's account (DESIGN.md, "Shared contracts")."""

    group = "group"
    identify_traits = "identify_traits"
    email_domain = "email_domain"


class StreamType(StrEnum):
    accounts_contacts = "accounts_contacts"
    event_type = "event_type"


class Visibility(StrEnum):
    personal = "personal"
    team = "team"


class EntityType(StrEnum):
    """What a milestone, tag, view or follow is about."""

    account = "account"
    contact = "contact"


class FavoriteTargetType(StrEnum):
    """What a user may keep among their favorites."""

    view = "view"
    stream = "stream"


class ChangeKind(StrEnum):
    """A milestone change: reached, or no longer held."""

    achieved = "achieved"
    lost = "lost"


class RowStatus(StrEnum):
    """Whether a milestone change or stream match still stands, or a correction took it back."""

    current = "current"
    retracted = "retracted"


class ChangeSource(StrEnum):
    """Which computation wrote a milestone change."""

    streaming = "streaming"
    backfill = "backfill"
    recompute = "recompute"


class MatchedBy(StrEnum):
    """Why an event is in a stream."""

    follow_contact = "follow:contact"
    follow_account = "follow:account"
    selector = "selector"


class Stage(StrEnum):
    """Where a dead letter was written: the stage that could not use the message."""

    ingest = "ingest"
    parse = "parse"
    milestones = "milestones"
    warehouse = "warehouse"
    slack = "slack"


class WarehouseTable(StrEnum):
    """The pipeline's warehouse tables (schemas in ``variance.core.warehouse``)."""

    events = "events"
    contacts = "contacts"
    accounts = "accounts"
    contact_account_links = "contact_account_links"
    identity_links = "identity_links"
    milestone_changes = "milestone_changes"
    stream_matches = "stream_matches"
    dead_letters = "dead_letters"


class ServingTable(StrEnum):
    """The app database's serving tables, which the pipeline keeps for the API to read."""

    contacts = "contacts"
    accounts = "accounts"
    milestone_status = "milestone_status"
    stream_items = "stream_items"
    event_types = "event_types"
    daily_activity = "daily_activity"
    tag_members = "tag_members"


class AppTable(StrEnum):
    """The app database's configuration tables, written by the workspace."""

    organisations = "organisations"
    users = "users"
    api_tokens = "api_tokens"
    connections = "connections"
    streams = "streams"
    stream_selectors = "stream_selectors"
    follows = "follows"
    milestones = "milestones"
    smart_tags = "smart_tags"
    views = "views"
    favorites = "favorites"
    change_stamps = "change_stamps"
    # sign-in for people (the web app): passwords, invite/reset links, sessions, failed attempts
    user_passwords = "user_passwords"
    sign_in_links = "sign_in_links"
    web_sessions = "web_sessions"
    sign_in_failures = "sign_in_failures"
    # Slack (variance.slack): the outbox and sent-log, each stream's delivery status, and
    # each organisation's installation with the single-use OAuth states that start one
    slack_outbox = "slack_outbox"
    slack_stream_status = "slack_stream_status"
    slack_installations = "slack_installations"
    slack_oauth_states = "slack_oauth_states"
    # deleting a contact's data on request: who asked, when, and how far it has gone
    contact_deletions = "contact_deletions"
    # each connection's recent calls for the Integrations page: counts per minute (the API
    # adds them up in memory and writes every few seconds) and the latest rejections
    connection_calls = "connection_calls"
    connection_errors = "connection_errors"


class SlackDelivery(StrEnum):
    """Where a stream match stands in the Slack outbox (``slack_outbox.state``)."""

    pending = "pending"  # waiting for its channel's turn (or a retry's backoff)
    sending = "sending"  # handed to Slack; a restart checks the channel before posting again
    sent = "sent"  # posted as a message of its own
    digested = "digested"  # posted inside a digest of its channel's burst
    dead = "dead"  # a dead letter (stage slack): retried when the stream's status recovers


class SlackStatus(StrEnum):
    """A stream's Slack status as the API shows it."""

    ok = "ok"
    error = "error"  # with Slack's error code and since when
    outbox = "outbox"  # no Slack connected: messages go to the local outbox
