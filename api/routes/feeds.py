"""A stream's feed (newest first, keyset pages, polling with ``since``) and a view's members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from variance.api.deps import CurrentUser, DbSession
from variance.api.errors import InvalidInput, NotFound, Unauthorized, responses
from variance.core.events import EventKind
from variance.workspace import feeds, view_members
from variance.workspace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from variance.workspace.schemas.feeds import FeedPage, ViewMembers

router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
_ERRORS = responses(Unauthorized, NotFound, InvalidInput)


@router.get("/v1/streams/{stream_id}/feed", response_model=FeedPage, responses=_ERRORS, tags=["streams"])
def stream_feed(
    stream_id: str,
    principal: CurrentUser,
    session: DbSession,
    kind: EventKind | None = None,
    name: Annotated[str | None, Query(max_length=1024, description="Event name (with kind), e.g. Invited User")] = None,
    account_id: Annotated[str | None, Query(max_length=1024)] = None,
    contact_id: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page")] = None,
    since: Annotated[
        str | None, Query(max_length=2000, description="`live_cursor` of an earlier answer: only newer items")
    ] = None,
):
    """The stream's items newest first. To follow it live, poll with ``since`` set to the
    last answer's ``live_cursor`` (every second or two): the answer holds only new items."""
    return feeds.stream_feed(
        session,
        principal,
        stream_id,
        kind=kind.value if kind else None,
        name=name,
        account_id=account_id,
        contact_id=contact_id,
        limit=limit,
        cursor=cursor,
        since=since,
    )


@router.get("/v1/views/{view_id}/members", response_model=ViewMembers, responses=_ERRORS, tags=["views"])
def members_of_view(
    view_id: str,
    principal: CurrentUser,
    session: DbSession,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
):
    """The accounts or contacts that match the view now, by name, with the total."""
    return view_members.view_members(session, principal, view_id, limit, cursor)
