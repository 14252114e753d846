"""Segment's Tracking API spec: what a valid call looks like and how we normalise it.

The API validates every call with these functions before publishing it, and the
pipeline validates again when it parses a bus message, so both agree on what "valid"
means. Errors name the field and the rule (``SpecError``), never a stack trace.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from variance.core.timeutil import TimestampError, format_timestamp, parse_timestamp

CALL_TYPES = ("track", "identify", "page", "screen", "group", "alias")
# Segment's documented limits.
MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
# Segment does not document a depth limit; 32 levels is far beyond real analytics
# payloads and keeps every recursive consumer (json encoders, BigQuery JSON) safe.
MAX_DEPTH = 32
MAX_ID_CHARS = 1024
MAX_INTEGER_DIGITS = 19  # fits a signed 64-bit integer, which every warehouse can store

_OBJECT_FIELDS = ("context", "properties", "traits", "integrations")
_LONG_DIGITS = re.compile(rb"\d{%d,}" % (MAX_INTEGER_DIGITS + 1))


class SpecError(ValueError):
    """A call that breaks the spec: ``field`` is a dotted path, ``rule`` says what is required."""

    def __init__(self, field: str, rule: str):
        super().__init__(field, rule)
        self.field = field
        self.rule = rule

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"

    def at(self, prefix: str) -> SpecError:
        return SpecError(f"{prefix}.{self.field}" if self.field else prefix, self.rule)


def loads_untrusted(body: bytes) -> Any:
    """Parse JSON from the outside world.

    orjson rejects invalid UTF-8, lone surrogates, NaN/Infinity and numbers that
    overflow a double. It silently turns integers wider than 64 bits into floats,
    which would corrupt ids, so a body with a long run of digits is re-checked with
    the standard parser, which reports such integers exactly.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        reason = str(exc).split(":", 1)[0]
        raise SpecError("body", f"must be valid JSON in UTF-8 ({reason})") from None
    _check_depth(value)
    if _LONG_DIGITS.search(body):
        # Rare: only bodies with a long run of digits (often inside a string) pay this.
        json.loads(body, parse_int=_checked_int)
    return value


def _checked_int(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise SpecError("body", f"integers must fit in 64 bits (at most {MAX_INTEGER_DIGITS} digits)")
    return value


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SpecError("body", f"must not nest objects or arrays more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))


def _identifier(call: Mapping[str, Any], field: str, *, required: bool = False) -> str | None:
    """Segment ids are strings; libraries also send numbers, which Segment stringifies."""
    value = call.get(field)
    if value is None or value == "":
        if required:
            raise SpecError(field, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SpecError(field, "must be a string")
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    if len(text) > MAX_ID_CHARS:
        raise SpecError(field, f"must be at most {MAX_ID_CHARS} characters")
    return text


def _optional_time(call: Mapping[str, Any], field: str) -> datetime | None:
    value = call.get(field)
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise SpecError(field, str(exc)) from None


def _optional_string(call: Mapping[str, Any], field: str) -> None:
    value = call.get(field)
    if value is not None and not isinstance(value, str):
        raise SpecError(field, "must be a string")


@dataclass(frozen=True)
class NormalizedCall:
    """A valid call ready for the bus: the event JSON and what the attributes need."""

    event: dict[str, Any]
    type: str
    message_id: str
    event_time: datetime


def normalize_call(
    call: Any,
    *,
    received_at: datetime,
    endpoint_type: str | None = None,
    batch_sent_at: Any = None,
    message_id_seed: str = "",
) -> NormalizedCall:
    """Validate one Segment call and return the event we publish.

    - ``type`` comes from the endpoint for single calls, from the call in a batch.
    - ``receivedAt`` is ours. When the client sent ``sentAt`` (on the call or the
      batch) and a ``timestamp``, the timestamp is corrected for device clock skew as
      Segment does: ``timestamp = receivedAt - (sentAt - originalTimestamp)``, and the
      client's value is kept as ``originalTimestamp``. Without ``timestamp`` the event
      happened when we received it.
    - A missing ``messageId`` is generated. When the client set its own timestamp the
      id is derived from the call's content, so a client that retries an identical
      call is de-duplicated downstream; otherwise it is random.
    - ``writeKey`` is removed: a secret never travels on the bus.
    """
    if not isinstance(call, dict):
        raise SpecError("", "each call must be a JSON object")
    call_type = call.get("type")
    if endpoint_type is not None:
        if call_type is not None and call_type != endpoint_type:
            raise SpecError("type", f"must be '{endpoint_type}' on the /v1/{endpoint_type} endpoint")
        call_type = endpoint_type
    if call_type not in CALL_TYPES:
        raise SpecError("type", "must be one of " + ", ".join(CALL_TYPES))

    user_id = _identifier(call, "userId", required=call_type == "alias")
    anonymous_id = _identifier(call, "anonymousId")
    if call_type != "alias" and user_id is None and anonymous_id is None:
        raise SpecError("userId", "either userId or anonymousId is required")
    for field in _OBJECT_FIELDS:
        value = call.get(field)
        if value is not None and not isinstance(value, dict):
            raise SpecError(field, "must be an object")
    if call_type == "track":
        event = call.get("event")
        if not isinstance(event, str) or not event.strip():
            raise SpecError("event", "is required for track calls and must be a non-empty string")
        if len(event) > MAX_ID_CHARS:
            raise SpecError("event", f"must be at most {MAX_ID_CHARS} characters")
    elif call_type in ("page", "screen"):
        _optional_string(call, "name")
        _optional_string(call, "category")
    elif call_type == "group":
        group_id = _identifier(call, "groupId", required=True)
    elif call_type == "alias":
        previous_id = _identifier(call, "previousId", required=True)
    message_id = _identifier(call, "messageId")

    timestamp = _optional_time(call, "timestamp")
    sent_at = _optional_time(call, "sentAt")
    if sent_at is None and batch_sent_at is not None:
        sent_at = _optional_time({"sentAt": batch_sent_at}, "sentAt")
    _optional_time(call, "originalTimestamp")

    event_out = {k: v for k, v in call.items() if k != "writeKey"}
    event_out["type"] = call_type
    for field, value in (("userId", user_id), ("anonymousId", anonymous_id)):
        if value is not None:
            event_out[field] = value
    if call_type == "group":
        event_out["groupId"] = group_id
    if call_type == "alias":
        event_out["previousId"] = previous_id
    if message_id is None:
        message_id = _generated_message_id(call, message_id_seed) if timestamp is not None else f"api-{uuid.uuid4()}"
    event_out["messageId"] = message_id
    event_out["receivedAt"] = format_timestamp(received_at)
    if timestamp is None:
        event_time = received_at
    elif sent_at is not None:
        event_time = received_at - (sent_at - timestamp)
        event_out["originalTimestamp"] = call["timestamp"]
        event_out["sentAt"] = format_timestamp(sent_at)
    else:
        event_time = timestamp
    event_out["timestamp"] = format_timestamp(event_time)
    return NormalizedCall(event=event_out, type=call_type, message_id=message_id, event_time=event_time)


def _generated_message_id(call: Mapping[str, Any], seed: str) -> str:
    content = orjson.dumps(
        {k: v for k, v in call.items() if k not in ("sentAt", "writeKey")}, option=orjson.OPT_SORT_KEYS
    )
    return "gen-" + hashlib.sha256(seed.encode() + b"\0" + content).hexdigest()[:32]


def call_size(call: Any) -> int:
    """Bytes of one call as compact JSON: what the 32 KB limit applies to."""
    return len(orjson.dumps(call))
