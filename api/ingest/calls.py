"""From a decoded Segment request body to bus messages.

Single-call endpoints are all or nothing: a call that breaks the spec is a 400.

A batch is accepted per call, as Segment's own API does: the valid calls are
published, the invalid ones are listed in the response (index, field, rule) and also
sent to the pipeline's dead letters, so nothing is dropped silently. Rejecting the
whole batch would lose the good calls, because Segment's libraries do not retry a
4xx. Only when no call in the batch is valid does the request fail (400, or 413 when
every bad call was too large).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from variance.api.errors import InvalidInput, PayloadTooLarge, WorkspaceError
from variance.core import bus
from variance.core.segment import MAX_CALL_BYTES, SpecError, call_size, normalize_call
from variance.core.timeutil import format_timestamp


@dataclass(frozen=True)
class Rejection:
    index: int
    message_id: str | None
    field: str
    rule: str
    too_large: bool = False

    @property
    def message(self) -> str:
        return f"{self.field}: {self.rule}"


@dataclass
class Prepared:
    messages: list[bus.BusMessage] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return len(self.messages) - len(self.rejections)


def _spec_error(error: SpecError) -> InvalidInput:
    return InvalidInput(error.field or "body", error.rule)


def prepare_single(
    payload: Any, endpoint_type: str, source: bus.Source, received_at: datetime, *, skew_correct: bool = True
) -> Prepared:
    if not isinstance(payload, dict):
        raise InvalidInput("body", "must be a JSON object")
    try:
        call = normalize_call(
            payload if skew_correct else _without_sent_at(payload),
            received_at=received_at,
            endpoint_type=endpoint_type,
            message_id_seed=source.connection_id,
        )
    except SpecError as exc:
        raise _spec_error(exc) from None
    return Prepared(messages=[bus.event_message(call, source)])


def _without_sent_at(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k != "sentAt"}


def prepare_batch(payload: Any, source: bus.Source, received_at: datetime, *, skew_correct: bool = True) -> Prepared:
    if not isinstance(payload, dict):
        raise InvalidInput("body", "must be a JSON object with a `batch` array")
    calls = payload.get("batch")
    if not isinstance(calls, list):
        raise InvalidInput("batch", "is required and must be an array of calls")
    if not calls:
        raise InvalidInput("batch", "must contain at least one call")
    batch_sent_at = payload.get("sentAt") if skew_correct else None
    if batch_sent_at is not None and not isinstance(batch_sent_at, str):
        raise InvalidInput("sentAt", "must be an ISO-8601 date-time string")
    prepared = Prepared()
    received_text = format_timestamp(received_at)
    for index, raw in enumerate(calls):
        try:
            if call_size(raw) > MAX_CALL_BYTES:
                raise SpecError("", f"must be at most {MAX_CALL_BYTES // 1024} KB (Segment's limit per call)")
            call = normalize_call(
                raw if skew_correct else _without_sent_at(raw) if isinstance(raw, dict) else raw,
                received_at=received_at,
                batch_sent_at=batch_sent_at,
                message_id_seed=source.connection_id,
            )
            prepared.messages.append(bus.event_message(call, source))
        except SpecError as exc:
            err = exc.at(f"batch[{index}]")
            message_id = raw.get("messageId") if isinstance(raw, dict) else None
            message_id = message_id if isinstance(message_id, str) and message_id else None
            rejection = Rejection(index, message_id, err.field, err.rule, too_large="KB" in exc.rule and not exc.field)
            prepared.rejections.append(rejection)
            dead_id = message_id or f"rejected-{received_text}-{index}"
            clean = {k: v for k, v in raw.items() if k != "writeKey"} if isinstance(raw, dict) else raw
            prepared.messages.append(bus.rejected_message(clean, rejection.message, dead_id, received_text, source))
    if prepared.accepted == 0:
        first = prepared.rejections[0]
        error: WorkspaceError
        if all(r.too_large for r in prepared.rejections):
            error = PayloadTooLarge(first.message, field=first.field, rule=first.rule)
        else:
            error = InvalidInput(first.field, first.rule)
            if len(prepared.rejections) > 1:
                error.message += f" (and {len(prepared.rejections) - 1} more invalid calls; none was valid)"
        raise error
    return prepared
