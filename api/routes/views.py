"""Views: saved filters in each user's sidebar, personal or shared with the team."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from variance.api.deps import CurrentUser, DbSession
from variance.api.errors import Forbidden, InvalidInput, NotFound, Unauthorized, responses
from variance.core.vocabulary import EntityType
from variance.workspace import views as service
from variance.workspace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from variance.workspace.schemas.common import Page
from variance.workspace.schemas.tags import ViewCreate, ViewOut, ViewUpdate

router = APIRouter(prefix="/v1/views", tags=["views"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.post("", status_code=201, response_model=ViewOut, responses=responses(Unauthorized, Forbidden, InvalidInput))
def create_view(body: ViewCreate, principal: CurrentUser, session: DbSession):
    """Create a personal view, or (admins) a team view. It may use smart tags."""
    return service.describe(session, principal, service.create_view(session, principal, body))


@router.get("", response_model=Page[ViewOut], responses=responses(Unauthorized, InvalidInput))
def list_views(
    principal: CurrentUser,
    session: DbSession,
    entity: EntityType | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
):
    """Your sidebar: the views you see (yours and the team's), your favorites first in
    their order, then the others in creation order."""
    items, next_cursor = service.list_views(session, principal, limit, cursor, entity)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/{view_id}", response_model=ViewOut, responses=responses(Unauthorized, NotFound))
def get_view(view_id: str, principal: CurrentUser, session: DbSession):
    return service.describe(session, principal, service.get_visible(session, principal, view_id))


@router.patch(
    "/{view_id}", response_model=ViewOut, responses=responses(Unauthorized, Forbidden, NotFound, InvalidInput)
)
def update_view(view_id: str, body: ViewUpdate, principal: CurrentUser, session: DbSession):
    """Rename or redefine your personal view, or (admins) a team view; admins may also
    change the visibility."""
    return service.describe(session, principal, service.update_view(session, principal, view_id, body))


@router.delete("/{view_id}", status_code=204, responses=responses(Unauthorized, Forbidden, NotFound))
def delete_view(view_id: str, principal: CurrentUser, session: DbSession) -> Response:
    service.delete_view(session, principal, view_id)
    return Response(status_code=204)
