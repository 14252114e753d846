"""Stream items (bounded per stream), the event type catalog and daily activity counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, delete, func, select, tuple_
from sqlalchemy.orm import Session

from variance.appdb.models import DailyActivityRow, EventTypeRow, Stream, StreamItemRow
from variance.core.events import EventKind
from variance.core.timeutil import from_micros
from variance.core.vocabulary import RowStatus
from variance.serving.fold import CatalogFold
from variance.serving.sql import chunked, dialect_of, earliest, insert_new, latest, upsert

_ITEMS = StreamItemRow.__table__
_EVENT_TYPES = EventTypeRow.__table__
_DAILY = DailyActivityRow.__table__


@dataclass
class StreamWrite:
    written: int = 0
    removed: int = 0  # retracted
    expired: int = 0  # beyond the retention: deleted, or not written at all
    skipped: int = 0  # matches of streams that no longer exist (or of another organisation)


def write_stream_items(
    session: Session,
    matches: dict[tuple[str, str, str], tuple[object, dict]],
    payloads: dict[tuple[str, str], tuple[str | None, str]],
    change_payloads: dict[tuple[str, str], str],
    retention: int,
) -> StreamWrite:
    """Current matches become items, retracted ones are deleted; each stream then keeps
    its newest ``retention`` items (by event time, then message id).

    An item's ``connection_name`` and ``properties`` come from its event's row (traits
    for identify and group calls), or for a Milestone item from its change, when the call
    carries them; else they stay empty (None and ``{}``).
    """
    result = StreamWrite()
    if not matches:
        return result
    streams = _existing_streams(session, {(org, stream) for org, stream, _ in matches})
    items, retracted = [], []
    for key, (_, row) in sorted(matches.items()):
        if key[:2] not in streams:
            result.skipped += 1
        elif row["status"] == RowStatus.current:
            items.append(_item(key, row, payloads, change_payloads))
        else:
            retracted.append({"o": key[0], "s": key[1], "m": key[2]})
    kept = _newest_per_stream(items, retention)
    result.expired = len(items) - len(kept)
    items = kept
    result.written = upsert(
        session,
        _ITEMS,
        items,
        lambda stmt: {c.name: stmt.excluded[c.name] for c in _ITEMS.columns if not c.primary_key},
    )
    if retracted:
        session.execute(
            delete(_ITEMS).where(
                _ITEMS.c.org_id == bindparam("o"),
                _ITEMS.c.stream_id == bindparam("s"),
                _ITEMS.c.message_id == bindparam("m"),
            ),
            retracted,
        )
        result.removed = len(retracted)
    result.expired += expire_stream_items(session, {(i["org_id"], i["stream_id"]) for i in items}, retention)
    return result


def _newest_per_stream(items: list[dict], retention: int) -> list[dict]:
    """Items beyond a stream's newest ``retention`` in this very call would expire at
    once: they are not written."""
    kept: dict[tuple[str, str], list[dict]] = {}
    for item in sorted(items, key=lambda i: (i["event_time"], i["message_id"]), reverse=True):
        stream = kept.setdefault((item["org_id"], item["stream_id"]), [])
        if len(stream) < retention:
            stream.append(item)
    return sorted(
        (i for stream in kept.values() for i in stream), key=lambda i: (i["org_id"], i["stream_id"], i["message_id"])
    )


def _item(key, row: dict, payloads, change_payloads) -> dict:
    org_id, stream_id, message_id = key
    connection, properties = payloads.get((org_id, message_id), (None, None))
    if properties is None:
        properties = change_payloads.get((org_id, message_id), "{}") if row["kind"] == EventKind.milestone else "{}"
    return {
        "org_id": org_id,
        "stream_id": stream_id,
        "message_id": message_id,
        "event_time": from_micros(row["event_time"]),
        "kind": row["kind"],
        "name": row.get("name"),
        "contact_id": row.get("contact_id"),
        "account_id": row.get("account_id"),
        "connection_name": connection,
        "properties": properties,
    }


def _existing_streams(session: Session, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    found = set()
    for chunk in chunked(sorted({s for _, s in keys})):
        for org_id, stream_id in session.execute(select(Stream.org_id, Stream.id).where(Stream.id.in_(chunk))):
            if (org_id, stream_id) in keys:
                found.add((org_id, stream_id))
    return found


def expire_stream_items(session: Session, streams: set[tuple[str, str]], retention: int) -> int:
    """Delete all but the newest ``retention`` items of each stream.

    One query finds each touched stream's first item beyond the retention (ranking only
    those streams' items, which retention keeps at about ``retention`` plus one call's
    inserts); one executemany deletes, per stream, that item and everything older: an
    index range scan on ``ix_stream_items_feed``.
    """
    if not streams:
        return 0
    c = _ITEMS.c
    ranked = (
        select(
            c.org_id,
            c.stream_id,
            c.event_time,
            c.message_id,
            func.row_number()
            .over(partition_by=[c.org_id, c.stream_id], order_by=[c.event_time.desc(), c.message_id.desc()])
            .label("newest_first"),
        )
        .where(tuple_(c.org_id, c.stream_id).in_(sorted(streams)))
        .subquery()
    )
    first_beyond = select(ranked.c.org_id, ranked.c.stream_id, ranked.c.event_time, ranked.c.message_id).where(
        ranked.c.newest_first == retention + 1
    )
    cutoffs = [
        {"o": org_id, "s": stream_id, "t": event_time, "m": message_id}
        for org_id, stream_id, event_time, message_id in session.execute(first_beyond)
    ]
    if not cutoffs:
        return 0
    result = session.execute(
        delete(_ITEMS).where(
            c.org_id == bindparam("o"),
            c.stream_id == bindparam("s"),
            tuple_(c.event_time, c.message_id)
            <= tuple_(bindparam("t", type_=c.event_time.type), bindparam("m", type_=c.message_id.type)),
        ),
        cutoffs,
    )
    return result.rowcount or 0


def write_event_types(session: Session, catalog: dict[tuple[str, str, str], CatalogFold], *, replace: bool) -> int:
    """Add one call's new events to the catalog (``replace``: set the counts, for rebuild)."""
    rows = [
        {
            "org_id": org_id,
            "kind": kind,
            "name": name,
            "first_seen_at": from_micros(entry.first_us),
            "last_seen_at": from_micros(entry.last_us),
            "count": entry.count,
        }
        for (org_id, kind, name), entry in sorted(catalog.items())
    ]

    def update(stmt) -> dict:
        t = _EVENT_TYPES.c
        return {
            "first_seen_at": earliest(t.first_seen_at, stmt.excluded.first_seen_at),
            "last_seen_at": latest(t.last_seen_at, stmt.excluded.last_seen_at),
            "count": stmt.excluded["count"] if replace else t["count"] + stmt.excluded["count"],
        }

    return upsert(session, _EVENT_TYPES, rows, update)


def write_daily_activity(
    session: Session, daily: dict[tuple[str, str, str, str, str, str], int], *, new: bool = False
) -> int:
    """A window's running count replaces the stored one (never adds to it). ``new``: the
    organisations' rows were deleted in this transaction (a rebuild), so they are inserted
    without a conflict check, through the driver."""
    if new:
        postgres = dialect_of(session) == "postgresql"
        columns = ("org_id", "entity_type", "entity_id", "day", "kind", "name", "count")
        return insert_new(
            session,
            _DAILY,
            columns,
            # in the order given: a rebuild's summary comes sorted by key, which SQLite's
            # primary key B-tree takes fastest
            ((*key[:3], date.fromisoformat(key[3]) if postgres else key[3], *key[4:], n) for key, n in daily.items()),
        )
    rows = [
        {
            "org_id": org_id,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "day": date.fromisoformat(day),
            "kind": kind,
            "name": name,
            "count": count,
        }
        for (org_id, entity_type, entity_id, day, kind, name), count in sorted(daily.items())
    ]
    return upsert(session, _DAILY, rows, lambda stmt: {"count": stmt.excluded["count"]})
