"""Sinks: the warehouse (local lake or BigQuery), the app database's serving tables, and
Slack. Each takes the rows the transforms produce, ``(table, row)``.

On the local runner every DoFn instance lives for one bundle, so the writers that batch
across bundles (the lake writer, the serving writer) are kept per process and reached
through ``of(...)``; their background flush is what makes batches of a sensible size.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import apache_beam as beam

from variance.core.warehouse import TABLES
from variance.pipelines import progress
from variance.transforms.messages import ACK

log = logging.getLogger(__name__)


class WriteToLocalWarehouse(beam.DoFn):
    """Rows to the local lake; ack ids acknowledged once their rows are durable."""

    def __init__(self, lake_dir: str, settings=None, synchronous: bool = False):
        self.lake_dir = lake_dir
        self.settings = settings
        self.synchronous = synchronous

    def setup(self):
        from variance.warehouse.local import LakeWriter

        self.writer = _shared_writer(self.lake_dir, self.settings, LakeWriter)

    def start_bundle(self):
        self.rows, self.tokens = [], []

    def process(self, element):
        table, row = element
        if table == ACK:
            self.tokens.append(row["ack_id"])
        elif table in TABLES:
            self.rows.append((table, row))

    def finish_bundle(self):
        if self.rows or self.tokens:
            for table, row in self.rows:
                progress.add(table)
                if table == "events":
                    progress.observe_event_time(row["received_at"])
            self.writer.append(self.rows, self.tokens)
            if self.synchronous:
                self.writer.flush()
        self.rows, self.tokens = [], []


_WRITERS: dict[str, object] = {}
_WRITERS_LOCK = threading.Lock()


def _shared_writer(lake_dir: str, settings, writer_class):
    with _WRITERS_LOCK:
        writer = _WRITERS.get(lake_dir)
        if writer is None:
            on_durable = None
            if settings is not None:
                from variance.pipelines.sources.local_pubsub import Lease

                lease = Lease.of(settings)
                on_durable = lease.acknowledge
            writer = _WRITERS[lake_dir] = writer_class(Path(lake_dir), on_durable=on_durable)
        return writer


def close_writers() -> None:
    """Flush and stop every writer of this process (at shutdown)."""
    with _WRITERS_LOCK:
        writers = list(_WRITERS.values())
        _WRITERS.clear()
    for writer in writers:
        writer.close()
    with _SERVING_LOCK:
        servings = list(_SERVING.values())
        _SERVING.clear()
    for serving in servings:
        serving.close()


class ServingBuffer:
    """Batches serving updates across bundles and applies them every ``every_s`` seconds."""

    def __init__(self, database_url: str, every_s: float = 0.5):
        from variance.appdb.session import make_engine, session_factory

        self._sessions = session_factory(make_engine(database_url))
        self._rows: list = []
        self._guard = threading.Lock()
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="serving-writer", daemon=True)
        self._thread.start()

    def append(self, rows: list) -> None:
        with self._guard:
            self._rows.extend(rows)

    def flush(self) -> None:
        from variance.serving import apply_rows

        with self._guard:
            rows, self._rows = self._rows, []
        if not rows:
            return
        try:
            with self._sessions() as session, session.begin():
                apply_rows(session, rows)
        except Exception:
            log.exception("updating the serving tables failed; will retry with the next batch")
            with self._guard:
                self._rows = rows + self._rows

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()


_SERVING: dict[str, ServingBuffer] = {}
_SERVING_LOCK = threading.Lock()


class WriteServingTables(beam.DoFn):
    SERVED = frozenset(
        {
            "events",
            "contacts",
            "accounts",
            "contact_account_links",
            "milestone_changes",
            "stream_matches",
            "daily_activity",
        }
    )

    def __init__(self, database_url: str, synchronous: bool = False):
        self.database_url = database_url
        self.synchronous = synchronous

    def setup(self):
        with _SERVING_LOCK:
            buffer = _SERVING.get(self.database_url)
            if buffer is None:
                buffer = _SERVING[self.database_url] = ServingBuffer(self.database_url)
        self.buffer = buffer

    def start_bundle(self):
        self.rows = []

    def process(self, element):
        if element[0] in self.SERVED:
            self.rows.append(element)

    def finish_bundle(self):
        if self.rows:
            self.buffer.append(self.rows)
            if self.synchronous:
                self.buffer.flush()
        self.rows = []


class PostToSlack(beam.DoFn):
    """Current stream matches of streams with a Slack channel, posted once each."""

    def __init__(self, config_provider, outbox: str, token: str | None, api_url: str | None):
        self.config_provider = config_provider
        self.outbox = outbox
        self.token = token
        self.api_url = api_url

    def setup(self):
        from variance.clients.slack import SlackSender

        self.sender = SlackSender.of(Path(self.outbox), self.token, self.api_url)

    def process(self, element):
        from variance.clients.slack import post_match

        table, row = element
        if table != "stream_matches":
            return
        for attempt in range(3):
            try:
                if post_match(self.sender, self.config_provider, row):
                    progress.add("slack_posts")
                return
            except Exception as exc:
                log.warning("posting to Slack failed (%s), attempt %d", exc, attempt + 1)
                time.sleep(0.5 * (attempt + 1))


def flush_writer(lake_dir: str) -> None:
    """Make what this process buffered for the lake durable now (if it has a writer)."""
    with _WRITERS_LOCK:
        writer = _WRITERS.get(lake_dir)
    if writer is not None:
        writer.flush()


def write_sinks(rows, settings, *, ack_settings=None, synchronous: bool = False, slack_config=None) -> None:
    """All rows to the warehouse the settings choose and to the serving tables; stream
    matches to Slack when a config provider is given (streaming; a backfill posts nothing).

    ``ack_settings`` (local streaming only) makes the lake writer acknowledge Pub/Sub
    messages once their rows are durable; ``synchronous`` flushes every bundle (batch)."""
    from variance.core.settings import WarehouseTarget

    if settings.warehouse == WarehouseTarget.bigquery:
        from variance.warehouse.bigquery import WriteWarehouseToBigQuery

        rows | "ToBigQuery" >> WriteWarehouseToBigQuery(settings)
    else:
        rows | "ToLocalWarehouse" >> beam.ParDo(
            WriteToLocalWarehouse(str(settings.lake_dir), ack_settings, synchronous)
        )
    rows | "ToServingTables" >> beam.ParDo(WriteServingTables(settings.resolved_database_url, synchronous))
    if slack_config is not None:
        rows | "ToSlack" >> beam.ParDo(
            PostToSlack(slack_config, str(settings.outbox_path), settings.slack_token, settings.slack_api_url)
        )
