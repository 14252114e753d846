"""Streams: the list (favorites first), add, edit (Slack channel, picked from the
organisation's Slack as you type), delete, favorite, and each stream's feed, live through
htmx polling with the feed's ``since`` cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse

from variance.core.events import EventKind
from variance.core.vocabulary import FavoriteTargetType, StreamType, Visibility
from variance.web import channels
from variance.web.deps import DbSession, Posting, User
from variance.web.layout import chrome
from variance.web.render import PageRoute, page, validated
from variance.workspace import favorites, feeds, streams
from variance.workspace.errors import InvalidInput, WorkspaceError
from variance.workspace.schemas.streams import SlackChannel, StreamCreate, StreamUpdate
from variance.workspace.schemas.tags import FavoriteSet

router = APIRouter(route_class=PageRoute, include_in_schema=False)
POLL_SECONDS = 2
CHOICES = 20  # channels listed while typing: the rest narrow down as the name grows


@router.get("/")
def home(user: User, session: DbSession):
    default = streams.default_stream_id(session, user.principal.user_id)
    return RedirectResponse(f"/streams/{default}" if default else "/streams", status_code=303)


def _slack_unavailable(request: Request, session, user) -> str | None:
    return channels.source().unavailable(session, user.principal.org_id, request.app.state.settings)


def _list_context(request: Request, session, user, **extra):
    items, _ = streams.list_streams(session, user.principal, 200, None)
    return chrome(
        session,
        user,
        streams=items,
        stream_types=list(StreamType),
        slack_unavailable=_slack_unavailable(request, session, user),
        **extra,
    )


@router.get("/streams")
def streams_page(request: Request, user: User, session: DbSession):
    return page(request, "streams.html", _list_context(request, session, user, form={}))


@router.get("/slack-channels")
def channel_choices(request: Request, user: User, session: DbSession, q: Annotated[str, Query(max_length=80)] = ""):
    """The picker's list: the organisation's channels matching what was typed."""
    context = {"q": q, "choices": [], "channel_error": None}
    try:
        context["choices"] = channels.source().search(
            session, user.principal.org_id, request.app.state.settings, q, CHOICES
        )
    except WorkspaceError as exc:  # Slack refused: say what to do, in place of the list
        context["channel_error"] = exc
    return page(request, "channel_picker.html", context, block="choices")


@router.get("/slack-channels/pick")
def pick_channel(
    request: Request,
    user: User,
    id: Annotated[str, Query(max_length=64)] = "",
    name: Annotated[str, Query(max_length=200)] = "",
):
    """The form's channel fields once a channel is picked (no id: no channel)."""
    channel = validated(SlackChannel, {"id": id, "name": name or id}).model_dump() if id else None
    return page(request, "channel_picker.html", {"channel": channel, "picked": True}, block="fields")


def _channel(request: Request, session, user, channel_id: str, channel_name: str) -> dict | None:
    """The stream's channel from the form: with Slack connected, one the bot can see (its
    name as Slack has it); without, taken as given."""
    channel_id = channel_id.strip()
    if not channel_id:
        return None
    settings = request.app.state.settings
    source = channels.source()
    if source.unavailable(session, user.principal.org_id, settings) is None:
        found = source.find(session, user.principal.org_id, settings, channel_id)
        if found is None:
            raise InvalidInput("slack_channel", "no channel of that id that Variance can see: pick one from the list")
        return {"id": found.id, "name": f"#{found.name}"}
    return {"id": channel_id, "name": channel_name.strip() or channel_id}


def _selectors(event_types: list[str]) -> list[dict]:
    """Event Type streams pick from the catalog: each value is ``KIND`` or ``KIND:NAME``."""
    out = []
    for value in event_types:
        kind, _, name = value.partition(":")
        out.append({"kind": kind, "name": name or None})
    return out


@router.post("/streams")
def create_stream(
    request: Request,
    user: Posting,
    session: DbSession,
    name: Annotated[str, Form(max_length=400)] = "",
    type: Annotated[str, Form(max_length=40)] = StreamType.accounts_contacts.value,
    visibility: Annotated[str, Form(max_length=40)] = Visibility.personal.value,
    slack_channel_id: Annotated[str, Form(max_length=100)] = "",
    slack_channel_name: Annotated[str, Form(max_length=400)] = "",
    event_type: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
):
    form = {
        "name": name,
        "type": type,
        "visibility": visibility,
        "slack_channel": {"id": slack_channel_id, "name": slack_channel_name} if slack_channel_id else None,
    }
    try:
        body = validated(
            StreamCreate,
            {
                "name": name,
                "type": type,
                "visibility": visibility,
                "slack_channel": _channel(request, session, user, slack_channel_id, slack_channel_name),
                "selectors": _selectors(event_type) if type == StreamType.event_type.value else [],
            },
        )
        with session.begin_nested():
            stream = streams.create_stream(session, user.principal, body)
    except WorkspaceError as exc:
        context = _list_context(request, session, user, form=form, error=exc)
        return page(request, "streams.html", context, status_code=400)
    return RedirectResponse(f"/streams/{stream.id}", status_code=303)


def _feed_filters(kind: str, name: str, account_id: str) -> dict:
    if kind and kind not in {k.value for k in EventKind}:
        raise InvalidInput("kind", "is not an event kind")
    return {"kind": kind or None, "name": name or None, "account_id": account_id or None}


@router.get("/streams/{stream_id}")
def stream_page(
    request: Request,
    stream_id: str,
    user: User,
    session: DbSession,
    kind: str = "",
    name: str = "",
    account_id: str = "",
    cursor: str | None = None,
):
    stream = streams.describe(session, user.principal, streams.get_visible(session, user.principal, stream_id))
    filters = _feed_filters(kind, name, account_id)
    feed = feeds.stream_feed(session, user.principal, stream_id, limit=50, cursor=cursor, **filters)
    context = chrome(
        session,
        user,
        stream=stream,
        feed=feed,
        filters={"kind": kind, "name": name, "account_id": account_id},
        kinds=[k.value for k in EventKind],
        writable=stream.visibility == Visibility.personal or user.principal.is_admin,
        poll_seconds=POLL_SECONDS,
    )
    return page(request, "stream.html", context)


@router.get("/streams/{stream_id}/live")
def stream_live(
    request: Request,
    stream_id: str,
    user: User,
    session: DbSession,
    since: str | None = None,
    kind: str = "",
    name: str = "",
    account_id: str = "",
):
    """The items newer than ``since``, and a new poller carrying the newest cursor."""
    feed = feeds.stream_feed(
        session, user.principal, stream_id, limit=50, since=since, **_feed_filters(kind, name, account_id)
    )
    context = {
        "stream": {"id": stream_id},
        "feed": feed,
        "filters": {"kind": kind, "name": name, "account_id": account_id},
        "poll_seconds": POLL_SECONDS,
        "live_only": True,
    }
    return page(request, "stream.html", context, block="live")


@router.get("/streams/{stream_id}/edit")
def edit_page(request: Request, stream_id: str, user: User, session: DbSession):
    stream = streams.describe(session, user.principal, streams.get_writable(session, user.principal, stream_id))
    context = chrome(session, user, stream=stream, slack_unavailable=_slack_unavailable(request, session, user))
    return page(request, "stream_edit.html", context)


@router.post("/streams/{stream_id}/edit")
def edit_stream(
    request: Request,
    stream_id: str,
    user: Posting,
    session: DbSession,
    name: Annotated[str, Form(max_length=400)] = "",
    slack_channel_id: Annotated[str, Form(max_length=100)] = "",
    slack_channel_name: Annotated[str, Form(max_length=400)] = "",
):
    try:
        channel = _channel(request, session, user, slack_channel_id, slack_channel_name)
        body = validated(StreamUpdate, {"name": name, "slack_channel": channel})
        with session.begin_nested():
            streams.update_stream(session, user.principal, stream_id, body)
    except WorkspaceError as exc:
        stream = streams.describe(session, user.principal, streams.get_writable(session, user.principal, stream_id))
        context = chrome(
            session, user, stream=stream, error=exc, slack_unavailable=_slack_unavailable(request, session, user)
        )
        return page(request, "stream_edit.html", context, status_code=400)
    return RedirectResponse(f"/streams/{stream_id}", status_code=303)


@router.post("/streams/{stream_id}/delete")
def delete_stream(stream_id: str, user: Posting, session: DbSession):
    streams.delete_stream(session, user.principal, stream_id)
    return RedirectResponse("/streams", status_code=303)


@router.post("/favorites")
def toggle_favorite(
    request: Request,
    user: Posting,
    session: DbSession,
    target_type: Annotated[str, Form(max_length=20)],
    target_id: Annotated[str, Form(max_length=40)],
    back: Annotated[str, Form(max_length=2000)] = "/",
):
    """Favorite a stream or view, or unfavorite it if it already is one."""
    body = validated(FavoriteSet, {"target_type": target_type, "target_id": target_id})
    current = favorites.favorite_positions(session, user.principal.user_id, body.target_type.value)
    if body.target_id in current:
        favorites.remove_favorite(session, user.principal, FavoriteTargetType(body.target_type), body.target_id)
    else:
        favorites.set_favorite(session, user.principal, body)
    target = back if back.startswith("/") and not back.startswith("//") else "/"
    return RedirectResponse(target, status_code=303)


@router.post("/favorites/move")
def move_favorite(
    user: Posting,
    session: DbSession,
    target_type: Annotated[str, Form(max_length=20)],
    target_id: Annotated[str, Form(max_length=40)],
    position: Annotated[int, Form(ge=0, le=1000)],
    back: Annotated[str, Form(max_length=2000)] = "/",
):
    """Reorder the left column: move a favorite to ``position`` (0 is the top)."""
    favorites.set_favorite(
        session,
        user.principal,
        validated(FavoriteSet, {"target_type": target_type, "target_id": target_id, "position": position}),
    )
    target = back if back.startswith("/") and not back.startswith("//") else "/"
    return RedirectResponse(target, status_code=303)
