"""Typed rows: one record per warehouse table, checked against its schema when imported.

The engine, the parsers, the restart and the sinks build rows through these records, so a
misspelt, missing or extra column is a ``TypeError`` in the first unit test that builds
one (and a type-checker error before that), not a row the warehouse rejects. Each record's
fields are the columns of its table in ``variance.core.warehouse``, in order: required
columns have no default, nullable ones default to None, and the field types follow the
column types (``_checked_against`` raises at import otherwise).

``as_row()`` gives the ``(table, row)`` pair the sinks take; ``from_row`` reads a row back
as a reader returns it. Values are plain ``str``/``int``/``bool``: pass an enum's
``.value``, as ``variance.core.warehouse.invalid_reason`` rejects anything else.

Two records are not warehouse tables: :class:`ActivityRecord` (what the engine hands to
the daily activity counts) and :class:`DailyActivityRecord` (their result, a serving
table's row).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, TypeVar

import orjson

from variance.core.vocabulary import ServingTable, Stage
from variance.core.warehouse import (
    ACCOUNTS,
    CONTACT_ACCOUNT_LINKS,
    CONTACTS,
    DEAD_LETTERS,
    EVENTS,
    IDENTITY_LINKS,
    MILESTONE_CHANGES,
    STREAM_MATCHES,
    Row,
    Table,
    stable_hash,
)

# The engine's rows for the daily activity counts: never written anywhere as they are.
ACTIVITY = "activity"

_PYTHON_ANNOTATIONS = {"STRING": "str", "INT64": "int", "BOOL": "bool", "TIMESTAMP": "int", "JSON": "str"}

R = TypeVar("R", bound="Record")


class SchemaMismatchError(TypeError):
    """A record whose fields are not its table's columns."""


class Record:
    """A row of one table; subclasses are keyword-only dataclasses."""

    table_name: ClassVar[str]

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()

    def as_row(self) -> Row:
        return (self.table_name, self.__dict__.copy())

    @classmethod
    def from_row(cls: type[R], row: Mapping[str, Any]) -> R:
        """A row as a reader returns it (every column); an unknown column raises."""
        return cls(**row)


class WarehouseRecord(Record):
    table: ClassVar[Table]


def _checked_against(table: Table) -> Callable[[type[R]], type[R]]:
    """Bind a record class to ``table`` after checking its fields against the columns."""

    def check(cls: type[R]) -> type[R]:
        found = fields(cls)  # type: ignore[arg-type]  # cls is a dataclass; the TypeVar cannot say so
        names = tuple(f.name for f in found)
        if names != table.column_names:
            raise SchemaMismatchError(f"{cls.__name__} has fields {names}, table {table.name} has {table.column_names}")
        for f, column in zip(found, table.columns, strict=True):
            expected = _PYTHON_ANNOTATIONS[column.type] + ("" if column.required else " | None")
            has_default = f.default is not MISSING or f.default_factory is not MISSING
            if f.type != expected or has_default == column.required:
                raise SchemaMismatchError(
                    f"{cls.__name__}.{f.name} must be `{expected}`"
                    + (" without a default" if column.required else " = None")
                    + f" (column {column.name} is {column.type}, {'required' if column.required else 'nullable'})"
                )
        cls.table = table  # type: ignore[attr-defined]  # bound for WarehouseRecord subclasses
        cls.table_name = table.name
        return cls

    return check


@_checked_against(EVENTS)
@dataclass(kw_only=True)
class EventRecord(WarehouseRecord):
    org_id: str
    message_id: str
    connection_id: str
    connection_name: str
    type: str
    kind: str | None = None
    name: str | None = None
    event_time: int
    received_at: int
    user_id: str | None = None
    anonymous_id: str | None = None
    contact_id: str | None = None
    account_id: str | None = None
    group_id: str | None = None
    properties: str | None = None
    traits: str | None = None
    context: str | None = None
    raw: str
    recorded_at: int


@_checked_against(CONTACTS)
@dataclass(kw_only=True)
class ContactRecord(WarehouseRecord):
    org_id: str
    contact_id: str
    message_id: str
    event_time: int
    user_id: str | None = None
    anonymous_id: str | None = None
    name: str | None = None
    email: str | None = None
    traits: str | None = None
    recorded_at: int


@_checked_against(ACCOUNTS)
@dataclass(kw_only=True)
class AccountRecord(WarehouseRecord):
    org_id: str
    account_id: str
    message_id: str
    event_time: int
    name: str | None = None
    domain: str | None = None
    traits: str | None = None
    source: str
    recorded_at: int


@_checked_against(CONTACT_ACCOUNT_LINKS)
@dataclass(kw_only=True)
class ContactAccountLinkRecord(WarehouseRecord):
    org_id: str
    contact_id: str
    account_id: str
    linked_at: int
    message_id: str
    method: str
    recorded_at: int


@_checked_against(IDENTITY_LINKS)
@dataclass(kw_only=True)
class IdentityLinkRecord(WarehouseRecord):
    org_id: str
    anonymous_id: str
    user_id: str
    linked_at: int
    message_id: str
    recorded_at: int


@_checked_against(MILESTONE_CHANGES)
@dataclass(kw_only=True)
class MilestoneChangeRecord(WarehouseRecord):
    org_id: str
    change_id: str
    milestone_id: str
    milestone_version: int
    milestone_name: str
    entity_type: str
    entity_id: str
    kind: str
    changed_at: int
    count: int
    status: str
    source: str
    recorded_at: int


@_checked_against(STREAM_MATCHES)
@dataclass(kw_only=True)
class StreamMatchRecord(WarehouseRecord):
    org_id: str
    stream_id: str
    message_id: str
    event_time: int
    kind: str
    name: str | None = None
    contact_id: str | None = None
    account_id: str | None = None
    matched_by: str
    status: str
    recorded_at: int


@_checked_against(DEAD_LETTERS)
@dataclass(kw_only=True)
class DeadLetterRecord(WarehouseRecord):
    org_id: str | None = None
    dead_letter_id: str
    stage: str
    reason: str
    message_id: str | None = None
    payload: str | None = None
    attributes: str | None = None
    recorded_at: int


def dead_letter(
    org_id: str | None,
    stage: Stage,
    reason: str,
    message_id: str | None,
    payload: object,
    recorded_at: int,
    attributes: dict | None = None,
    *,
    key: str | None = None,
) -> DeadLetterRecord:
    """A message (or row) a stage could not use, with the reason. Its id is derived from
    the stage, the organisation and ``key`` (default: the message id, else the payload),
    so writing it twice is harmless."""
    text = (
        payload
        if isinstance(payload, str)
        else payload.decode("utf-8", "replace")
        if isinstance(payload, bytes)
        else orjson.dumps(payload).decode()
    )
    return DeadLetterRecord(
        org_id=org_id,
        dead_letter_id=stable_hash(stage.value, org_id or "", key or message_id or stable_hash(text)),
        stage=stage.value,
        reason=reason,
        message_id=message_id,
        payload=text,
        attributes=orjson.dumps(attributes or {}).decode(),
        recorded_at=recorded_at,
    )


@dataclass(kw_only=True)
class ActivityRecord(Record):
    """One event of an entity, for the daily activity counts (``transforms/activity.py``)."""

    table_name: ClassVar[str] = ACTIVITY
    org_id: str
    entity_type: str
    entity_id: str
    kind: str
    name: str
    event_time: int


@dataclass(kw_only=True)
class DailyActivityRecord(Record):
    """A day's running count of one entity's events of one type (a serving table's row)."""

    table_name: ClassVar[str] = ServingTable.daily_activity.value
    org_id: str
    entity_type: str
    entity_id: str
    day: str  # ISO date of the UTC day
    kind: str
    name: str
    count: int
