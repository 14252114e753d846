"""Connections: the Segment sources and destinations delivering into an organisation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from pydantic import BaseModel, Field

from variance.api.deps import AdminUser, AppSettings, DbSession
from variance.api.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized, responses
from variance.workspace import connection_calls
from variance.workspace import connections as service
from variance.workspace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from variance.workspace.schemas.common import Page
from variance.workspace.schemas.connections import (
    ConnectionCreate,
    ConnectionOut,
    ConnectionUpdate,
    ConnectionWithSecret,
)

router = APIRouter(prefix="/v1/connections", tags=["connections"])
_AUTH = (Unauthorized, Forbidden)
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.post(
    "", status_code=201, response_model=ConnectionWithSecret, responses=responses(*_AUTH, InvalidInput, Conflict)
)
def create_connection(body: ConnectionCreate, admin: AdminUser, session: DbSession, settings: AppSettings):
    """Create a connection. The response holds the secret; no later read returns it."""
    return service.create_connection(session, admin.org_id, body, settings.public_url)


@router.get("", response_model=Page[ConnectionOut], responses=responses(*_AUTH))
def list_connections(
    admin: AdminUser, session: DbSession, settings: AppSettings, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None
):
    rows, next_cursor = service.list_connections(session, admin.org_id, limit, cursor)
    return Page(items=[service.to_out(r, settings.public_url) for r in rows], next_cursor=next_cursor)


@router.get("/{connection_id}", response_model=ConnectionOut, responses=responses(*_AUTH, NotFound))
def get_connection(connection_id: str, admin: AdminUser, session: DbSession, settings: AppSettings):
    return service.to_out(service.get_connection(session, admin.org_id, connection_id), settings.public_url)


class RejectedCallOut(BaseModel):
    received_at: datetime
    message_id: str | None = Field(description="the call's messageId, when it had one")
    reason: str = Field(description="the field and the rule it broke")


class ConnectionCallsOut(BaseModel):
    connection_id: str
    last_received_at: datetime | None = Field(description="the last call accepted or rejected; null: none in 2 days")
    accepted_last_hour: int
    rejected_last_hour: int
    accepted_last_day: int
    rejected_last_day: int
    rejections: list[RejectedCallOut] = Field(description="the latest rejected calls, newest first")


@router.get("/{connection_id}/calls", response_model=ConnectionCallsOut, responses=responses(*_AUTH, NotFound))
def get_connection_calls(connection_id: str, request: Request, admin: AdminUser, session: DbSession):
    """The connection's recent calls, as its Integrations page shows them: counted as the API
    accepts them and written every few seconds (so within 5 s across API processes)."""
    service.get_connection(session, admin.org_id, connection_id)
    connection_calls.flush_pending(request.app.state)
    found = connection_calls.health(session, admin.org_id, connection_id=connection_id).get(connection_id)
    if found is None:
        return ConnectionCallsOut(
            connection_id=connection_id, last_received_at=None, accepted_last_hour=0, rejected_last_hour=0,
            accepted_last_day=0, rejected_last_day=0, rejections=[],
        )  # fmt: skip
    return ConnectionCallsOut(
        connection_id=connection_id,
        last_received_at=found.last_received_at,
        accepted_last_hour=found.accepted_hour,
        rejected_last_hour=found.rejected_hour,
        accepted_last_day=found.accepted_day,
        rejected_last_day=found.rejected_day,
        rejections=[RejectedCallOut(**r.__dict__) for r in found.rejections],
    )


@router.patch(
    "/{connection_id}", response_model=ConnectionOut, responses=responses(*_AUTH, NotFound, InvalidInput, Conflict)
)
def update_connection(
    connection_id: str, body: ConnectionUpdate, admin: AdminUser, session: DbSession, settings: AppSettings
):
    connection = service.update_connection(session, admin.org_id, connection_id, body)
    return service.to_out(connection, settings.public_url)


@router.post(
    "/{connection_id}/rotate-secret", response_model=ConnectionWithSecret, responses=responses(*_AUTH, NotFound)
)
def rotate_secret(
    connection_id: str,
    admin: AdminUser,
    session: DbSession,
    settings: AppSettings,
    request: Request,
    background: BackgroundTasks,
):
    """Replace the secret; the old one stops working at once. The new one is shown once."""
    rotated = service.rotate_secret(session, admin.org_id, connection_id, settings.public_url)
    # Forget now and again once the transaction has committed, so a request racing
    # with this one cannot re-cache the old secret.
    request.app.state.secrets.forget_connection(connection_id)
    background.add_task(request.app.state.secrets.forget_connection, connection_id)
    return rotated


@router.delete("/{connection_id}", status_code=204, responses=responses(*_AUTH, NotFound))
def delete_connection(
    connection_id: str, admin: AdminUser, session: DbSession, request: Request, background: BackgroundTasks
) -> Response:
    service.delete_connection(session, admin.org_id, connection_id)
    request.app.state.secrets.forget_connection(connection_id)
    background.add_task(request.app.state.secrets.forget_connection, connection_id)
    return Response(status_code=204, background=background)
