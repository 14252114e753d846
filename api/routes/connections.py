"""Connections: the Segment sources and destinations delivering into an organisation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response

from variance.api.deps import AdminUser, AppSettings, DbSession
from variance.api.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized, responses
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
