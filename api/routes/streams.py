"""Streams and follows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from variance.api.deps import CurrentUser, DbSession
from variance.api.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized, responses
from variance.core.vocabulary import EntityType
from variance.workspace import follows as follow_service
from variance.workspace import streams as service
from variance.workspace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from variance.workspace.schemas.common import Page
from variance.workspace.schemas.streams import (
    FollowCreate,
    FollowOut,
    FollowResult,
    StreamCreate,
    StreamOut,
    StreamUpdate,
)

router = APIRouter(tags=["streams"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
EntityId = Annotated[str, Query(min_length=1, max_length=1024)]


@router.post(
    "/v1/streams", status_code=201, response_model=StreamOut, responses=responses(Unauthorized, Forbidden, InvalidInput)
)
def create_stream(body: StreamCreate, principal: CurrentUser, session: DbSession):
    """Create a personal stream, or (admins) a team stream."""
    return service.describe(session, principal, service.create_stream(session, principal, body))


@router.get("/v1/streams", response_model=Page[StreamOut], responses=responses(Unauthorized, InvalidInput))
def list_streams(principal: CurrentUser, session: DbSession, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None):
    """The streams you see (yours and the team's): favorites first, in their order."""
    items, next_cursor = service.list_streams(session, principal, limit, cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/v1/streams/{stream_id}", response_model=StreamOut, responses=responses(Unauthorized, NotFound))
def get_stream(stream_id: str, principal: CurrentUser, session: DbSession):
    return service.describe(session, principal, service.get_visible(session, principal, stream_id))


@router.patch(
    "/v1/streams/{stream_id}",
    response_model=StreamOut,
    responses=responses(Unauthorized, Forbidden, NotFound, InvalidInput),
)
def update_stream(stream_id: str, body: StreamUpdate, principal: CurrentUser, session: DbSession):
    """Rename, connect or disconnect a Slack channel, or replace the selectors."""
    return service.describe(session, principal, service.update_stream(session, principal, stream_id, body))


@router.delete(
    "/v1/streams/{stream_id}", status_code=204, responses=responses(Unauthorized, Forbidden, NotFound, Conflict)
)
def delete_stream(stream_id: str, principal: CurrentUser, session: DbSession) -> Response:
    service.delete_stream(session, principal, stream_id)
    return Response(status_code=204)


@router.get(
    "/v1/streams/{stream_id}/follows", response_model=Page[FollowOut], responses=responses(Unauthorized, NotFound)
)
def list_stream_follows(
    stream_id: str, principal: CurrentUser, session: DbSession, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None
):
    """The accounts and contacts a stream follows."""
    items, next_cursor = follow_service.stream_follows(session, principal, stream_id, limit, cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.post(
    "/v1/follows",
    response_model=FollowResult,
    responses=responses(Unauthorized, Forbidden, NotFound, InvalidInput),
)
def follow(body: FollowCreate, principal: CurrentUser, session: DbSession):
    """Follow an account or contact into streams (default: your default stream), or
    into a new stream created in the same call."""
    return follow_service.follow(session, principal, body)


@router.get("/v1/follows", response_model=Page[FollowOut], responses=responses(Unauthorized))
def entity_followers(
    principal: CurrentUser,
    session: DbSession,
    entity_type: EntityType,
    entity_id: EntityId,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
):
    """Which streams you see follow this account or contact."""
    items, next_cursor = follow_service.entity_followers(session, principal, entity_type, entity_id, limit, cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.delete("/v1/follows", status_code=204, responses=responses(Unauthorized, Forbidden, NotFound))
def unfollow(
    principal: CurrentUser,
    session: DbSession,
    entity_type: EntityType,
    entity_id: EntityId,
    stream_id: str | None = None,
) -> Response:
    """Unfollow from one stream, or from every stream you may change."""
    follow_service.unfollow(session, principal, entity_type, entity_id, stream_id)
    return Response(status_code=204)
