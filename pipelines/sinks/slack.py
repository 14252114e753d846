"""The Slack sink: current stream matches of streams with a Slack channel, recorded in the
Slack outbox of the app database (``variance.slack.outbox``), keyed by organisation, stream
and message id. Nothing here talks to Slack: ``variance slack sender`` posts what is
recorded, at each channel's rate, so a slow or rate-limited Slack never slows the pipeline,
and no worker holds an outbox of its own (on Dataflow a worker's disk goes with it)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import apache_beam as beam
import orjson

from variance.core.vocabulary import RowStatus, WarehouseTable
from variance.core.warehouse import Row
from variance.pipelines import progress

log = logging.getLogger(__name__)

# Matches recorded per database transaction: one insert per bundle on the local runner,
# bounded on Dataflow's bigger bundles.
BATCH = 500
ATTEMPTS = 3


# One engine per database per worker process: the local runner makes a DoFn per bundle.
_SESSIONS: dict[str, Any] = {}
_LOCK = threading.Lock()


def _sessions_for(database_url: str):
    from variance.appdb.session import make_engine, session_factory

    with _LOCK:
        if database_url not in _SESSIONS:
            _SESSIONS[database_url] = session_factory(make_engine(database_url))
        return _SESSIONS[database_url]


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def outbox_entries(
    provider: Callable[[str], Any],
    matches: Iterable[Mapping[str, Any]],
    properties: Mapping[tuple[str, str], Any] | None = None,
    changes: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> list:
    """The outbox entries of the current matches whose stream has a Slack channel, with the
    event's properties and the milestone change when this bundle saw them (the sender
    falls back to the serving tables otherwise)."""
    from variance.slack.outbox import OutboxEntry

    entries = []
    for match in matches:
        if match.get("status") != RowStatus.current:
            continue
        stream = provider(match["org_id"]).streams.get(match["stream_id"])
        if stream is None or not stream.slack_channel_id:
            continue
        key = (match["org_id"], match["message_id"])
        payload = {
            "match": dict(match),
            "stream_name": stream.name,
            "channel_name": stream.slack_channel_name,
            "properties": (properties or {}).get(key),
            "milestone": dict(change) if (change := (changes or {}).get(key)) else None,
        }
        entries.append(
            OutboxEntry(match["org_id"], match["stream_id"], match["message_id"], stream.slack_channel_id, payload)
        )
    return entries


def record_entries(sessions, entries: list, attempts: int = ATTEMPTS, backoff_s: float = 0.5) -> int:
    """Record in one transaction, retried on a database error (another writer holding
    SQLite's lock, a PostgreSQL failover); raises after ``attempts`` so the runner retries
    the bundle: a match is never dropped."""
    from variance.slack.outbox import record

    for attempt in range(1, attempts + 1):
        try:
            with sessions() as session, session.begin():
                return record(session, entries)
        except Exception as exc:  # sqlalchemy's errors, whatever the driver
            if attempt == attempts:
                raise
            log.warning("recording Slack posts failed (%s), attempt %d of %d", exc, attempt, attempts)
            time.sleep(backoff_s * attempt)
    return 0


@beam.typehints.with_input_types(Row)
@beam.typehints.with_output_types(Row)
class RecordSlackPosts(beam.DoFn):
    """Records each current stream match whose stream has a Slack channel in the outbox,
    once (a known key is skipped). Outputs nothing: the sender's failures become dead
    letters there, with their reason."""

    def __init__(self, config_provider, database_url: str):
        self.config_provider = config_provider
        self.database_url = database_url

    def setup(self):
        self._sessions = _sessions_for(self.database_url)

    def start_bundle(self):
        self._matches: list[dict] = []
        self._properties: dict[tuple[str, str], Any] = {}
        self._changes: dict[tuple[str, str], dict] = {}

    def process(self, element: Row):
        table, row = element
        if table == WarehouseTable.stream_matches:
            self._matches.append(row)
            if len(self._matches) >= BATCH:
                self._flush()
        elif table == WarehouseTable.events and row.get("properties"):
            # An event and its matches come out of the same element, so of the same bundle.
            self._properties[(row["org_id"], row["message_id"])] = _json(row["properties"])
        elif table == WarehouseTable.milestone_changes and row.get("status") == RowStatus.current:
            self._changes[(row["org_id"], row["change_id"])] = row

    def finish_bundle(self):
        self._flush()

    def _flush(self) -> None:
        if not self._matches:
            return
        entries = outbox_entries(self.config_provider, self._matches, self._properties, self._changes)
        if entries:
            progress.add("slack_recorded", record_entries(self._sessions, entries))
        self._matches = []


# The sink's name before the outbox; the pipeline's wiring still imports it.
PostToSlack = RecordSlackPosts


def catch_up(config, reader, provider, now: int) -> int:
    """Record the stream matches of the last day in the outbox (a stop may have cut their
    recording short; known keys are skipped); returns how many were new. ``config`` is the
    pipeline's settings, ``reader`` the warehouse, ``provider(org_id)`` the configuration."""
    from variance.appdb.session import make_engine, session_factory

    since = now - 86_400_000_000
    rows = reader.current(
        WarehouseTable.stream_matches,
        "status = 'current' and epoch_us(recorded_at) >= $since",
        {"since": since},
        order_by="recorded_at",
    )
    engine = make_engine(config.resolved_database_url)
    try:
        sessions = session_factory(engine)
        recorded = 0
        for start in range(0, len(rows), BATCH):
            recorded += record_entries(sessions, outbox_entries(provider, rows[start : start + BATCH]))
        return recorded
    finally:
        engine.dispose()
