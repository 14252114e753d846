"""The product's words, defined once: every enum and table name the parts share.

The ORM, the API schemas (their OpenAPI enums), the engine, the CLI's options and the
warehouse all import these, so a value or a table name is spelt in one place. Each enum is a
``str`` enum so it compares equal to the plain string stored in a database or a row.
"""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    """What a user may do in their organisation."""

    admin = "admin"
    member = "member"


class AccountMapping(str, Enum):
    """How a connection finds a contact's account (DESIGN.md, "Shared contracts")."""

    group = "group"
    identify_traits = "identify_traits"
    email_domain = "email_domain"


class StreamType(str, Enum):
    accounts_contacts = "accounts_contacts"
    event_type = "event_type"


class Visibility(str, Enum):
    personal = "personal"
    team = "team"


class EntityType(str, Enum):
    """What a milestone, tag, view or follow is about."""

    account = "account"
    contact = "contact"


class ChangeKind(str, Enum):
    """A milestone change: reached, or no longer held."""

    achieved = "achieved"
    lost = "lost"


class RowStatus(str, Enum):
    """Whether a milestone change or stream match still stands, or a correction took it back."""

    current = "current"
    retracted = "retracted"


class ChangeSource(str, Enum):
    """Which computation wrote a milestone change."""

    streaming = "streaming"
    backfill = "backfill"
    recompute = "recompute"


class MatchedBy(str, Enum):
    """Why an event is in a stream."""

    follow_contact = "follow:contact"
    follow_account = "follow:account"
    selector = "selector"


class Stage(str, Enum):
    """Where a dead letter was written: the stage that could not use the message."""

    ingest = "ingest"
    parse = "parse"
    milestones = "milestones"
    warehouse = "warehouse"
    slack = "slack"


class WarehouseTable(str, Enum):
    """The pipeline's warehouse tables (schemas in ``variance.core.warehouse``)."""

    events = "events"
    contacts = "contacts"
    accounts = "accounts"
    contact_account_links = "contact_account_links"
    identity_links = "identity_links"
    milestone_changes = "milestone_changes"
    stream_matches = "stream_matches"
    dead_letters = "dead_letters"


class ServingTable(str, Enum):
    """The app database's serving tables, which the pipeline keeps for the API to read."""

    contacts = "contacts"
    accounts = "accounts"
    milestone_status = "milestone_status"
    stream_items = "stream_items"
    event_types = "event_types"
    daily_activity = "daily_activity"
    tag_members = "tag_members"


class AppTable(str, Enum):
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
