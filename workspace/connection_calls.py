"""Each connection's recent calls, as the Integrations page shows them: when the last call
arrived, how many were accepted and rejected in the last hour and day, and the latest
rejections with the field and rule they broke. A request refused whole (a wrong secret on
a connection's webhook URL, a body too large or not JSON, no valid call) counts as one
rejected call of its connection, when the request names one (see ``api/routes/ingest.py``).

Ingestion must not wait on the app database, so the API only adds each request's counts
to a :class:`CallTally` in memory (a dict update under a lock); a background thread
writes them every :data:`FLUSH_EVERY_S` seconds as one row per connection and minute,
adding to what other API processes wrote for the same minute. Rows older than
:data:`KEEP` are pruned as it writes, and only the latest :data:`KEEP_REJECTIONS`
rejections per connection are kept, so both tables stay small whatever the traffic.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from variance.appdb.models import Connection, ConnectionCalls, ConnectionRejection
from variance.core import bus

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 5.0
KEEP = timedelta(days=2)
KEEP_REJECTIONS = 20  # per connection
PENDING_REJECTIONS = 50  # per connection between two writes: a flood keeps the newest


class RejectedCall(Protocol):
    message_id: str | None

    @property
    def message(self) -> str: ...


@dataclass
class _Minute:
    org_id: str
    accepted: int = 0
    rejected: int = 0
    last_received_at: float = 0.0  # epoch seconds: no datetime is built on the request path


@dataclass
class _Pending:
    minutes: dict[tuple[str, int], _Minute] = field(default_factory=dict)  # (connection, epoch minute)
    rejections: dict[str, list[tuple[str, float, str | None, str]]] = field(default_factory=dict)


def _minute(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(second=0, microsecond=0)


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, timezone.utc)


class CallTally:
    """Counts per connection and minute, in memory until :meth:`flush` writes them."""

    def __init__(self, sessions: Callable[[], Session], clock: Callable[[], float] = time.time):
        self.sessions = sessions
        self.clock = clock  # epoch seconds
        self._pending = _Pending()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def note(self, messages: Sequence[bus.BusMessage], accepted: int, rejections: Iterable[RejectedCall] = ()) -> None:
        """One request's calls, as published: ``messages`` name the organisation and connection."""
        if not messages:
            return
        attributes = messages[0].attributes
        rejected = [(r.message_id, r.message) for r in rejections]
        self._count(attributes[bus.ORG_ID], attributes[bus.CONNECTION_ID], accepted, rejected)

    def note_refused(self, org_id: str, connection_id: str, reason: str, message_id: str | None = None) -> None:
        """A request of a known connection refused whole (wrong secret, a body that is too
        large or not JSON, no valid call): one rejected call, whatever the body held, since
        a body that was not read or not understood cannot be counted call by call."""
        self._count(org_id, connection_id, 0, [(message_id, reason)])

    def _count(self, org_id: str, connection_id: str, accepted: int, rejected: list[tuple[str | None, str]]) -> None:
        at = self.clock()
        key = (connection_id, int(at // 60))
        with self._lock:
            minute = self._pending.minutes.get(key)
            if minute is None:
                minute = self._pending.minutes[key] = _Minute(org_id)
            minute.accepted += accepted
            minute.rejected += len(rejected)
            minute.last_received_at = at
            if rejected:
                kept = self._pending.rejections.setdefault(connection_id, [])
                kept.extend((org_id, at, message_id, reason[:1000]) for message_id, reason in rejected)
                del kept[:-PENDING_REJECTIONS]

    def flush(self) -> int:
        """Write what was counted since the last flush; returns how many minute rows it touched."""
        with self._lock:
            pending, self._pending = self._pending, _Pending()
        if not pending.minutes:
            return 0
        with self.sessions() as session, session.begin():
            for (connection_id, epoch_minute), counted in pending.minutes.items():
                minute = _at(epoch_minute * 60)
                row = session.get(ConnectionCalls, (connection_id, minute))
                if row is None:
                    row = ConnectionCalls(
                        connection_id=connection_id, minute=minute, org_id=counted.org_id, accepted=0, rejected=0
                    )
                    session.add(row)
                row.accepted += counted.accepted
                row.rejected += counted.rejected
                last = _at(counted.last_received_at)
                if row.last_received_at is None or last > row.last_received_at:
                    row.last_received_at = last
            for connection_id, rejections in pending.rejections.items():
                session.add_all(
                    ConnectionRejection(
                        connection_id=connection_id,
                        org_id=org_id,
                        received_at=_at(at),
                        message_id=message_id,
                        reason=reason,
                    )
                    for org_id, at, message_id, reason in rejections
                )
            session.flush()
            _prune(session, set(pending.rejections), _at(self.clock()))
        return len(pending.minutes)

    def start(self, every_s: float = FLUSH_EVERY_S) -> None:
        """Flush in a daemon thread every ``every_s`` seconds (a failed write is logged and
        its counts dropped: these are health figures, not the events themselves)."""
        if self._thread is not None:
            return
        stop, tally = self._stop, weakref.ref(self)

        def run() -> None:
            # Holds the tally weakly: once its app is gone (tests make many), the thread ends.
            while not stop.wait(every_s):
                alive = tally()
                if alive is None:
                    return
                alive._flush_logged()
                del alive

        self._thread = threading.Thread(target=run, name="connection-calls", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._flush_logged()

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except Exception as exc:
            log.warning("could not write connections' call counts (%s); those counts are lost", exc)


def _prune(session: Session, with_new_rejections: set[str], now: datetime) -> None:
    session.execute(delete(ConnectionCalls).where(ConnectionCalls.minute < _minute(now - KEEP)))
    for connection_id in with_new_rejections:
        newest = select(ConnectionRejection.id).where(ConnectionRejection.connection_id == connection_id)
        newest = newest.order_by(ConnectionRejection.id.desc()).limit(KEEP_REJECTIONS)
        session.execute(
            delete(ConnectionRejection).where(
                ConnectionRejection.connection_id == connection_id, ConnectionRejection.id.not_in(newest)
            )
        )


_TALLY_LOCK = threading.Lock()


def tally_of(state: Any) -> CallTally:
    """The API process's tally (``app.state.sessions`` is its database), started on first use."""
    tally = getattr(state, "call_tally", None)
    if tally is None:
        with _TALLY_LOCK:
            tally = getattr(state, "call_tally", None)
            if tally is None:
                tally = CallTally(state.sessions)
                tally.start()
                state.call_tally = tally
    return tally


def flush_pending(state: Any) -> None:
    """Write this process's counts now, so a page read after a call shows it (other API
    processes' counts arrive within :data:`FLUSH_EVERY_S`)."""
    tally = getattr(state, "call_tally", None)
    if tally is not None:
        tally.flush()


def note_published(state: Any, prepared: Any) -> None:
    """The ingestion hook: count a request's calls once they are published."""
    tally_of(state).note(prepared.messages, prepared.accepted, prepared.rejections)


def note_refused(state: Any, org_id: str, connection_id: str, reason: str, message_id: str | None = None) -> None:
    """The ingestion hook for a request refused whole whose connection is known."""
    tally_of(state).note_refused(org_id, connection_id, reason, message_id)


def owner_of(session: Session, connection_id: str) -> str | None:
    """The organisation of a connection id (as a webhook URL names it), or None when no
    connection has that id: the refusals of an unknown id belong to nobody's health."""
    return session.scalar(select(Connection.org_id).where(Connection.id == connection_id))


@dataclass(frozen=True)
class Rejection:
    received_at: datetime
    message_id: str | None
    reason: str


@dataclass(frozen=True)
class Health:
    """What the Integrations page shows for one connection."""

    last_received_at: datetime | None
    accepted_hour: int
    rejected_hour: int
    accepted_day: int
    rejected_day: int
    rejections: list[Rejection]


def health(
    session: Session,
    org_id: str,
    now: datetime | None = None,
    rejections: int = 5,
    connection_id: str | None = None,
) -> dict[str, Health]:
    """Per connection of the organisation (or just ``connection_id``) that received
    anything in the last two days."""
    now = now or datetime.now(timezone.utc)
    hour, day = _minute(now - timedelta(hours=1)), _minute(now - timedelta(days=1))
    in_hour = ConnectionCalls.minute > hour
    calls_of = [ConnectionCalls.org_id == org_id]
    rejections_of = [ConnectionRejection.org_id == org_id]
    if connection_id is not None:
        calls_of.append(ConnectionCalls.connection_id == connection_id)
        rejections_of.append(ConnectionRejection.connection_id == connection_id)
    rows = session.execute(
        select(
            ConnectionCalls.connection_id,
            func.max(ConnectionCalls.last_received_at),
            func.sum(ConnectionCalls.accepted).filter(in_hour),
            func.sum(ConnectionCalls.rejected).filter(in_hour),
            func.sum(ConnectionCalls.accepted).filter(ConnectionCalls.minute > day),
            func.sum(ConnectionCalls.rejected).filter(ConnectionCalls.minute > day),
        )
        .where(*calls_of)
        .group_by(ConnectionCalls.connection_id)
    ).all()
    latest: dict[str, list[Rejection]] = {}
    recent = (
        select(ConnectionRejection)
        .where(*rejections_of)
        .order_by(ConnectionRejection.connection_id, ConnectionRejection.id.desc())
    )
    for row in session.scalars(recent):
        kept = latest.setdefault(row.connection_id, [])
        if len(kept) < rejections:
            kept.append(Rejection(row.received_at, row.message_id, row.reason))
    return {
        connection_id: Health(
            last_received_at=last,
            accepted_hour=int(a_hour or 0),
            rejected_hour=int(r_hour or 0),
            accepted_day=int(a_day or 0),
            rejected_day=int(r_day or 0),
            rejections=latest.get(connection_id, []),
        )
        for connection_id, last, a_hour, r_hour, a_day, r_day in rows
    }
