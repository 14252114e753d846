"""The bus message contract between the API (publisher) and the pipeline (reader).

Data is the normalised Segment event as JSON. Attributes carry what the pipeline needs
before it parses the body: tenancy, the de-duplication key, and the event time that
``ReadFromPubSub(timestamp_attribute=...)`` turns into the element's Beam timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from variance.core.segment import NormalizedCall
from variance.core.timeutil import format_timestamp

ORG_ID = "org_id"
CONNECTION_ID = "connection_id"
CONNECTION_NAME = "connection_name"
MESSAGE_ID = "message_id"
TYPE = "type"
EVENT_TIME = "event_time"  # RFC 3339; Beam's timestamp_attribute accepts it
# Set on calls the API accepted in a batch but found invalid: they travel to the
# pipeline only so that it records them in dead letters, never as events.
REJECTED = "rejected"

REQUIRED_ATTRIBUTES = (ORG_ID, CONNECTION_ID, CONNECTION_NAME, MESSAGE_ID, TYPE, EVENT_TIME)


@dataclass(frozen=True)
class Source:
    """Who delivered a call: the organisation and connection its secret belongs to."""

    org_id: str
    connection_id: str
    connection_name: str


@dataclass(frozen=True)
class BusMessage:
    data: bytes
    attributes: Mapping[str, str]


def event_message(call: NormalizedCall, source: Source) -> BusMessage:
    return BusMessage(
        data=orjson.dumps(call.event),
        attributes={
            ORG_ID: source.org_id,
            CONNECTION_ID: source.connection_id,
            CONNECTION_NAME: source.connection_name,
            MESSAGE_ID: call.message_id,
            TYPE: call.type,
            EVENT_TIME: format_timestamp(call.event_time),
        },
    )


def rejected_message(raw_call: object, reason: str, message_id: str, received_at: str, source: Source) -> BusMessage:
    """A call from a partly valid batch that broke the spec, bound for dead letters."""
    return BusMessage(
        data=orjson.dumps(raw_call, default=str),
        attributes={
            ORG_ID: source.org_id,
            CONNECTION_ID: source.connection_id,
            CONNECTION_NAME: source.connection_name,
            MESSAGE_ID: message_id,
            TYPE: "rejected",
            EVENT_TIME: received_at,
            REJECTED: reason,
        },
    )
