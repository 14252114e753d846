"""Event kinds and event-type references: what milestones count, what Event Type
streams carry, what smart tags count. One definition for the API, the pipeline and dbt.

Segment calls map to kinds as the Segment destination describes: page -> ``Page``,
screen -> ``Screen``, track -> ``Action`` named by the track event, identify ->
``Identify`` (and a contact upsert), group -> ``Group`` (and an account upsert). A
milestone reached or lost is an event of kind ``Milestone`` named by the milestone; an
account or contact entering or leaving a smart tag is an event of kind ``Tag`` named by
the tag (written by the serving sink, ``variance.pipelines.sinks.serving``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from variance.core import bus
from variance.core.segment import MAX_CALL_BYTES, SpecError, normalize_call
from variance.core.timeutil import TimestampError, parse_timestamp, to_micros


class EventKind(str, Enum):
    page = "Page"
    screen = "Screen"
    action = "Action"
    identify = "Identify"
    group = "Group"
    milestone = "Milestone"
    tag = "Tag"


# Kinds whose event types are told apart by name; the others are one type each.
# What the API publishes is the call it accepted (at most MAX_CALL_BYTES) plus the fields
# it fills in (receivedAt, a messageId, the type): a message larger than this did not come
# through the API, and holding it would cost every later step.
MAX_BUS_DATA_BYTES = MAX_CALL_BYTES + 2048

NAMED_KINDS = frozenset({EventKind.action, EventKind.milestone, EventKind.tag})

SEGMENT_TYPE_TO_KIND = {
    "page": EventKind.page,
    "screen": EventKind.screen,
    "track": EventKind.action,
    "identify": EventKind.identify,
    "group": EventKind.group,
}


class EventTypeRef(BaseModel):
    """One event type: a kind, and for Action, Milestone and Tag the name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: EventKind
    name: str | None = Field(
        None, min_length=1, max_length=1024, description="Required for Action (the track event), Milestone and Tag"
    )

    @model_validator(mode="after")
    def _name_matches_kind(self) -> EventTypeRef:
        if self.kind in NAMED_KINDS and not self.name:
            raise ValueError(f"name is required for {self.kind.value} event types")
        if self.kind not in NAMED_KINDS and self.name is not None:
            raise ValueError(f"{self.kind.value} event types have no name; leave name out")
        return self

    @property
    def catalog_name(self) -> str:
        """The name as the catalog stores it ('' for unnamed kinds)."""
        return self.name or ""

    def label(self) -> str:
        return f"{self.kind.value}: {self.name}" if self.name else self.kind.value


# --- Parsed events, as the pipeline sees them --------------------------------------------


class ParseError(ValueError):
    """A bus message or archive line the pipeline cannot turn into an event."""


@dataclass(slots=True)
class SignalEvent:
    """One Segment call, typed, with the fields every stage needs.

    Times are int microseconds. ``properties`` is what property filters read: the
    properties of track/page/screen calls, the traits of identify/group calls.
    """

    org_id: str
    connection_id: str
    connection_name: str
    message_id: str
    type: str
    event_time: int
    received_at: int
    user_id: str | None = None
    anonymous_id: str | None = None
    group_id: str | None = None
    previous_id: str | None = None
    name: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> EventKind | None:
        return SEGMENT_TYPE_TO_KIND.get(self.type)

    @property
    def event_name(self) -> str | None:
        """The event type's name: the track event for Action, else None."""
        return self.name if self.type == "track" else None

    @property
    def filter_properties(self) -> dict[str, Any]:
        return self.traits if self.type in ("identify", "group") else self.properties


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def event_from_call(
    call: Mapping[str, Any], source: bus.Source, event_time_us: int, received_at_us: int
) -> SignalEvent:
    """A SignalEvent from a normalised call (the API already validated and normalised it)."""
    call_type = call["type"]
    context = call.get("context") or {}
    group_id = _text(call.get("groupId")) if call_type == "group" else _text(context.get("groupId"))
    return SignalEvent(
        org_id=source.org_id,
        connection_id=source.connection_id,
        connection_name=source.connection_name,
        message_id=call["messageId"],
        type=call_type,
        event_time=event_time_us,
        received_at=received_at_us,
        user_id=_text(call.get("userId")),
        anonymous_id=_text(call.get("anonymousId")),
        group_id=group_id,
        previous_id=_text(call.get("previousId")),
        name=call.get("event") if call_type == "track" else call.get("name"),
        properties=call.get("properties") or {},
        traits=call.get("traits") or {},
        context=context,
        raw=dict(call),
    )


def parse_bus_message(data: bytes, attributes: Mapping[str, str]) -> SignalEvent:
    """A bus message (as the API publishes it) as a SignalEvent; ParseError says why not."""
    missing = [a for a in bus.REQUIRED_ATTRIBUTES if not attributes.get(a)]
    if missing:
        raise ParseError(f"attributes {', '.join(missing)} are missing")
    if attributes.get(bus.REJECTED):
        raise ParseError(f"rejected by the API: {attributes[bus.REJECTED]}")
    if len(data) > MAX_BUS_DATA_BYTES:
        raise ParseError(
            f"data is {len(data)} bytes: more than Segment's limit of {MAX_CALL_BYTES // 1024} KB per call "
            "(and the fields the API adds)"
        )
    try:
        call = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"data is not JSON ({exc})") from None
    if not isinstance(call, dict):
        raise ParseError("data must be a JSON object")
    source = bus.Source(attributes[bus.ORG_ID], attributes[bus.CONNECTION_ID], attributes[bus.CONNECTION_NAME])
    try:
        event_time = to_micros(parse_timestamp(attributes[bus.EVENT_TIME]))
    except TimestampError as exc:
        raise ParseError(f"attribute {bus.EVENT_TIME}: {exc}") from None
    try:
        # Validated again: the bus may carry messages from other publishers.
        normalized = normalize_call(
            call, received_at=parse_timestamp(call.get("receivedAt") or attributes[bus.EVENT_TIME])
        )
        received_at = to_micros(parse_timestamp(normalized.event["receivedAt"]))
    except (SpecError, TimestampError) as exc:
        raise ParseError(str(exc)) from None
    if normalized.message_id != attributes[bus.MESSAGE_ID]:
        raise ParseError("attribute message_id does not match the data's messageId")
    event = dict(call)
    event["type"] = normalized.type
    return event_from_call(event, source, event_time, received_at)


def parse_archive_line(call: Any, source: bus.Source) -> SignalEvent:
    """A call from a Segment archive (JSON lines): already processed by Segment, so its
    ``timestamp`` is the event time and ``receivedAt`` (if any) when Segment received it."""
    if not isinstance(call, dict):
        raise ParseError("each line must be a JSON object")
    try:
        received = parse_timestamp(call["receivedAt"]) if call.get("receivedAt") else None
        timestamp = parse_timestamp(call["timestamp"]) if call.get("timestamp") else received
        if timestamp is None:
            raise ParseError("timestamp: is required in archived calls")
        trusted = {k: v for k, v in call.items() if k != "sentAt"}  # already corrected by Segment
        normalized = normalize_call(trusted, received_at=received or timestamp)
    except (SpecError, TimestampError) as exc:
        raise ParseError(str(exc)) from None
    return event_from_call(normalized.event, source, to_micros(normalized.event_time), to_micros(received or timestamp))
