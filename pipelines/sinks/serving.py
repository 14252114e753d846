"""The serving sink: the rows the serving tables are built from, into the app database."""

from __future__ import annotations

import logging
import threading

import apache_beam as beam

from variance.core.warehouse import Row
from variance.pipelines.sinks.shared import SERVING, shared_writer
from variance.serving import SERVING_INPUTS, apply_rows

log = logging.getLogger(__name__)


class ServingBuffer:
    """Batches serving updates across bundles and applies them every ``every_s`` seconds."""

    def __init__(self, database_url: str, every_s: float = 0.5):
        from variance.appdb.session import make_engine, session_factory

        self._sessions = session_factory(make_engine(database_url))
        self._rows: list[Row] = []
        self._guard = threading.Lock()
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
