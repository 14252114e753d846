"""The Slack outbox in the app database: what the pipeline recorded, keyed like the stream
match it comes from, so a redelivery, a retry or a restart's catch-up adds nothing twice.

A row moves ``pending -> sending -> sent | digested`` (or ``dead``, a dead letter of stage
``slack``, put back to ``pending`` when its stream's Slack status recovers). Rows that are
done stay as the sent-log for ``VARIANCE_SLACK_SENT_RETENTION`` and are then pruned, so the
log is bounded and nothing reads it whole: a key is looked up by its primary key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from variance.appdb.models import SlackOutboxRow
from variance.appdb.types import utcnow
from variance.core.vocabulary import SlackDelivery

# Dead letters wait this long for their stream's status to recover, then go: they are in
# the warehouse's dead letters too, and an alert that old is no longer news.
DEAD_RETENTION = timedelta(days=7)


def match_key(org_id: str, stream_id: str, message_id: str) -> str:
    """The outbox key of a stream match: the sent-log's key, of fixed length whatever the ids."""
    return hashlib.sha256(f"{org_id}\0{stream_id}\0{message_id}".encode()).hexdigest()


@dataclass(frozen=True)
class OutboxEntry:
    """One stream match to post to one channel; ``payload`` holds the match and what the
    message needs that only the pipeline has at hand (the event's properties, the change
    of a milestone)."""

    org_id: str
    stream_id: str
    message_id: str
    channel_id: str
    payload: dict[str, Any]

    @property
    def key(self) -> str:
        return match_key(self.org_id, self.stream_id, self.message_id)


def record(session: Session, entries: Iterable[OutboxEntry]) -> int:
    """Add the entries whose key is new; returns how many were added. Safe to call twice
    with the same entries, from any number of processes (the insert skips a known key)."""
    by_key = {e.key: e for e in entries}
    if not by_key:
        return 0
    known = set(session.scalars(select(SlackOutboxRow.key).where(SlackOutboxRow.key.in_(list(by_key)))))
    fresh = [e for k, e in by_key.items() if k not in known]
    if not fresh:
        return 0
    now = utcnow()
    values = [
        {
            "key": e.key,
            "org_id": e.org_id,
            "stream_id": e.stream_id,
            "message_id": e.message_id,
            "channel_id": e.channel_id,
            "payload": orjson.dumps(e.payload, default=str).decode(),
            "state": SlackDelivery.pending.value,
            "attempts": 0,
            # a microsecond apart, so the sender posts a batch in the order it was recorded
            "created_at": now + timedelta(microseconds=i),
            "next_attempt_at": now,
        }
        for i, e in enumerate(fresh)
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(SlackOutboxRow).on_conflict_do_nothing(index_elements=["key"]), values)
    return len(fresh)


def due(session: Session, now: datetime, limit: int = 2000) -> list[SlackOutboxRow]:
    """Pending rows whose time has come, oldest first."""
    return list(
        session.scalars(
            select(SlackOutboxRow)
            .where(SlackOutboxRow.state == SlackDelivery.pending, SlackOutboxRow.next_attempt_at <= now)
            .order_by(SlackOutboxRow.created_at, SlackOutboxRow.key)
            .limit(limit)
        )
    )


def in_state(session: Session, state: SlackDelivery, stream_id: str | None = None) -> list[SlackOutboxRow]:
    query = select(SlackOutboxRow).where(SlackOutboxRow.state == state)
    if stream_id is not None:
        query = query.where(SlackOutboxRow.stream_id == stream_id)
    return list(session.scalars(query.order_by(SlackOutboxRow.created_at, SlackOutboxRow.key)))


def requeue_dead(session: Session, stream_id: str, now: datetime) -> int:
    """Put a stream's dead letters back in line (its status recovered); returns how many."""
    result = session.execute(
        update(SlackOutboxRow)
        .where(SlackOutboxRow.stream_id == stream_id, SlackOutboxRow.state == SlackDelivery.dead)
        .values(state=SlackDelivery.pending.value, attempts=0, next_attempt_at=now, done_at=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune(session: Session, now: datetime, retention: timedelta) -> int:
    """Forget rows done longer ago than ``retention`` (dead letters after :data:`DEAD_RETENTION`)."""
    done = (SlackDelivery.sent.value, SlackDelivery.digested.value)
    removed = session.execute(
        delete(SlackOutboxRow).where(SlackOutboxRow.state.in_(done), SlackOutboxRow.done_at < now - retention)
    ).rowcount  # type: ignore[attr-defined]
    removed += session.execute(
        delete(SlackOutboxRow).where(
            SlackOutboxRow.state == SlackDelivery.dead, SlackOutboxRow.done_at < now - DEAD_RETENTION
        )
    ).rowcount  # type: ignore[attr-defined]
    return int(removed or 0)


def counts(session: Session) -> dict[str, int]:
    """Rows per state, for the sender's health answer and tests."""
    from sqlalchemy import func

    rows = session.execute(select(SlackOutboxRow.state, func.count()).group_by(SlackOutboxRow.state))
    return {str(state): int(n) for state, n in rows}
