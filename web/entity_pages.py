"""Accounts and contacts: search, each one's page with its timeline, and the Follow
button (into the default stream) with its dropdown (other streams, "Add to new stream")
and Unfollow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from variance.core.vocabulary import EntityType, StreamType, Visibility
from variance.web.deps import DbSession, Posting, User
from variance.web.layout import chrome
from variance.web.render import PageRoute, page, validated
from variance.web.sessions import WebUser
from variance.workspace import entities, follows, streams, timelines
from variance.workspace.errors import WorkspaceError
from variance.workspace.schemas.entities import EntitySort
from variance.workspace.schemas.streams import FollowCreate

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _plural(entity_type: EntityType) -> str:
    """The entity's list page: /accounts or /contacts."""
    return f"{entity_type.value}s"


def follow_state(session: Session, user: WebUser, entity_type: EntityType, entity_id: str) -> dict:
    """What the Follow widget shows: the streams following it, and where else it may go."""
    principal = user.principal
    following, _ = follows.entity_followers(session, principal, entity_type, entity_id, 200, None)
    followed_in = {f.stream_id for f in following}
    mine, _ = streams.list_streams(session, principal, 200, None)
    targets = [
        s
        for s in mine
        if s.type == StreamType.accounts_contacts and (s.visibility == Visibility.personal or principal.is_admin)
    ]
    return {
        "entity_type": entity_type.value,
        "entity_id": entity_id,
        "followed_in": [s for s in targets if s.id in followed_in],
        "others": [s for s in targets if s.id not in followed_in],
        "default_followed": any(s.is_default and s.id in followed_in for s in targets),
    }


def _list(request: Request, user: WebUser, session: Session, entity_type: EntityType, q: str, cursor: str | None):
    lister = entities.list_accounts if entity_type == EntityType.account else entities.list_contacts
    sort = EntitySort.name if q else EntitySort.recent
    items, next_cursor = lister(session, user.principal.org_id, q=q or None, sort=sort, limit=50, cursor=cursor)
    context = chrome(
        session,
        user,
        entity_type=entity_type.value,
        plural=_plural(entity_type),
        q=q,
        items=items,
        next_cursor=next_cursor,
    )
    block = "results" if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results" else None
    return page(request, "entities.html", context, block=block)


@router.get("/accounts")
def accounts_page(request: Request, user: User, session: DbSession, q: str = "", cursor: str | None = None):
    return _list(request, user, session, EntityType.account, q[:200], cursor)


@router.get("/contacts")
def contacts_page(request: Request, user: User, session: DbSession, q: str = "", cursor: str | None = None):
    return _list(request, user, session, EntityType.contact, q[:200], cursor)


def _entity_page(request, user, session, entity_type: EntityType, entity_id: str, cursor: str | None):
    timeline = timelines.timeline(session, user.principal, entity_type, entity_id, limit=50, cursor=cursor)
    context = chrome(session, user, timeline=timeline, follow=follow_state(session, user, entity_type, entity_id))
    return page(request, "entity.html", context)


@router.get("/accounts/{account_id:path}")
def account_page(request: Request, account_id: str, user: User, session: DbSession, cursor: str | None = None):
    return _entity_page(request, user, session, EntityType.account, account_id, cursor)


@router.get("/contacts/{contact_id:path}")
def contact_page(request: Request, contact_id: str, user: User, session: DbSession, cursor: str | None = None):
    return _entity_page(request, user, session, EntityType.contact, contact_id, cursor)


def _answer(request: Request, session: Session, user: WebUser, entity_type: EntityType, entity_id: str, **extra):
    """htmx swaps the widget in place; without JavaScript the browser goes back to the page."""
    if request.headers.get("HX-Request"):
        context = {"follow": follow_state(session, user, entity_type, entity_id), "csrf": user.csrf_token, **extra}
        return page(request, "entity.html", context, block="follow", status_code=400 if extra.get("error") else 200)
    return RedirectResponse(f"/{_plural(entity_type)}/{entity_id}", status_code=303)


@router.post("/follow")
def follow(
    request: Request,
    user: Posting,
    session: DbSession,
    entity_type: Annotated[EntityType, Form()],
    entity_id: Annotated[str, Form(max_length=1024)],
    stream_id: Annotated[str, Form(max_length=40)] = "",
    new_stream_name: Annotated[str, Form(max_length=400)] = "",
    action: Annotated[str, Form(max_length=20)] = "",
):
    """Into the default stream, into ``stream_id``, or (``action=new``) into a new stream
    named ``new_stream_name``."""
    body: dict = {"entity_type": entity_type.value, "entity_id": entity_id}
    if stream_id:
        body["stream_ids"] = [stream_id]
    if action == "new":
        body["new_stream"] = {"name": new_stream_name, "type": StreamType.accounts_contacts.value}
    try:
        with session.begin_nested():
            follows.follow(session, user.principal, validated(FollowCreate, body))
    except WorkspaceError as exc:
        return _answer(request, session, user, entity_type, entity_id, error=exc)
    return _answer(request, session, user, entity_type, entity_id)


@router.post("/unfollow")
def unfollow(
    request: Request,
    user: Posting,
    session: DbSession,
    entity_type: Annotated[EntityType, Form()],
    entity_id: Annotated[str, Form(max_length=1024)],
    stream_id: Annotated[str, Form(max_length=40)] = "",
):
    follows.unfollow(session, user.principal, entity_type, entity_id, stream_id or None)
    return _answer(request, session, user, entity_type, entity_id)
