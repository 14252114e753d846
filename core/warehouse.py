"""The warehouse schema: one definition read by the BigQuery writer, the local (DuckDB
over Parquet) writer, dbt's sources and Terraform alike.

Every row carries ``org_id`` and a key derived only from its inputs (``Table.key``), so
writing the same row twice is harmless: BigQuery gets the key as the insert id, the
local lake and dbt keep the newest row per key. Tables whose rows can change status
(milestone changes and stream matches are retracted when an out-of-order event corrects
history) are resolved the same way: the newest row for a key is the current one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from variance.core.vocabulary import WarehouseTable

ColumnType = Literal["STRING", "INT64", "BOOL", "TIMESTAMP", "JSON"]

# A row as the pipeline hands it to a sink: (table name, {column: value}). TIMESTAMP values
# are int microseconds since the epoch (UTC), JSON values are JSON text. Built through the
# typed records in ``variance.core.rows``.
Row = tuple[str, dict[str, Any]]

# The Python type of each column type's values in a row (``type(value)`` exactly: a bool is
# not an INT64, an enum member is not a STRING).
PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "STRING": (str,),
    "INT64": (int,),
    "BOOL": (bool,),
    "TIMESTAMP": (int,),
    "JSON": (str,),
}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    partition_by: str  # a TIMESTAMP column; BigQuery partitions by its day
    cluster_by: tuple[str, ...] = ("org_id",)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name: str, type_: ColumnType, required: bool = False, description: str = "") -> Column:
    return Column(name, type_, required, description)


_ORG = _c("org_id", "STRING", True, "Organisation the row belongs to")
_RECORDED = _c("recorded_at", "TIMESTAMP", True, "When the pipeline wrote the row; the newest row per key wins")

EVENTS = Table(
    WarehouseTable.events.value,
    "Every accepted Segment call, as the pipeline attributed it to a contact and account.",
    (
        _ORG,
        _c("message_id", "STRING", True, "Segment messageId: with org_id, the key"),
        _c("connection_id", "STRING", True),
        _c("connection_name", "STRING", True),
        _c("type", "STRING", True, "Segment call type: track, page, screen, identify, group, alias"),
        _c("kind", "STRING", False, "Event kind: Page, Screen, Action, Identify, Group (null for alias)"),
        _c("name", "STRING", False, "Track event name for Action events"),
        _c("event_time", "TIMESTAMP", True, "Segment timestamp, corrected for clock skew"),
        _c("received_at", "TIMESTAMP", True),
        _c("user_id", "STRING"),
        _c("anonymous_id", "STRING"),
        _c("contact_id", "STRING", False, "The contact as of the event time, when the pipeline saw it"),
        _c("account_id", "STRING", False, "The account as of the event time, when the pipeline saw it"),
        _c("group_id", "STRING", False, "context.groupId, or the groupId of a group call"),
        _c("properties", "JSON", False, "Track/page/screen properties"),
        _c("traits", "JSON", False, "Identify/group traits"),
        _c("context", "JSON"),
        _c("raw", "JSON", True, "The whole call as received"),
        _RECORDED,
    ),
    key=("org_id", "message_id"),
    partition_by="event_time",
)

CONTACTS = Table(
    WarehouseTable.contacts.value,
    "One row per identify call: a contact's traits as of that call.",
    (
        _ORG,
        _c("contact_id", "STRING", True),
        _c("message_id", "STRING", True),
        _c("event_time", "TIMESTAMP", True),
        _c("user_id", "STRING"),
        _c("anonymous_id", "STRING"),
        _c("name", "STRING"),
        _c("email", "STRING"),
        _c("traits", "JSON"),
        _RECORDED,
    ),
    key=("org_id", "message_id"),
    partition_by="event_time",
)

ACCOUNTS = Table(
    WarehouseTable.accounts.value,
    "One row per call that named an account (group call, identify traits or email domain).",
    (
        _ORG,
        _c("account_id", "STRING", True),
        _c("message_id", "STRING", True),
        _c("event_time", "TIMESTAMP", True),
        _c("name", "STRING"),
        _c("domain", "STRING"),
        _c("traits", "JSON"),
        _c("source", "STRING", True, "group | identify_traits | email_domain"),
        _RECORDED,
    ),
    key=("org_id", "account_id", "message_id"),
    partition_by="event_time",
)

CONTACT_ACCOUNT_LINKS = Table(
    WarehouseTable.contact_account_links.value,
    "A contact belongs to an account from linked_at on (until a later link).",
    (
        _ORG,
        _c("contact_id", "STRING", True),
        _c("account_id", "STRING", True),
        _c("linked_at", "TIMESTAMP", True),
        _c("message_id", "STRING", True),
        _c("method", "STRING", True, "group | identify_traits | email_domain"),
        _RECORDED,
    ),
    key=("org_id", "contact_id", "account_id", "message_id"),
    partition_by="linked_at",
)

IDENTITY_LINKS = Table(
    WarehouseTable.identity_links.value,
    "An anonymousId (or alias previousId) is the user from linked_at on.",
    (
        _ORG,
        _c("anonymous_id", "STRING", True),
        _c("user_id", "STRING", True),
        _c("linked_at", "TIMESTAMP", True),
        _c("message_id", "STRING", True),
        _RECORDED,
    ),
    key=("org_id", "anonymous_id", "user_id", "message_id"),
    partition_by="linked_at",
)

MILESTONE_CHANGES = Table(
    WarehouseTable.milestone_changes.value,
    "A milestone reached or lost by a contact or account; retracted when corrected.",
    (
        _ORG,
        _c("change_id", "STRING", True, "Hash of org, milestone, version, entity, kind and time"),
        _c("milestone_id", "STRING", True),
        _c("milestone_version", "INT64", True),
        _c("milestone_name", "STRING", True),
        _c("entity_type", "STRING", True, "contact | account"),
        _c("entity_id", "STRING", True),
        _c("kind", "STRING", True, "achieved | lost"),
        _c("changed_at", "TIMESTAMP", True),
        _c("count", "INT64", True, "Matching events counted just after the change"),
        _c("status", "STRING", True, "current | retracted"),
        _c("source", "STRING", True, "streaming | backfill | recompute"),
        _RECORDED,
    ),
    key=("org_id", "change_id"),
    partition_by="changed_at",
)

STREAM_MATCHES = Table(
    WarehouseTable.stream_matches.value,
    "An event (or milestone change) routed into a stream.",
    (
        _ORG,
        _c("stream_id", "STRING", True),
        _c("message_id", "STRING", True, "The event's messageId, or the milestone change_id"),
        _c("event_time", "TIMESTAMP", True),
        _c("kind", "STRING", True),
        _c("name", "STRING"),
        _c("contact_id", "STRING"),
        _c("account_id", "STRING"),
        _c("matched_by", "STRING", True, "follow:contact | follow:account | selector"),
        _c("status", "STRING", True, "current | retracted"),
        _RECORDED,
    ),
    key=("org_id", "stream_id", "message_id"),
    partition_by="event_time",
)

DEAD_LETTERS = Table(
    WarehouseTable.dead_letters.value,
    "Messages the pipeline could not use, or events it skipped for a stage, with the reason.",
    (
        _c("org_id", "STRING", False),
        _c("dead_letter_id", "STRING", True, "Hash of stage, org and message id (or payload)"),
        _c("stage", "STRING", True, "ingest | parse | milestones | warehouse | slack"),
        _c("reason", "STRING", True),
        _c("message_id", "STRING"),
        _c("payload", "STRING", False, "The message as received"),
        _c("attributes", "JSON"),
        _RECORDED,
    ),
    key=("dead_letter_id",),
    partition_by="recorded_at",
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        EVENTS,
        CONTACTS,
        ACCOUNTS,
        CONTACT_ACCOUNT_LINKS,
        IDENTITY_LINKS,
        MILESTONE_CHANGES,
        STREAM_MATCHES,
        DEAD_LETTERS,
    )
}


def invalid_reason(table: Table, row: dict) -> str | None:
    """Why ``row`` cannot be written to ``table`` (None when it can). JSON text is not
    parsed here; each back end checks it the way its warehouse will."""
    if not isinstance(row, dict):
        return f"a row must be a dict, got {type(row).__name__}"
    unknown = row.keys() - set(table.column_names)
    if unknown:
        return f"unknown columns {sorted(unknown)}"
    for column in table.columns:
        value = row.get(column.name)
        if value is None:
            if column.required:
                return f"column {column.name} is required"
            continue
        if type(value) not in PYTHON_TYPES[column.type]:
            return f"column {column.name} ({column.type}) got {type(value).__name__}"
        if type(value) is int and not _INT64_MIN <= value <= _INT64_MAX:
            return f"column {column.name} ({column.type}) is out of the 64-bit range"
    return None


def row_key(table: Table, row: dict) -> str:
    """The row's key as one string (BigQuery insert id, local de-duplication)."""
    return stable_hash(*(str(row.get(column) or "") for column in table.key))


def stable_hash(*parts: str) -> str:
    """A short, stable id derived only from its inputs."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]
