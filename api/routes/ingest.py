"""Segment's HTTP Tracking API (``/v1/track`` ... ``/v1/batch``) and the destination
webhook. Segment's own client libraries work unchanged when their host is this API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from variance.api.errors import (
    InvalidInput,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    WorkspaceError,
    error_body,
    responses,
)
from variance.api.ingest.auth import basic_user, bearer_token
from variance.api.ingest.body import read_limited
from variance.api.ingest.calls import Prepared, prepare_batch, prepare_single
from variance.api.responses import JsonResponse
from variance.api.schemas.ingest import CALL_MODELS, Batch, IngestResponse
from variance.clients.pubsub import PublishUnavailable
from variance.core.bus import Source
from variance.core.segment import MAX_BATCH_BYTES, MAX_CALL_BYTES, SpecError, loads_untrusted
from variance.workspace import connection_calls

router = APIRouter(tags=["ingestion"])
_ERRORS = responses(InvalidInput, Unauthorized, PayloadTooLarge, Unavailable)
_BASIC = [{"writeKey": []}]


def _body_doc(model: type) -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}},
        "security": _BASIC,
    }


async def _payload(request: Request, limit: int, what: str) -> Any:
    body = await read_limited(
        request.stream(),
        request.headers.get("content-length"),
        request.headers.get("content-encoding"),
        limit,
        what,
    )
    try:
        return loads_untrusted(body)
    except SpecError as exc:
        raise InvalidInput(exc.field, exc.rule) from None


async def _authenticate(request: Request, secret: str | None, connection_id: str | None = None):
    if not secret:
        raise Unauthorized("a write key is required: send it as the Basic auth user name")
    secrets = request.app.state.secrets
    found = secrets.cached(secret) or await run_in_threadpool(secrets.get, secret)
    if found is None or (connection_id is not None and found.source.connection_id != connection_id):
        raise Unauthorized("the write key is not valid for this endpoint")
    return found.source


# A request refused whole counts as one rejected call of its connection's health when the
# connection is known: by a valid write key (header or body) or by the webhook URL's id. A
# write key that matches no connection names no connection, so its refusal is nobody's to
# show; nor is a 503, which refuses nothing (the sender retries the same calls).


def _message_id(payload: Any) -> str | None:
    found = payload.get("messageId") if isinstance(payload, dict) and "batch" not in payload else None
    return found if isinstance(found, str) and found else None


@contextmanager
def _counted(request: Request, source: Source | None, payload: Any = None) -> Iterator[None]:
    """Count a refusal raised inside against ``source``'s connection (none: not counted)."""
    try:
        yield
    except WorkspaceError as exc:
        if source is not None:
            connection_calls.note_refused(
                request.app.state, source.org_id, source.connection_id, exc.message, _message_id(payload)
            )
        raise


async def _count_unauthorized(request: Request, connection_id: str, refused: Unauthorized) -> None:
    """A webhook call with a wrong or missing secret for a connection that exists."""

    def owner() -> str | None:
        with request.app.state.sessions() as session:
            return connection_calls.owner_of(session, connection_id)

    org_id = await run_in_threadpool(owner)
    if org_id is not None:
        connection_calls.note_refused(request.app.state, org_id, connection_id, f"Authorization: {refused.message}")


async def _publish(request: Request, prepared: Prepared) -> JsonResponse:
    try:
        await request.app.state.publisher.publish(prepared.messages)
    except PublishUnavailable as exc:
        error = Unavailable(f"events were not accepted, retry: {exc}")
        return JsonResponse(error_body(error), status_code=503, headers={"Retry-After": "1"})
    connection_calls.note_published(request.app.state, prepared)  # counted in memory, written every few seconds
    response = IngestResponse(
        accepted=prepared.accepted,
        rejected=[
            {"index": r.index, "messageId": r.message_id, "field": r.field, "rule": r.rule, "message": r.message}
            for r in prepared.rejections
        ],
    )
    return JsonResponse(response.model_dump(exclude_none=True))


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _single(request: Request, call_type: str) -> JsonResponse:
    received_at = _now()
    header_key = basic_user(request.headers.get("authorization"))
    source = await _authenticate(request, header_key) if header_key else None
    with _counted(request, source):
        payload = await _payload(request, MAX_CALL_BYTES, "call")
    if source is None:
        key = payload.get("writeKey") if isinstance(payload, dict) else None
        source = await _authenticate(request, key if isinstance(key, str) else None)
    with _counted(request, source, payload):
        prepared = prepare_single(payload, call_type, source, received_at)
    return await _publish(request, prepared)


def _single_route(call_type: str):
    async def route(request: Request) -> JsonResponse:
        return await _single(request, call_type)

    route.__name__ = f"ingest_{call_type}"
    route.__doc__ = f"Segment `{call_type}` call."
    return route


for _type, _model in CALL_MODELS.items():
    router.add_api_route(
        f"/v1/{_type}",
        _single_route(_type),
        methods=["POST"],
        response_model=IngestResponse,
        responses=_ERRORS,
        openapi_extra=_body_doc(_model),
        summary=f"Segment {_type}",
    )


@router.post(
    "/v1/batch",
    response_model=IngestResponse,
    responses=_ERRORS,
    openapi_extra=_body_doc(Batch),
    summary="Segment batch",
)
async def ingest_batch(request: Request) -> JsonResponse:
    """Up to 500 KB of calls. Valid calls are accepted even when others are not; the
    response lists each rejected call with the field and rule it broke."""
    received_at = _now()
    header_key = basic_user(request.headers.get("authorization"))
    source = await _authenticate(request, header_key) if header_key else None
    with _counted(request, source):
        payload = await _payload(request, MAX_BATCH_BYTES, "batch")
    if source is None:
        key = payload.get("writeKey") if isinstance(payload, dict) else None
        source = await _authenticate(request, key if isinstance(key, str) else None)
    with _counted(request, source, payload):
        prepared = prepare_batch(payload, source, received_at)
    return await _publish(request, prepared)


@router.post(
    "/v1/webhooks/{connection_id}",
    response_model=IngestResponse,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        "security": [{"writeKey": []}, {"bearerSecret": []}],
    },
    summary="Segment destination webhook",
)
async def destination_webhook(connection_id: str, request: Request) -> JsonResponse:
    """Deliveries from the Segment "Variance" destination: one event (with its ``type``)
    or ``{"batch": [...]}``, authenticated by the connection's secret as the Basic user
    name or a Bearer token. Segment already corrected the timestamps, so they are kept."""
    received_at = _now()
    authorization = request.headers.get("authorization")
    try:
        source = await _authenticate(request, basic_user(authorization) or bearer_token(authorization), connection_id)
    except Unauthorized as exc:
        await _count_unauthorized(request, connection_id, exc)
        raise
    with _counted(request, source):
        payload = await _payload(request, MAX_BATCH_BYTES, "batch")
    with _counted(request, source, payload):
        if isinstance(payload, dict) and "batch" in payload:
            prepared = prepare_batch(payload, source, received_at, skew_correct=False)
        else:
            call_type = payload.get("type") if isinstance(payload, dict) else None
            if call_type not in CALL_MODELS:
                raise InvalidInput("type", "must be one of " + ", ".join(CALL_MODELS))
            prepared = prepare_single(payload, call_type, source, received_at, skew_correct=False)
    return await _publish(request, prepared)
