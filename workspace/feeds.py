"""A stream's feed: the stream items the pipeline keeps, newest first.

Pages are keyset pages over (event time, message id), so a page stays stable while new
items arrive. Live updates poll with ``since``: the newest (event time, message id) the
reader has; the answer holds only items after it. Known limit: an item whose event time
is older than the newest one already shown (a mobile client delivering hours late)
sorts into its place in history and is seen on the next full load, not by polling; the
serving table keeps no arrival sequence to do better.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import Select, literal, select, tuple_
from sqlalchemy.orm import Session

from variance.appdb.models import StreamItemRow
from variance.workspace import keyset, streams
from variance.workspace.errors import InvalidInput
from variance.workspace.principals import Principal
from variance.workspace.schemas.feeds import FeedItem, FeedPage

_KEY = (StreamItemRow.event_time, StreamItemRow.message_id)


def label_of(kind: str, name: str | None) -> str:
    return f"{kind}: {name}" if name else kind


def item_out(row: StreamItemRow) -> FeedItem:
    try:
        properties: Any = orjson.loads(row.properties or "{}")
    except orjson.JSONDecodeError:
        properties = {}
    return FeedItem(
        message_id=row.message_id,
        stream_id=row.stream_id,
        event_time=row.event_time,
        kind=row.kind,
        name=row.name,
        label=label_of(row.kind, row.name),
        contact_id=row.contact_id,
        account_id=row.account_id,
        connection_name=row.connection_name,
        properties=properties if isinstance(properties, dict) else {},
    )


def encode_key(row: StreamItemRow) -> str:
    return keyset.encode((row.event_time, row.message_id))


def decode_key(cursor: str, field: str) -> tuple[datetime, str]:
    """A cursor this module made, as (event time, message id); anything else is refused."""
    try:
        when, message_id = keyset.decode(cursor, 2)
        if not isinstance(message_id, str):
            raise ValueError
        return datetime.fromisoformat(when).astimezone(timezone.utc), message_id
    except InvalidInput:
        raise InvalidInput(field, "is not a cursor returned by this feed") from None
    except (TypeError, ValueError):
        raise InvalidInput(field, "is not a cursor returned by this feed") from None


def _bound(key: tuple[datetime, str]):
    return tuple_(*(literal(value, type_=column.type) for value, column in zip(key, _KEY, strict=True)))


def keyset_items(
    session: Session, query: Select, limit: int, cursor: str | None, since: str | None
) -> tuple[list[StreamItemRow], str | None]:
    """Rows of ``query`` (over StreamItemRow) newest first: after ``cursor`` going back, or
    only those newer than ``since``; and the next page's cursor."""
    if cursor:
        query = query.where(tuple_(*_KEY) < _bound(decode_key(cursor, "cursor")))
    if since:
        query = query.where(tuple_(*_KEY) > _bound(decode_key(since, "since")))
    rows = list(session.scalars(query.order_by(*(c.desc() for c in _KEY)).limit(limit + 1)))
    next_cursor = encode_key(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def stream_feed(
    session: Session,
    principal: Principal,
    stream_id: str,
    *,
    kind: str | None = None,
    name: str | None = None,
    account_id: str | None = None,
    contact_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    since: str | None = None,
) -> FeedPage:
    """The feed of a stream the principal sees (another's personal stream, or another
    organisation's, is 404), filtered by event type (kind, and name) and by account or contact."""
    if name and not kind:
        raise InvalidInput("name", "needs kind: filter by kind and name together")
    streams.get_visible(session, principal, stream_id)
    query = select(StreamItemRow).where(StreamItemRow.org_id == principal.org_id, StreamItemRow.stream_id == stream_id)
    if kind:
        query = query.where(StreamItemRow.kind == kind)
    if name:
        query = query.where(StreamItemRow.name == name)
    if account_id:
        query = query.where(StreamItemRow.account_id == account_id)
    if contact_id:
        query = query.where(StreamItemRow.contact_id == contact_id)
    rows, next_cursor = keyset_items(session, query, limit, cursor, since)
    live = encode_key(rows[0]) if rows else since
    # A polling answer has no older page: the reader already has what came before.
    return FeedPage(items=[item_out(r) for r in rows], next_cursor=None if since else next_cursor, live_cursor=live)
