"""An account's or a contact's timeline: who it is, milestones, tags, daily activity and
recent events, from the serving tables."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from variance.api.deps import CurrentUser, DbSession
from variance.api.errors import InvalidInput, NotFound, Unauthorized, responses
from variance.core.vocabulary import EntityType
from variance.workspace import timelines
from variance.workspace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from variance.workspace.schemas.feeds import TimelineOut

router = APIRouter(tags=["accounts and contacts"])


@router.get(
    "/v1/timelines/{entity_type}/{entity_id:path}",
    response_model=TimelineOut,
    responses=responses(Unauthorized, NotFound, InvalidInput),
)
def timeline(
    entity_type: EntityType,
    entity_id: str,
    principal: CurrentUser,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=2000, description="`events.next_cursor` of the previous page")
    ] = None,
):
    """``entity_type`` is ``account`` or ``contact``; ids of another organisation answer 404.
    ``activity`` days are UTC calendar days, whatever the organisation's time zone: the
    pipeline counts events per UTC day. Times are instants (UTC) to show in any zone."""
    return timelines.timeline(session, principal, entity_type, entity_id, limit=limit, cursor=cursor)
