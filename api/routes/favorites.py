"""Favorites: your own ordered list of views and streams, shown first in the sidebar."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from variance.api.deps import CurrentUser, DbSession
from variance.api.errors import Conflict, InvalidInput, NotFound, Unauthorized, responses
from variance.core.vocabulary import FavoriteTargetType
from variance.workspace import favorites as service
from variance.workspace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from variance.workspace.schemas.common import Page
from variance.workspace.schemas.tags import FavoriteList, FavoriteOrder, FavoriteOut, FavoriteSet

router = APIRouter(prefix="/v1/favorites", tags=["favorites"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
TargetId = Annotated[str, Path(min_length=1, max_length=40)]


@router.get("", response_model=Page[FavoriteOut], responses=responses(Unauthorized, InvalidInput))
def list_favorites(principal: CurrentUser, session: DbSession, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None):
    """Your favorites, top first."""
    items, next_cursor = service.list_favorites(session, principal, limit, cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.put("", response_model=FavoriteOut, responses=responses(Unauthorized, NotFound, Conflict))
def set_favorite(body: FavoriteSet, principal: CurrentUser, session: DbSession):
    """Favorite a view or stream you can see, at `position` (default: the end); for an
    existing favorite, move it there (without `position` nothing changes)."""
    return service.set_favorite(session, principal, body)


@router.put("/order", response_model=FavoriteList, responses=responses(Unauthorized, InvalidInput))
def reorder_favorites(body: FavoriteOrder, principal: CurrentUser, session: DbSession):
    """Reorder: list every one of your favorites once, top first."""
    return service.reorder_favorites(session, principal, body)


@router.delete("/{target_type}/{target_id}", status_code=204, responses=responses(Unauthorized, NotFound))
def remove_favorite(
    target_type: FavoriteTargetType, target_id: TargetId, principal: CurrentUser, session: DbSession
) -> Response:
    service.remove_favorite(session, principal, target_type, target_id)
    return Response(status_code=204)
