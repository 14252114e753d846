"""The serving sink: the rows the serving tables are built from, into the app database,
and the smart tags kept current with them.

After each batch the tags of the accounts and contacts it touched are evaluated again
(``variance.serving.tags``); each entry into or exit from a tag is an event of kind
``Tag`` named by the tag, matched to streams like any event (Event Type selectors of kind
Tag, follows of its account or contact), written to their feeds and, for streams with a
Slack channel, to the Slack outbox, in the transaction that changes ``tag_members``.
Conditions the clock alone changes ("achieved within 7 days", "3 events in 30 days") are
kept by timers: the next instant any membership of an organisation can flip, in memory,
plus a sweep of every organisation with smart tags every ``sweep_every`` (which also
picks up tags created or edited since), all on the writer's background thread.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import apache_beam as beam
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from variance.appdb.models import ContactRow
from variance.appdb.types import utcnow
from variance.core.engine.config import OrgConfig
from variance.core.engine.matching import stream_matches
from variance.core.events import EventKind
from variance.core.timeutil import to_micros
from variance.core.vocabulary import EntityType, RowStatus
from variance.core.warehouse import Row
from variance.pipelines.sinks.shared import SERVING, shared_writer
from variance.serving import DEFAULT_STREAM_RETENTION, SERVING_INPUTS, apply_rows
from variance.serving.feeds import write_event_types, write_stream_items
from variance.serving.fold import CatalogFold
from variance.serving.sql import chunked
from variance.serving.tags import TagChange, TagRefresh, orgs_with_tags, refresh_tag_members, tag_names

log = logging.getLogger(__name__)

ConfigProvider = Callable[[str], OrgConfig]
Clock = Callable[[], datetime]

# How often every organisation with smart tags is evaluated whole: what no timer knows
# (a tag created or edited in the app, a process that just started) waits at most this.
SWEEP_EVERY = timedelta(minutes=1)
MESSAGE_ID_LIMIT = 1024  # stream_items.message_id


# --- Tag events -------------------------------------------------------------------------


def tag_message_id(change: TagChange) -> str:
    """Deterministic, so writing the same change again (a retried transaction) adds nothing."""
    micros = to_micros(change.at)
    message_id = f"tag:{change.tag_id}:{change.entity_id}:{micros}"
    if len(message_id) > MESSAGE_ID_LIMIT:  # an absurdly long entity id: its digest keeps the key unique
        digest = hashlib.sha256(change.entity_id.encode()).hexdigest()
        message_id = f"tag:{change.tag_id}:{digest}:{micros}"
    return message_id


@dataclass
class TagEvents:
    events: int = 0
    stream_items: int = 0
    slack_recorded: int = 0


def _contact_accounts(session: Session, org_id: str, contact_ids: Iterable[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for chunk in chunked(sorted(set(contact_ids))):
        found.update(
            session.execute(
                select(ContactRow.contact_id, ContactRow.account_id).where(
                    ContactRow.org_id == org_id, ContactRow.contact_id.in_(chunk)
                )
            )
            .tuples()
            .all()
        )
    return found


def record_tag_events(
    session: Session,
    org_id: str,
    changes: list[TagChange],
    config: OrgConfig,
    *,
    stream_retention: int = DEFAULT_STREAM_RETENTION,
) -> TagEvents:
    """Each change as a ``Tag`` event: into the event type catalog, the feeds of the
    streams it matches, and the Slack outbox of those with a channel. Inside the caller's
    transaction, the one that changed ``tag_members``, so a change is its event exactly."""
    from variance.pipelines.sinks.slack import outbox_entries
    from variance.slack.outbox import record

    result = TagEvents()
    if not changes:
        return result
    names = tag_names(session, org_id, (c.tag_id for c in changes))
    accounts = _contact_accounts(session, org_id, (c.entity_id for c in changes if c.entity_type == EntityType.contact))
    matches: dict[tuple[str, str, str], tuple[object, dict]] = {}
    payloads: dict[tuple[str, str], tuple[str | None, str]] = {}
    properties: dict[tuple[str, str], dict[str, Any]] = {}
    tags: dict[tuple[str, str], dict[str, Any]] = {}
    catalog: dict[tuple[str, str, str], CatalogFold] = {}
    for index, change in enumerate(changes):
        name = names.get(change.tag_id)
        if name is None:
            continue  # the tag was deleted in the meantime
        message_id = tag_message_id(change)
        micros = to_micros(change.at)
        is_contact = change.entity_type == EntityType.contact
        contact_id = change.entity_id if is_contact else None
        account_id = accounts.get(change.entity_id) if is_contact else change.entity_id
        props = {
            "tag_id": change.tag_id,
            "entered": change.entered,
            "entity_type": change.entity_type.value,
            "entity_id": change.entity_id,
        }
        key = (org_id, message_id)
        payloads[key] = (None, orjson.dumps(props).decode())
        properties[key] = props
        tags[key] = {**props, "tag_name": name, "changed_at": micros}
        entry = catalog.setdefault((org_id, EventKind.tag.value, name), CatalogFold(micros, micros))
        entry.first_us, entry.last_us, entry.count = (
            min(entry.first_us, micros),
            max(entry.last_us, micros),
            entry.count + 1,
        )
        result.events += 1
        for found in stream_matches(
            config,
            kind=EventKind.tag.value,
            name=name,
            connection_name=None,
            properties=props,
            contact_id=contact_id,
            account_id=account_id,
        ):
            matches[(org_id, found.stream_id, message_id)] = (
                (0, index),
                {
                    "org_id": org_id,
                    "stream_id": found.stream_id,
                    "message_id": message_id,
                    "event_time": micros,
                    "kind": EventKind.tag.value,
                    "name": name,
                    "contact_id": contact_id,
                    "account_id": account_id,
                    "matched_by": found.matched_by,
                    "status": RowStatus.current.value,
                    "recorded_at": micros,
                },
            )
    write_event_types(session, catalog, replace=False)
    result.stream_items = write_stream_items(session, matches, payloads, {}, stream_retention).written
    entries = outbox_entries(lambda _: config, [row for _, row in matches.values()], properties)
    for entry in entries:
        entry.payload["tag"] = tags[(entry.org_id, entry.message_id)]
    result.slack_recorded = record(session, entries)
    return result


def evaluate_tags(
    session: Session,
    org_id: str,
    config: ConfigProvider,
    now: datetime | None = None,
    entity_ids: Collection[str] | None = None,
    *,
    stream_retention: int = DEFAULT_STREAM_RETENTION,
) -> TagRefresh:
    """Bring the organisation's smart tags up to date as of ``now`` (every entity, or
    those of ``entity_ids``) and record each entry and exit as a Tag event."""
    refresh = refresh_tag_members(session, org_id, now, entity_ids)
    if refresh.changes:
        record_tag_events(session, org_id, refresh.changes, config(org_id), stream_retention=stream_retention)
    return refresh


def touched_entities(rows: Iterable[Row]) -> dict[str, set[str]]:
    """The accounts and contacts (by organisation) whose facts a batch may have changed:
    their own rows, their events' and matches' ids, milestone statuses, daily activity."""
    touched: dict[str, set[str]] = defaultdict(set)
    for _, row in rows:
        org_id = row.get("org_id")
        if not org_id:
            continue
        for column in ("contact_id", "account_id", "entity_id"):
            value = row.get(column)
            if isinstance(value, str) and value:
                touched[org_id].add(value)
    return touched


class TagKeeper:
    """Which entities wait to be evaluated, and each organisation's timer. Not thread-safe:
    the serving buffer calls it under its own lock."""

    def __init__(self, sessions, config: ConfigProvider, clock: Clock, sweep_every: timedelta):
        self._sessions = sessions
        self._config = config
        self._clock = clock
        self._sweep_every = sweep_every
        self._pending: dict[str, set[str]] = defaultdict(set)
        self._due: dict[str, datetime] = {}
        self._swept_at: datetime | None = None

    def touched(self, rows: Iterable[Row]) -> None:
        for org_id, ids in touched_entities(rows).items():
            self._pending[org_id] |= ids

    def due_at(self, org_id: str) -> datetime | None:
        return self._due.get(org_id)

    def _note(self, org_id: str, refresh: TagRefresh, *, whole: bool) -> None:
        if whole:
            self._due.pop(org_id, None)
        if refresh.next_due is not None and (org_id not in self._due or refresh.next_due < self._due[org_id]):
            self._due[org_id] = refresh.next_due

    def _evaluate(self, org_id: str, now: datetime, entity_ids: Collection[str] | None) -> None:
        with self._sessions() as session, session.begin():
            refresh = evaluate_tags(session, org_id, self._config, now, entity_ids)
        self._note(org_id, refresh, whole=entity_ids is None)

    def run(self) -> None:
        """Evaluate what batches touched, then what the clock made due; a failure keeps
        the work for the next run."""
        now = self._clock()
        for org_id in sorted(self._pending):
            ids = self._pending[org_id]
            try:
                self._evaluate(org_id, now, ids)
            except Exception:
                log.exception("evaluating smart tags of %s failed; will retry", org_id)
                continue
            del self._pending[org_id]
        if self._swept_at is None or now - self._swept_at >= self._sweep_every:
            try:
                with self._sessions() as session:
                    orgs = orgs_with_tags(session)
            except Exception:
                log.exception("listing organisations with smart tags failed; will retry")
                return
            self._due.update(dict.fromkeys(orgs, now))
            self._swept_at = now
        for org_id, when in sorted(self._due.items()):
            if when <= now:
                try:
                    self._evaluate(org_id, now, None)
                except Exception:
                    log.exception("evaluating smart tags of %s failed; will retry", org_id)


# --- The buffer -------------------------------------------------------------------------


class ServingBuffer:
    """Batches serving updates across bundles and applies them every ``every_s`` seconds,
    then keeps smart tags current (``config``: the stream configuration Tag events match
    against, from the app database by default; ``clock``: now, for the tag timers)."""

    def __init__(
        self,
        database_url: str,
        every_s: float = 0.5,
        *,
        config: ConfigProvider | None = None,
        clock: Clock = utcnow,
        sweep_every: timedelta = SWEEP_EVERY,
    ):
        from variance.appdb.session import make_engine, session_factory
        from variance.pipelines.config_source import AppDatabaseConfig

        self._sessions = session_factory(make_engine(database_url))
        self._rows: list[Row] = []
        self._guard = threading.Lock()
        self._tag_guard = threading.Lock()
        self.tags = TagKeeper(self._sessions, config or AppDatabaseConfig(database_url), clock, sweep_every)
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="serving-writer", daemon=True)
        self._thread.start()

    def append(self, rows: list[Row]) -> None:
        with self._guard:
            self._rows.extend(rows)

    def flush(self) -> None:
        with self._guard:
            rows, self._rows = self._rows, []
        if rows:
            try:
                with self._sessions() as session, session.begin():
                    apply_rows(session, rows)
            except Exception:
                log.exception("updating the serving tables failed; will retry with the next batch")
                with self._guard:
                    self._rows = rows + self._rows
                return
        with self._tag_guard:
            # In a transaction of its own: a tag that fails to evaluate never holds up serving.
            self.tags.touched(rows)
            self.tags.run()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()


@beam.typehints.with_input_types(Row)
class WriteServingTables(beam.DoFn):
    """Rows of the tables the serving tables are built from (``SERVING_INPUTS``; others
    are skipped) into the app database, batched across bundles by the process's
    ``ServingBuffer``. ``synchronous`` applies every bundle at once (batch)."""

    def __init__(self, database_url: str, synchronous: bool = False):
        self.database_url = database_url
        self.synchronous = synchronous

    def setup(self):
        self.buffer = shared_writer(SERVING, self.database_url, lambda: ServingBuffer(self.database_url))

    def start_bundle(self):
        self.rows: list[Row] = []

    def process(self, element: Row):
        if element[0] in SERVING_INPUTS:
            self.rows.append(element)

    def finish_bundle(self):
        if self.rows:
            self.buffer.append(self.rows)
            if self.synchronous:
                self.buffer.flush()
        self.rows = []
