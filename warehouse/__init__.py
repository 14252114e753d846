"""The warehouse, behind one interface with two back ends: the local lake (Parquet files
read through DuckDB, ``variance.warehouse.local``) and BigQuery
(``variance.warehouse.bigquery``). Both take the rows the pipeline produces,
``(table_name, row)``, as ``core/warehouse.py`` defines them: TIMESTAMP values are int
microseconds since the epoch (UTC), JSON values are JSON text, a row may leave out
nullable columns.

Writers share the buffering and acknowledgement logic here (``BufferedWriter``): rows
are appended with opaque tokens (Pub/Sub ack ids), written in batches by a background
thread, and the tokens are handed to ``on_durable`` only once every row appended before
them is durable. That is what lets the local streaming pipeline acknowledge a message
only after its rows are safe: a crash before then means a redelivery, and the row keys
make the second write harmless (the newest row per key wins).

A row that can never be written (a missing required column, a value of the wrong type,
JSON that does not parse) does not block the rest: it becomes a dead-letter row with
stage ``warehouse`` and the reason, and is logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from variance.core.rows import dead_letter
from variance.core.timeutil import now_micros
from variance.core.vocabulary import Stage, WarehouseTable
from variance.core.warehouse import PYTHON_TYPES, TABLES, Row, Table, invalid_reason

if TYPE_CHECKING:
    from variance.core.settings import Settings

log = logging.getLogger(__name__)

# Re-exported for the back ends: the schema's own checks live with the schema, in the core.
__all__ = [
    "PYTHON_TYPES",
    "BufferedWriter",
    "OnDurable",
    "Row",
    "UnknownTableError",
    "WarehouseReader",
    "WarehouseWriteError",
    "WarehouseWriter",
    "invalid_reason",
    "open_reader",
    "open_writer",
    "rejected_row",
    "table_of",
]

OnDurable = Callable[[list[Any]], None]


class WarehouseWriteError(RuntimeError):
    """Rows could not be made durable; they stay buffered and their tokens unacknowledged."""


class UnknownTableError(KeyError):
    """A table name that ``core/warehouse.py`` does not define."""

    def __str__(self) -> str:
        return f"unknown warehouse table {self.args[0]!r}; tables: {', '.join(TABLES)}"


def table_of(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise UnknownTableError(name) from None


class WarehouseWriter(Protocol):
    """What the pipeline writes through, whichever warehouse is configured."""

    def append(self, rows: Iterable[Row], tokens: Iterable[Any] = ()) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class WarehouseReader(Protocol):
    """What readers (the pipeline's restart, the CLI, tests) use, whichever warehouse.
    ``where``, ``order_by`` and ``sql`` are in the back end's SQL dialect."""

    def current(
        self, table: str, where: str | None = None, params: dict | None = None, order_by: str | None = None
    ) -> list[dict]: ...

    def iter_current(
        self,
        table: str,
        where: str | None = None,
        params: dict | None = None,
        batch_rows: int = 50_000,
        order_by: str | None = None,
    ) -> Iterator[dict]: ...

    def query(self, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]: ...


def rejected_row(table: str, row: object, reason: str) -> dict:
    """The dead letter recording a row no warehouse can take, with what it was."""
    fields = row if isinstance(row, dict) else {}
    org = fields.get("org_id") if isinstance(fields.get("org_id"), str) else None
    message = fields.get("message_id") if isinstance(fields.get("message_id"), str) else None
    payload = json.dumps({"table": table, "row": row}, default=repr, sort_keys=True)
    return dead_letter(org, Stage.warehouse, f"{table}: {reason}", message, payload, now_micros()).as_dict()


_WRITE_LAST = {WarehouseTable.milestone_changes.value: 1, WarehouseTable.events.value: 2}


class BufferedWriter:
    """Buffers rows and tokens and writes them from a background thread.

    A flush happens when ``flush_rows`` rows are buffered or the oldest buffered row or
    token is ``flush_seconds`` old, and whenever ``flush()`` is called. Subclasses write
    one table's rows in ``_write_rows``; a failure keeps the rows buffered (ahead of newer
    ones, so the write order, which breaks ties between rows of one key, is kept) and the
    tokens unreported, and the next attempt waits a growing back-off (up to 30 s).
    ``_maintain`` runs on the same thread every ``maintain_every_s`` seconds.

    ``on_durable(tokens)`` runs on the flushing thread, after the rows appended before
    those tokens are durable, in append order; it may call ``append``. Rows are kept by
    reference until written: do not change a row after appending it.
    """

    def __init__(
        self,
        *,
        flush_rows: int = 5_000,
        flush_seconds: float = 0.5,
        on_durable: OnDurable | None = None,
        maintain_every_s: float | None = None,
        thread_name: str = "warehouse-writer",
    ):
        if flush_rows < 1 or flush_seconds <= 0:
            raise ValueError("flush_rows must be >= 1 and flush_seconds > 0")
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.on_durable = on_durable
        self._maintain_every = maintain_every_s
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._flushing = threading.RLock()
        self._pending: dict[str, list[dict]] = {}
        self._pending_rows = 0
        self._tokens: list[Any] = []
        self._oldest_at: float | None = None
        self._retry_at = 0.0
        self._failures = 0
        self._closing = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()

    # -- what callers use ------------------------------------------------------------------

    def append(self, rows: Iterable[Row], tokens: Iterable[Any] = ()) -> None:
        """Buffer rows (``(table, row)``) and the tokens to report once they are durable.
        Raises ``UnknownTableError`` (buffering nothing) for a table the schema lacks."""
        # By the schema's own name: a WarehouseTable member would print as its qualified name.
        rows = [(table_of(name).name, row) for name, row in rows]
        tokens = list(tokens)
        with self._lock:
            if self._closing:
                raise RuntimeError("append on a closed warehouse writer")
            if not rows and not tokens:
                return
            for name, row in rows:
                self._pending.setdefault(name, []).append(row)
            self._pending_rows += len(rows)
            self._tokens.extend(tokens)
            if self._oldest_at is None:
                self._oldest_at = time.monotonic()
                self._wake.notify()  # the thread may be asleep until maintenance: set its deadline
            elif self._pending_rows >= self.flush_rows:
                self._wake.notify()

    def flush(self) -> None:
        """Write everything appended so far; raises ``WarehouseWriteError`` if some rows
        could not be written (they stay buffered for the next attempt)."""
        if not self._flush_once():
            raise WarehouseWriteError(f"{self.pending_rows} rows are not durable yet: {self._failure_advice()}")

    def close(self) -> None:
        """Flush and stop the background thread. Raises ``WarehouseWriteError`` when rows
        could not be written: their tokens were not reported, so nothing is acknowledged
        that is not durable."""
        with self._lock:
            if self._closed:
                return
            self._closing = True
            self._wake.notify_all()
        self._thread.join()
        self._closed = True
        self.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def pending_rows(self) -> int:
        with self._lock:
            return self._pending_rows

    # -- what back ends implement ----------------------------------------------------------

    def _write_rows(self, table: str, rows: list[dict]) -> list[dict]:
        """Make ``rows`` durable; return the rows to retry later (a transient failure of
        some), or raise when none were written."""
        raise NotImplementedError

    def _failure_advice(self) -> str:
        return "the rows stay buffered and are retried; their tokens are not reported until then"

    def _maintain(self) -> None:
        """Periodic housekeeping on the writer's thread (the lake compacts files)."""

    # -- the flush -------------------------------------------------------------------------

    def _flush_once(self) -> bool:
        with self._flushing:
            with self._lock:
                batches, tokens = self._pending, self._tokens
                self._pending, self._tokens, self._pending_rows, self._oldest_at = {}, [], 0, None
            left: dict[str, list[dict]] = {}
            # Rows that mark work as done go after the rows derived from it. On restart an
            # event's row marks its message as handled and a milestone change's row marks
            # the change as emitted; if the process dies in the middle of a flush, the
            # message (not acknowledged) comes back, or the change is found missing and
            # emitted again, instead of being skipped while its matches were never written.
            for table in sorted(batches, key=lambda name: _WRITE_LAST.get(name, 0)):
                rows = batches[table]
                retry = self._write_table(table, rows)
                if retry:
                    left[table] = retry
            if left:
                self._requeue(left, tokens)
                return False
            with self._lock:
                self._failures, self._retry_at = 0, 0.0
            if tokens and self.on_durable is not None:
                try:
                    self.on_durable(tokens)
                except Exception:
                    log.exception("the on_durable callback failed for %d tokens", len(tokens))
            return True

    def _write_table(self, table: str, rows: list[dict]) -> list[dict]:
        """One attempt at ``rows``; returns those still to write, the failure logged."""
        try:
            retry = self._write_rows(table, rows)
        except Exception as exc:
            log.error(
                "writing %d %s rows to the warehouse failed (%s: %s); %s",
                len(rows),
                table,
                type(exc).__name__,
                exc,
                self._failure_advice(),
            )
            return rows
        if retry:
            log.warning(
                "%d of %d %s rows were not accepted this time; %s", len(retry), len(rows), table, self._failure_advice()
            )
        return retry

    def _requeue(self, left: dict[str, list[dict]], tokens: list[Any]) -> None:
        with self._lock:
            for table, rows in left.items():
                self._pending[table] = rows + self._pending.get(table, [])
            self._pending_rows = sum(len(rows) for rows in self._pending.values())
            self._tokens = tokens + self._tokens
            self._oldest_at = time.monotonic() if self._oldest_at is None else self._oldest_at
            self._failures += 1
            self._retry_at = time.monotonic() + min(30.0, self.flush_seconds * 2**self._failures)

    # -- the background thread -------------------------------------------------------------

    def _flush_due(self, now: float) -> float | None:
        """0 when a flush is due now, else the seconds until one is (None: nothing pending)."""
        if self._oldest_at is None:
            return None
        due = self._oldest_at + self.flush_seconds
        if self._pending_rows >= self.flush_rows:
            due = now
        return max(0.0, max(due, self._retry_at) - now)

    def _run(self) -> None:
        next_maintenance = time.monotonic() + self._maintain_every if self._maintain_every else None
        while True:
            with self._lock:
                while True:
                    if self._closing:
                        return
                    now = time.monotonic()
                    wait = self._flush_due(now)
                    until_maintenance = None if next_maintenance is None else max(0.0, next_maintenance - now)
                    if wait == 0 or until_maintenance == 0:
                        break
                    waits: Sequence[float] = [w for w in (wait, until_maintenance) if w is not None]
                    self._wake.wait(timeout=min(waits) if waits else None)
            if wait == 0:
                self._flush_once()
            if next_maintenance is not None and time.monotonic() >= next_maintenance:
                try:
                    self._maintain()
                except Exception:
                    log.exception("warehouse maintenance failed; it runs again in %s s", self._maintain_every)
                next_maintenance = time.monotonic() + (self._maintain_every or 0)


def open_writer(settings: Settings, on_durable: OnDurable | None = None, **options: Any) -> WarehouseWriter:
    """The writer the settings choose: the local lake, or BigQuery's streaming inserts."""
    from variance.core.settings import WarehouseTarget

    if settings.warehouse == WarehouseTarget.bigquery:
        from variance.warehouse.bigquery import BigQueryWriter

        return BigQueryWriter.from_settings(settings, on_durable=on_durable, **options)
    from variance.warehouse.local import LakeWriter

    return LakeWriter(settings.lake_dir, on_durable=on_durable, **options)


def open_reader(settings: Settings) -> WarehouseReader:
    """The reader the settings choose."""
    from variance.core.settings import WarehouseTarget

    if settings.warehouse == WarehouseTarget.bigquery:
        from variance.warehouse.bigquery import BigQueryReader

        return BigQueryReader.from_settings(settings)
    from variance.warehouse.local import LakeReader

    return LakeReader(settings.lake_dir)
