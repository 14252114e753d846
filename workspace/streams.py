"""Streams: who may see and change them, their selectors, and the sidebar order.

Visibility: a team stream is visible to everyone in the organisation and changed by
admins; a personal stream is visible to and changed by its owner only (to anyone else
it does not exist: 404). Every user has one default Accounts & Contacts stream, which
cannot be deleted.
"""

from __future__ import annotations

import json

import orjson
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from variance.appdb.models import Favorite, Follow, SmartTag, Stream, StreamItemRow, StreamSelector, User
from variance.appdb.types import utcnow
from variance.core.events import EventKind
from variance.core.ids import new_id
from variance.core.vocabulary import FavoriteTargetType, StreamType, Visibility
from variance.workspace import keyset
from variance.workspace.errors import Conflict, Forbidden, InvalidInput, NotFound
from variance.workspace.favorites import favorite_positions
from variance.workspace.principals import Principal
from variance.workspace.schemas.streams import Selector, SlackChannel, StreamCreate, StreamOut, StreamUpdate
from variance.workspace.visibility import visible_streams

_STREAM = FavoriteTargetType.stream.value


def default_stream_name(user_name: str) -> str:
    return f"{user_name}'s Stream"


def create_default_stream(session: Session, user: User) -> Stream:
    """The user's own Accounts & Contacts stream ("NAME's Stream"), where follows go by default."""
    stream = Stream(
        id=new_id("str"),
        org_id=user.org_id,
        name=default_stream_name(user.name),
        type=StreamType.accounts_contacts.value,
        visibility=Visibility.personal.value,
        owner_user_id=user.id,
        is_default=True,
    )
    session.add(stream)
    return stream


def default_stream(session: Session, user_id: str) -> Stream | None:
    return session.scalar(select(Stream).where(Stream.owner_user_id == user_id, Stream.is_default.is_(True)))


def default_stream_id(session: Session, user_id: str) -> str | None:
    return session.scalar(select(Stream.id).where(Stream.owner_user_id == user_id, Stream.is_default.is_(True)))


def get_visible(session: Session, principal: Principal, stream_id: str) -> Stream:
    stream = session.scalar(select(Stream).where(Stream.id == stream_id, visible_streams(principal)))
    if stream is None:
        raise NotFound(f"no stream {stream_id!r} visible to you in this organisation")
    return stream


def check_writable(principal: Principal, stream: Stream) -> None:
    if stream.visibility == Visibility.team.value and not principal.is_admin:
        raise Forbidden("only admins change team streams")


def get_writable(session: Session, principal: Principal, stream_id: str) -> Stream:
    stream = get_visible(session, principal, stream_id)
    check_writable(principal, stream)
    return stream


def selectors_of(session: Session, stream_ids: list[str]) -> dict[str, list[Selector]]:
    out: dict[str, list[Selector]] = {sid: [] for sid in stream_ids}
    if not stream_ids:
        return out
    rows = session.scalars(
        select(StreamSelector)
        .where(StreamSelector.stream_id.in_(stream_ids))
        .order_by(StreamSelector.stream_id, StreamSelector.position)
    )
    for row in rows:
        out[row.stream_id].append(
            Selector(kind=row.kind, name=row.name, filters=json.loads(row.filters), connection_name=row.connection_name)
        )
    return out


def to_out(stream: Stream, selectors: list[Selector] | None = None, favorite_position: int | None = None) -> StreamOut:
    channel = (
        SlackChannel(id=stream.slack_channel_id, name=stream.slack_channel_name or stream.slack_channel_id)
        if stream.slack_channel_id
        else None
    )
    return StreamOut(
        id=stream.id,
        name=stream.name,
        type=StreamType(stream.type),
        visibility=Visibility(stream.visibility),
        owner_user_id=stream.owner_user_id,
        is_default=stream.is_default,
        favorite_position=favorite_position,
        slack_channel=channel,
        selectors=selectors or [],
        created_at=stream.created_at,
        updated_at=stream.updated_at,
    )


def describe(session: Session, principal: Principal, stream: Stream) -> StreamOut:
    return to_out(
        stream,
        selectors_of(session, [stream.id])[stream.id],
        favorite_positions(session, principal.user_id, _STREAM).get(stream.id),
    )


def _check_selectors(session: Session, org_id: str, stream_type: str, selectors: list[Selector]) -> None:
    if stream_type == StreamType.accounts_contacts.value and selectors:
        raise InvalidInput("selectors", "only Event Type streams have selectors")
    if stream_type == StreamType.event_type.value and not selectors:
        raise InvalidInput("selectors", "an Event Type stream needs at least one event type")
    _check_tag_selectors(session, org_id, selectors)


def _check_tag_selectors(session: Session, org_id: str, selectors: list[Selector]) -> None:
    """A Tag selector names a smart tag of the organisation: a name that is none would
    select nothing, silently (a Tag event's name is its tag's)."""
    wanted = {i: s.name for i, s in enumerate(selectors) if s.kind == EventKind.tag}
    if not wanted:
        return
    known = set(session.scalars(select(SmartTag.name).where(SmartTag.org_id == org_id)))
    for index, name in wanted.items():
        if name not in known:
            raise InvalidInput(
                f"selectors[{index}].name", f"no smart tag named {name!r} in this organisation: name one of its tags"
            )


def _store_selectors(session: Session, stream: Stream, selectors: list[Selector]) -> None:
    session.execute(delete(StreamSelector).where(StreamSelector.stream_id == stream.id))
    for position, selector in enumerate(selectors):
        session.add(
            StreamSelector(
                id=new_id("sel"),
                org_id=stream.org_id,
                stream_id=stream.id,
                position=position,
                kind=selector.kind.value,
                name=selector.name,
                filters=orjson.dumps([f.model_dump(mode="json") for f in selector.filters]).decode(),
                connection_name=selector.connection_name,
            )
        )


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("name", "must not be empty")
    return name


def create_stream(session: Session, principal: Principal, body: StreamCreate) -> Stream:
    if body.visibility == Visibility.team and not principal.is_admin:
        raise Forbidden("only admins create team streams")
    _check_selectors(session, principal.org_id, body.type.value, body.selectors)
    stream = Stream(
        id=new_id("str"),
        org_id=principal.org_id,
        name=_clean_name(body.name),
        type=body.type.value,
        visibility=body.visibility.value,
        owner_user_id=principal.user_id if body.visibility == Visibility.personal else None,
        is_default=False,
        slack_channel_id=body.slack_channel.id if body.slack_channel else None,
        slack_channel_name=body.slack_channel.name if body.slack_channel else None,
    )
    session.add(stream)
    session.flush()
    _store_selectors(session, stream, body.selectors)
    session.flush()
    return stream


def update_stream(session: Session, principal: Principal, stream_id: str, body: StreamUpdate) -> Stream:
    stream = get_writable(session, principal, stream_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name") is not None:
        stream.name = _clean_name(changes["name"])
    elif "name" in changes:
        raise InvalidInput("name", "must not be empty")
    if "slack_channel" in changes:
        stream.slack_channel_id = body.slack_channel.id if body.slack_channel else None
        stream.slack_channel_name = body.slack_channel.name if body.slack_channel else None
    if body.selectors is not None:
        _check_selectors(session, stream.org_id, stream.type, body.selectors)
        _store_selectors(session, stream, body.selectors)
    stream.updated_at = utcnow()
    session.flush()
    return stream


def delete_stream(session: Session, principal: Principal, stream_id: str) -> None:
    stream = get_writable(session, principal, stream_id)
    if stream.is_default:
        raise Conflict("a user's default stream cannot be deleted", field="stream_id")
    session.execute(delete(StreamItemRow).where(StreamItemRow.stream_id == stream.id))
    session.execute(delete(Favorite).where(Favorite.target_type == _STREAM, Favorite.target_id == stream.id))
    session.execute(delete(Follow).where(Follow.stream_id == stream.id))
    session.execute(delete(StreamSelector).where(StreamSelector.stream_id == stream.id))
    session.delete(stream)
    session.flush()


def list_streams(
    session: Session, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[StreamOut], str | None]:
    """The streams the user sees: favorites first in their order, then the rest by id.

    A user sees a bounded number of streams (their own plus the team's), so the order
    is computed over ids in memory and the page's rows are loaded by id.
    """
    favorites = favorite_positions(session, principal.user_id, _STREAM)
    ids = session.scalars(select(Stream.id).where(visible_streams(principal))).all()
    keyed = sorted((0, favorites[i], i) if i in favorites else (1, 0, i) for i in ids)
    if cursor:
        after = keyset.decode(cursor, 3)
        keyed = [k for k in keyed if list(k) > after]
    page = keyed[:limit]
    rows = {s.id: s for s in session.scalars(select(Stream).where(Stream.id.in_([k[2] for k in page])))}
    selectors = selectors_of(session, list(rows))
    items = [to_out(rows[k[2]], selectors[k[2]], favorites.get(k[2])) for k in page]
    next_cursor = keyset.encode(page[-1]) if len(keyed) > limit else None
    return items, next_cursor
