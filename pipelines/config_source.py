"""The pipeline's one adapter to configuration: connections, milestones, streams and
follows from the app database, as ``OrgConfig`` snapshots.

Refreshed at most every ``refresh_s`` seconds (30 by default), so a running pipeline
sees a new milestone, stream or follow within a minute, without a restart. Beam's
slowly-changing side input pattern does not work on the local runner (its side inputs
block the main input in the global window, and PeriodicImpulse fails there), so each
worker process keeps this cache instead; on Dataflow every worker does the same, which
also spares a broadcast of every organisation's configuration to every worker.
"""

from __future__ import annotations

import logging
import threading
import time

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from variance.appdb.models import Connection, Follow, Milestone, Stream, StreamSelector
from variance.appdb.session import make_engine, session_factory
from variance.core.engine.config import ConnectionSpec, MilestoneSpec, OrgConfig, SelectorSpec, StreamSpec
from variance.core.filters import PropertyFilter

log = logging.getLogger(__name__)

# Every DoFn instance unpickles its own AppDatabaseConfig (one per bundle on the local
# runner), so the snapshots and each database's session factory live in the process.
_CACHE: dict[tuple[str, str], tuple[float, OrgConfig]] = {}
_SESSIONS: dict[str, sessionmaker[Session]] = {}
_LOCK = threading.Lock()
# how often an unknown connection makes a snapshot be read again
_RECHECK_S = 1.0


def _filters(text: str) -> tuple[PropertyFilter, ...]:
    return tuple(PropertyFilter.model_validate(f) for f in orjson.loads(text or "[]"))


def load_org_config(session, org_id: str) -> OrgConfig:
    connections = [
        ConnectionSpec(c.id, c.name, c.mapping, c.account_id_trait, c.account_name_trait)
        for c in session.scalars(select(Connection).where(Connection.org_id == org_id))
    ]
    milestones = [
        MilestoneSpec(
            id=m.id,
            name=m.name,
            version=m.version,
            entity=m.entity,
            kind=m.event_kind,
            event_name=m.event_name,
            filters=_filters(m.filters),
            threshold=m.threshold,
            window_us=m.window_seconds * 1_000_000 if m.window_seconds else None,
        )
        for m in session.scalars(select(Milestone).where(Milestone.org_id == org_id))
    ]
    selectors: dict[str, list[SelectorSpec]] = {}
    for s in session.scalars(
        select(StreamSelector).where(StreamSelector.org_id == org_id).order_by(StreamSelector.position)
    ):
        selectors.setdefault(s.stream_id, []).append(
            SelectorSpec(s.kind, s.name, _filters(s.filters), s.connection_name)
        )
    streams = [
        StreamSpec(s.id, s.name, s.type, tuple(selectors.get(s.id, ())), s.slack_channel_id, s.slack_channel_name)
        for s in session.scalars(select(Stream).where(Stream.org_id == org_id))
    ]
    follows = [
        (f.stream_id, f.entity_type, f.entity_id)
        for f in session.scalars(select(Follow).where(Follow.org_id == org_id))
    ]
    return OrgConfig.build(org_id, connections, milestones, streams, follows)


class AppDatabaseConfig:
    """A picklable config provider for the pipeline: ``provider(org_id) -> OrgConfig``.

    Within ``refresh_s`` it returns the very same snapshot object, so the engine can
    tell "unchanged" by identity.
    """

    def __init__(self, database_url: str, refresh_s: float = 30.0):
        self.database_url = database_url
        self.refresh_s = refresh_s

    def _sessions(self) -> sessionmaker[Session]:
        with _LOCK:
            factory = _SESSIONS.get(self.database_url)
            if factory is None:
                factory = _SESSIONS[self.database_url] = session_factory(make_engine(self.database_url))
            return factory

    def __call__(self, org_id: str) -> OrgConfig:
        key = (self.database_url, org_id)
        now = time.monotonic()
        with _LOCK:
            cached = _CACHE.get(key)
        if cached and now - cached[0] < self.refresh_s:
            return cached[1]
        try:
            with self._sessions()() as session:
                fresh = load_org_config(session, org_id)
        except Exception as exc:
            if cached:
                log.warning("reading configuration for %s failed (%s); using the previous snapshot", org_id, exc)
                return cached[1]
            raise
        if cached and cached[1] == fresh:
            fresh = cached[1]  # unchanged: keep the object, so nothing is reconfigured
        with _LOCK:
            _CACHE[key] = (now, fresh)
        return fresh

    def knows_connection(self, org_id: str, connection_id: str) -> bool:
        """Whether the organisation has this connection. A connection missing from the
        snapshot may be newer than it: the database is read again, at most once a second
        per organisation, so a flood of messages naming no connection costs little."""
        if connection_id in self(org_id).connections:
            return True
        key = (self.database_url, org_id)
        now = time.monotonic()
        with _LOCK:
            cached = _CACHE.get(key)
            if cached is not None and now - cached[0] < _RECHECK_S:
                return False
            if cached is not None:  # stale now; an unchanged snapshot keeps its identity
                _CACHE[key] = (float("-inf"), cached[1])
        return connection_id in self(org_id).connections
