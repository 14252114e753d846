"""The local warehouse: a lake of immutable Parquet files per table, read through DuckDB.

Layout: ``<lake_dir>/<table>/<name>.parquet``. DuckDB allows one writing process per
database file, so nothing here keeps a database file open: the pipeline's writer adds
files, and every reader (dbt-duckdb, the CLI, the pipeline's restart) opens an in-memory
DuckDB over them.

- A file appears whole or not at all: it is written under a hidden temporary name,
  fsynced, renamed into place, and the directory fsynced.
- File names sort in write order (``<ns since epoch>-<writer>-<seq>``), and a merged file
  takes the name of the last file it replaces plus ``~cNNN``, so it sorts where those
  files did. Readers resolve each key to its newest row by ``recorded_at``, then by that
  order (file name, then row in file), which is "ties: the later written".
- Compaction merges runs of consecutive small files older than a minute into one file
  (renamed in first, then the small ones deleted), keeping the newest row per key. A
  reader that lists during a compaction may see both: the winner per key is the same
  row either way. A reader that hits a file deleted under it starts again.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from variance.core import contact_deletion as deletion
from variance.core.contact_deletion import DeletedContact
from variance.core.vocabulary import WarehouseTable
from variance.core.warehouse import DEAD_LETTERS, TABLES, Column, Table
from variance.warehouse import PYTHON_TYPES, BufferedWriter, OnDurable, invalid_reason, rejected_row, table_of

log = logging.getLogger(__name__)

ARROW_TYPES = {
    "STRING": pa.string(),
    "INT64": pa.int64(),
    "BOOL": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "JSON": pa.string(),
}
DUCKDB_TYPES = {"STRING": "VARCHAR", "INT64": "BIGINT", "BOOL": "BOOLEAN", "TIMESTAMP": "TIMESTAMPTZ", "JSON": "JSON"}
_NAME = re.compile(r"^(\d{20})-[0-9a-f]{8}-\d{8}(~c\d{3})*\.parquet$")
_FILE_COLUMN = "_lake_file"


def arrow_schema(table: Table | str) -> pa.Schema:
    """The Parquet schema of a table; JSON columns are strings marked in field metadata."""
    spec = table_of(table) if isinstance(table, str) else table
    return pa.schema(
        [
            pa.field(c.name, ARROW_TYPES[c.type], nullable=not c.required, metadata={"variance_type": c.type})
            for c in spec.columns
        ]
    )


def rows_to_arrow(table: Table, rows: list[dict]) -> tuple[pa.Table, list[tuple[Any, str]]]:
    """Rows in the pipeline's format as an Arrow table, and the rows that cannot be
    written, with the reason. Columns are converted whole; a column that fails is then
    checked value by value to find the rows to reject."""
    schema = arrow_schema(table)
    names = set(table.column_names)
    rejected = [
        (row, invalid_reason(table, row)) for row in rows if not isinstance(row, dict) or not row.keys() <= names
    ]
    if rejected:
        rows = [row for row in rows if isinstance(row, dict) and row.keys() <= names]
    arrays, failed = [], {}
    for column, field in zip(table.columns, schema, strict=True):
        values = [row.get(column.name) for row in rows]
        try:
            arrays.append(_column_array(column, field.type, values))
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            problems = {i: p for i, v in enumerate(values) if (p := _cell_problem(column, field.type, v)) is not None}
            if not problems:
                raise ValueError(f"column {column.name} cannot be written: {exc}") from exc
            for index, problem in problems.items():
                failed.setdefault(index, problem)
    if failed:
        kept, more = rows_to_arrow(table, [row for index, row in enumerate(rows) if index not in failed])
        return kept, rejected + [(rows[index], reason) for index, reason in sorted(failed.items())] + more
    return pa.Table.from_arrays(arrays, schema=schema), rejected


def _column_array(column: Column, arrow_type: pa.DataType, values: list) -> pa.Array:
    if column.type in ("INT64", "TIMESTAMP") and any(type(v) is not int for v in values if v is not None):
        raise TypeError(f"column {column.name} holds a value that is not an int")
    array = pa.array(values, type=arrow_type)
    if column.required and array.null_count:
        raise ValueError(f"column {column.name} is required")
    if column.type == "JSON":  # strict RFC 8259, as BigQuery and every JSON reader expect
        collections.deque(map(orjson.loads, [v for v in values if v is not None]), maxlen=0)
    return array


def _cell_problem(column: Column, arrow_type: pa.DataType, value: object) -> str | None:
    """Why one value cannot go in ``column`` (None when it can)."""
    if value is None:
        return f"column {column.name} is required" if column.required else None
    if type(value) not in PYTHON_TYPES[column.type]:
        return f"column {column.name} ({column.type}) got {type(value).__name__}"
    try:
        _column_array(column, arrow_type, [value])
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        if column.type == "JSON":
            return f"column {column.name} is not valid JSON ({exc})"
        return f"column {column.name} ({column.type}): {exc}"
    return None


# -- files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LakeFile:
    path: Path
    size: int
    written_ns: int  # from the name (the writer's clock), else the file's mtime


def lake_files(table_dir: Path) -> list[Path]:
    """A table's visible files in write order. Two listings are merged: a file renamed in
    during the first listing, while another was deleted, is then still seen."""
    names: set[str] = set()
    for _ in range(2):
        try:
            names.update(n for n in os.listdir(table_dir) if n.endswith(".parquet") and not n.startswith("."))
        except FileNotFoundError:
            return []
    return [table_dir / n for n in sorted(names)]


def _describe(paths: list[Path]) -> list[LakeFile]:
    found = []
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        match = _NAME.match(path.name)
        found.append(LakeFile(path, stat.st_size, int(match.group(1)) if match else stat.st_mtime_ns))
    return found


def write_parquet(path: Path, data: pa.Table) -> None:
    """Write ``data`` to ``path`` so that no reader ever sees a partial file."""
    directory = path.parent
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        _fsync_dir(directory.parent)
    temporary = directory / f".{path.name}.tmp"
    try:
        with open(temporary, "wb") as out:
            pq.write_table(data, out, compression="zstd")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _newest_per_key(table: Table, files: list[Path], columns: list[str]) -> str:
    """SQL for the newest row per key of ``files``: greatest recorded_at, then the later
    file, then the later row in it."""
    listing = "[" + ", ".join(_quote_literal(str(p)) for p in files) + "]"
    key = ", ".join(_quote_name(k) for k in table.key)
    return (
        f"select {', '.join(columns)} from read_parquet({listing}, union_by_name = true, "
        f"filename = '{_FILE_COLUMN}', file_row_number = true) "
        f"qualify row_number() over (partition by {key} "
        f"order by recorded_at desc nulls last, {_FILE_COLUMN} desc, file_row_number desc) = 1"
    )


def _connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that stays quiet: no progress bar on stdout, which carries data."""
    connection = duckdb.connect()
    connection.execute("set enable_progress_bar = false")
    return connection


def _quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- compaction -----------------------------------------------------------------------------

DEFAULT_TARGET_BYTES = 64 * 1024 * 1024


def compact(
    lake_dir: Path | str,
    tables: list[str] | None = None,
    *,
    min_age_s: float = 60.0,
    target_bytes: int = DEFAULT_TARGET_BYTES,
) -> int:
    """Merge runs of consecutive small files older than ``min_age_s`` into files of about
    ``target_bytes``, keeping the newest row per key; returns how many files were removed.

    Safe while writers and readers run, in this process or others: one compaction per
    table at a time (a lock file), merged files are renamed in before their sources go,
    and only files older than ``min_age_s`` (by name) are touched."""
    removed = 0
    for name in tables or list(TABLES):
        table_dir = Path(lake_dir) / name
        if not table_dir.is_dir():
            continue
        with _compaction_lock(table_dir) as locked:
            if locked:
                _remove_stale_temporaries(table_dir)
                for run in _runs(_describe(lake_files(table_dir)), min_age_s, target_bytes):
                    removed += _merge(TABLES[name], run)
    return removed


@contextlib.contextmanager
def _compaction_lock(table_dir: Path, wait: bool = False) -> Iterator[bool]:
    with open(table_dir / ".compaction.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def compaction_held_off(lake_dir: Path | str) -> Iterator[None]:
    """For a reader that lists the lake's files and opens them later (a dbt build, whose
    file lists are its inputs): no compaction replaces a file meanwhile. It takes each
    table's compaction lock shared; a compaction, which asks for it exclusively without
    waiting, skips its round, and writers go on adding files."""
    with contextlib.ExitStack() as held:
        for name in TABLES:
            table_dir = Path(lake_dir) / name
            if not table_dir.is_dir():
                continue
            handle = held.enter_context(open(table_dir / ".compaction.lock", "a"))
            fcntl.flock(handle, fcntl.LOCK_SH)
            held.callback(fcntl.flock, handle, fcntl.LOCK_UN)
        yield


def _remove_stale_temporaries(table_dir: Path, older_than_s: float = 3600.0) -> None:
    """Temporary files a crashed writer left behind (never visible to readers)."""
    cutoff = time.time() - older_than_s
    for entry in os.scandir(table_dir):
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)


def _runs(files: list[LakeFile], min_age_s: float, target_bytes: int) -> Iterator[list[LakeFile]]:
    """Consecutive small, old-enough files, each run about ``target_bytes`` at most. A run
    never skips a file, so the merged file can take its place in the write order."""
    horizon = time.time_ns() - int(min_age_s * 1e9)
    run: list[LakeFile] = []
    size = 0
    for file in files:
        if file.written_ns > horizon:
            break
        if file.size >= target_bytes or size + file.size > target_bytes:
            if len(run) > 1:
                yield run
            run, size = ([], 0) if file.size >= target_bytes else ([file], file.size)
            continue
        run.append(file)
        size += file.size
    if len(run) > 1:
        yield run


def _merged_name(last: str) -> str:
    stem = last[: -len(".parquet")]
    match = re.search(r"~c(\d{3})$", stem)
    if match:
        return f"{stem[: match.start()]}~c{int(match.group(1)) + 1:03d}.parquet"
    return f"{stem}~c001.parquet"


def _merge(table: Table, run: list[LakeFile]) -> int:
    schema = arrow_schema(table)
    paths = [f.path for f in run]
    connection = _connect()
    try:
        present = {row[0] for row in connection.sql(f"describe {_newest_per_key(table, paths, ['*'])}").fetchall()}
        columns = [_quote_name(c) for c in table.column_names if c in present]
        sql = _newest_per_key(table, paths, [*columns, _FILE_COLUMN, "file_row_number"])
        merged = connection.sql(f"select {', '.join(columns)} from ({sql}) order by {_FILE_COLUMN}, file_row_number")
        data = merged.to_arrow_table()
    finally:
        connection.close()
    data = pa.Table.from_arrays(
        [
            data.column(f.name).cast(f.type) if f.name in data.column_names else pa.nulls(len(data), f.type)
            for f in schema
        ],
        schema=schema,
    )
    target = run[-1].path.with_name(_merged_name(run[-1].path.name))
    write_parquet(target, data)
    for file in run:
        file.path.unlink(missing_ok=True)
    _fsync_dir(target.parent)
    log.info("compacted %d %s files into %s (%d rows)", len(run), table.name, target.name, len(data))
    return len(run)


# -- deleted contacts -----------------------------------------------------------------------


@dataclass
class LakeErasure:
    """What one rewrite for deleted contacts did: rows removed and files rewritten per
    table, and the anonymousIds found linked to each contact (its links are gone now)."""

    rows_removed: dict[str, int]
    files_rewritten: int
    linked_ids: dict[tuple[str, str], tuple[str, ...]]


def erase_deleted_contacts(lake_dir: Path | str, deleted: list[DeletedContact]) -> LakeErasure:
    """Rewrite every lake file holding rows of the deleted contacts without them (rows of
    the contact per ``core.contact_deletion``, every version of each key), keeping each
    file's name and row order, so the write order and "newest row per key" hold as before.

    Safe while the pipeline writes and readers read: each table's compaction lock is held
    throughout (a periodic compaction skips that table meanwhile), every file is replaced
    whole by a rename (a reader that opened the old one reads it to the end), and files
    added after the listing are left for the next rewrite."""
    lake = Path(lake_dir)
    removed = dict.fromkeys(TABLES, 0)
    if not deleted:
        return LakeErasure(removed, 0, {})
    with contextlib.ExitStack() as locks:
        listed: dict[str, list[Path]] = {}
        for name in TABLES:
            table_dir = lake / name
            if table_dir.is_dir():
                locks.enter_context(_compaction_lock(table_dir, wait=True))
            listed[name] = lake_files(table_dir)
        connection = _connect()
        try:
            linked = _deleted_contact_relations(connection, deleted, listed)
            rewritten = 0
            for name, files in listed.items():
                for path in files:
                    count = _rewrite_without(connection, TABLES[name], path)
                    removed[name] += count
                    rewritten += count > 0
        finally:
            connection.close()
    log.info("rewrote %d lake files without %d deleted contacts (%s)", rewritten, len(deleted), removed)
    return LakeErasure(removed, rewritten, linked)


def _all_versions_sql(table: Table, files: list[Path]) -> str:
    """Every row of ``files`` (each version of each key), with the table's columns."""
    if not files:
        nulls = ", ".join(f"cast(null as {DUCKDB_TYPES[c.type]}) as {_quote_name(c.name)}" for c in table.columns)
        return f"(select {nulls} where false)"
    listing = "[" + ", ".join(_quote_literal(str(p)) for p in files) + "]"
    return f"read_parquet({listing}, union_by_name = true)"


def _deleted_contact_relations(
    connection: duckdb.DuckDBPyConnection, deleted: list[DeletedContact], files: dict[str, list[Path]]
) -> dict[tuple[str, str], tuple[str, ...]]:
    """Create the rule's three relations as tables in ``connection`` (computed once, over
    every version of the rows); returns the anonymousIds linked to each contact."""
    links = _all_versions_sql(TABLES[WarehouseTable.identity_links.value], files[WarehouseTable.identity_links.value])
    events = _all_versions_sql(TABLES[WarehouseTable.events.value], files[WarehouseTable.events.value])
    changes = _all_versions_sql(
        TABLES[WarehouseTable.milestone_changes.value], files[WarehouseTable.milestone_changes.value]
    )
    requested = deletion.requested_sql(deleted)
    connection.execute(f"create or replace table {deletion.IDS} as {deletion.ids_sql(requested, links)}")
    connection.execute(f"create or replace table {deletion.MESSAGES} as {deletion.messages_sql(deletion.IDS, events)}")
    connection.execute(f"create or replace table {deletion.CHANGES} as {deletion.changes_sql(deletion.IDS, changes)}")
    found = connection.execute(
        f"select distinct l.org_id, l.user_id, l.anonymous_id from {links} as l "
        f"where exists (select 1 from ({requested}) as r where r.org_id = l.org_id and r.id = l.user_id)"
    ).fetchall()
    linked: dict[tuple[str, str], set[str]] = {(d.org_id, d.contact_id): set() for d in deleted}
    owner = {(d.org_id, i): (d.org_id, d.contact_id) for d in deleted for i in d.ids}
    for org_id, user_id, anonymous_id in found:
        linked[owner[(org_id, user_id)]].add(anonymous_id)
    return {key: tuple(sorted(ids)) for key, ids in linked.items()}


_RELATIONS = {name: name for name in (deletion.IDS, deletion.MESSAGES, deletion.CHANGES)}


def _rewrite_without(connection: duckdb.DuckDBPyConnection, table: Table, path: Path) -> int:
    """Rewrite one file without the deleted contacts' rows (removed when none is left);
    returns how many rows went. A file written before a column existed is matched on the
    columns it has."""
    source = f"read_parquet({_quote_literal(str(path))})"
    present = {row[0] for row in connection.sql(f"describe select * from {source}").fetchall()}
    clauses = [
        (relation, column)
        for relation, column in deletion.MATCHED_BY[WarehouseTable(table.name)]
        if column in present and "org_id" in present
    ]
    if not clauses:
        return 0
    predicate = " or ".join(
        f"exists (select 1 from {relation} as x where x.org_id = t.org_id and x.id = t.{_quote_name(column)})"
        for relation, column in clauses
    )
    [(count,)] = connection.execute(f"select count(*) from {source} as t where {predicate}").fetchall()
    if not count:
        return 0
    numbered = f"read_parquet({_quote_literal(str(path))}, file_row_number = true)"
    kept = connection.sql(
        f"select t.* exclude (file_row_number) from {numbered} as t where not ({predicate}) order by t.file_row_number"
    ).to_arrow_table()
    if len(kept) == 0:
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return count
    schema = arrow_schema(table)
    kept = pa.Table.from_arrays(
        [
            kept.column(f.name).cast(f.type) if f.name in kept.column_names else pa.nulls(len(kept), f.type)
            for f in schema
        ],
        schema=schema,
    )
    write_parquet(path, kept)
    return count


# -- the writer -----------------------------------------------------------------------------


class LakeWriter(BufferedWriter):
    """Appends the pipeline's rows to the lake in files of a sensible size.

    Thread-safe; one background thread writes each table's buffered rows to a new file
    every ``flush_seconds`` or ``flush_rows`` rows, then reports the tokens appended
    before that flush to ``on_durable``; every ``compact_every_s`` it compacts files older
    than ``compact_min_age_s``. Several writers (processes) may share a lake."""

    def __init__(
        self,
        lake_dir: Path | str,
        *,
        flush_rows: int = 5_000,
        flush_seconds: float = 0.5,
        on_durable: OnDurable | None = None,
        compact_every_s: float | None = 30.0,
        compact_min_age_s: float = 60.0,
        target_file_bytes: int = DEFAULT_TARGET_BYTES,
    ):
        self.lake_dir = Path(lake_dir)
        self.compact_min_age_s = compact_min_age_s
        self.target_file_bytes = target_file_bytes
        self._writer_id = os.urandom(4).hex()
        self._sequence = 0
        self._last_ns = 0
        self._names = threading.Lock()
        super().__init__(
            flush_rows=flush_rows,
            flush_seconds=flush_seconds,
            on_durable=on_durable,
            maintain_every_s=compact_every_s,
            thread_name="lake-writer",
        )

    def compact(self) -> int:
        """Compact every table now (the writer's thread also does it periodically)."""
        return compact(self.lake_dir, min_age_s=self.compact_min_age_s, target_bytes=self.target_file_bytes)

    def _maintain(self) -> None:
        self.compact()

    def _failure_advice(self) -> str:
        return (
            f"check free disk space and write permission on {self.lake_dir}; the rows stay buffered and are "
            "retried, and their Pub/Sub messages are not acknowledged until they are written"
        )

    def _next_name(self) -> str:
        with self._names:
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            self._sequence += 1
            return f"{self._last_ns:020d}-{self._writer_id}-{self._sequence % 10**8:08d}.parquet"

    def _write_rows(self, table: str, rows: list[dict]) -> list[dict]:
        data, rejected = rows_to_arrow(TABLES[table], rows)
        if rejected:
            for _row, reason in rejected:
                log.warning("a row of %s cannot be written (%s); it goes to dead_letters", table, reason)
            letters = [rejected_row(table, row, reason) for row, reason in rejected]
            letters_data, unwritable = rows_to_arrow(DEAD_LETTERS, letters)
            if unwritable:  # the dead letters we build are always valid; never drop silently
                raise ValueError(f"dead letters for rejected {table} rows are invalid: {unwritable[0][1]}")
            write_parquet(self.lake_dir / DEAD_LETTERS.name / self._next_name(), letters_data)
        if len(data):
            write_parquet(self.lake_dir / table / self._next_name(), data)
        return []


# -- the reader -----------------------------------------------------------------------------


class LakeQueryError(ValueError):
    """SQL the lake cannot run: not read-only, not parseable, or failing."""


_READ_ONLY = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)


@dataclass
class LakeResult:
    """A query's result as Arrow record batches, read as they are iterated."""

    columns: list[str]
    types: list[str]  # DuckDB type names: "JSON", "TIMESTAMP WITH TIME ZONE", ...
    _batches: Iterator[pa.RecordBatch]
    _close: Callable[[], None]

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._batches
        finally:
            self._close()

    def close(self) -> None:
        self._close()

    def __enter__(self) -> LakeResult:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class LakeReader:
    """Read-only access to the lake's current rows, safe while writers run in other
    processes. Each table name in SQL is a view of its current rows (the newest per key)
    with the table's columns and types (JSON columns are DuckDB JSON), even when empty.

    Queries run on an in-memory DuckDB that may read only the lake's folder; statements
    other than SELECT/WITH/DESCRIBE/SHOW/SUMMARIZE/EXPLAIN are refused.

    With ``deleted_contacts``, every table leaves out those contacts' rows (the rule of
    ``core.contact_deletion``, over the lake as it is at the first query), as if the lake
    had been rewritten without them: what rebuilds state from history reads it so."""

    def __init__(self, lake_dir: Path | str, *, attempts: int = 20, deleted_contacts: tuple[DeletedContact, ...] = ()):
        self.lake_dir = Path(lake_dir).resolve()
        self.attempts = attempts
        self.deleted_contacts = tuple(deleted_contacts)
        self._deletions_ready = not self.deleted_contacts
        self._db = _connect()
        self._db.execute(f"set allowed_directories = [{_quote_literal(str(self.lake_dir) + os.sep)}]")
        self._db.execute("set enable_external_access = false")
        self._db.execute("set lock_configuration = true")

    # -- rows in the pipeline's format ---------------------------------------------------

    def current(
        self, table: str, where: str | None = None, params: dict | None = None, order_by: str | None = None
    ) -> list[dict]:
        """The current rows of ``table`` (optionally filtered by a SQL ``where``), in key
        order unless ``order_by`` says otherwise; TIMESTAMP as int micros, JSON as text."""
        return list(self.iter_current(table, where, params, order_by=order_by))

    def iter_current(
        self,
        table: str,
        where: str | None = None,
        params: dict | None = None,
        batch_rows: int = 50_000,
        order_by: str | None = None,
    ) -> Iterator[dict]:
        """Like ``current``, a batch at a time (for tables too big to hold as dicts)."""
        spec = table_of(table)
        stamps = [c.name for c in spec.columns if c.type == "TIMESTAMP"]
        order = order_by or ", ".join(_quote_name(k) for k in spec.key)
        sql = f"select * from {_quote_name(table)}" + (f" where {where}" if where else "") + f" order by {order}"
        for batch in self.query_batches(sql, params, batch_rows):
            for name in stamps:
                index = batch.schema.get_field_index(name)
                batch = batch.set_column(index, name, batch.column(index).cast(pa.int64()))
            yield from batch.to_pylist()

    def counts(self) -> dict[str, int]:
        """Current rows per table."""
        sql = " union all ".join(
            f"select {_quote_literal(name)} as t, count(*) as n from {_quote_name(name)}" for name in TABLES
        )
        _, rows = self.query(sql)
        found = dict(rows)
        return {name: found[name] for name in TABLES}

    # -- SQL -------------------------------------------------------------------------------

    def query(self, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        """Run read-only SQL over the current rows; returns the column names and rows
        (DuckDB's Python values)."""
        return self._run(sql, params, lambda relation: (list(relation.columns), relation.fetchall()))

    def query_batches(self, sql: str, params: dict | None = None, batch_rows: int = 50_000) -> LakeResult:
        """Run read-only SQL; the result comes as Arrow record batches. A query over one
        table streams: its view reads all its files before the first row comes out (the
        newest-per-key window needs them all), so a compaction after that cannot disturb
        the iteration. A query naming tables more than once is run to the end first,
        where a deleted file can still be retried."""
        cursors = []
        streams = sum(len(re.findall(rf"\b{name}\b", sql, re.IGNORECASE)) for name in TABLES) <= 1

        def start(relation):
            if not streams:
                return relation, iter(relation.to_arrow_table().to_batches(batch_rows)), None
            reader = relation.to_arrow_reader(batch_rows)
            return relation, reader, next(iter(reader), None)  # runs the query: file errors surface here

        relation, reader, first = self._run(sql, params, start, keep=cursors.append)

        def batches() -> Iterator[pa.RecordBatch]:
            if first is not None:
                yield first
            yield from reader

        def close() -> None:
            for cursor in cursors:
                cursor.close()
            cursors.clear()

        return LakeResult(list(relation.columns), [str(t) for t in relation.types], batches(), close)

    def _run(self, sql: str, params: dict | None, use, keep=None):
        self._check_read_only(sql)
        for attempt in range(self.attempts):
            cursor = self._db.cursor()
            try:
                self._create_views(cursor, sql)
                relation = cursor.sql(sql, params=params)
                if relation is None:
                    raise LakeQueryError("the statement returns no rows")
                result = use(relation)
            except duckdb.IOException as exc:
                cursor.close()
                if attempt + 1 == self.attempts:
                    raise LakeQueryError(_first_line(exc)) from None
                log.debug("a lake file went away during a read (%s); listing again", _first_line(exc))
                time.sleep(0.005 * (attempt + 1))  # a file went away (compaction): list again
                continue
            except duckdb.Error as exc:
                cursor.close()
                raise LakeQueryError(_first_line(exc)) from None
            except BaseException:
                cursor.close()
                raise
            if keep is None:
                cursor.close()
            else:
                keep(cursor)
            return result
        raise AssertionError("unreachable")

    def _check_read_only(self, sql: str) -> None:
        cursor = self._db.cursor()
        try:
            statements = cursor.extract_statements(sql)
        except duckdb.Error as exc:
            raise LakeQueryError(_first_line(exc)) from None
        finally:
            cursor.close()
        if len(statements) != 1:
            raise LakeQueryError(f"give exactly one statement, got {len(statements)}")
        statement = statements[0]
        if statement.type not in _READ_ONLY:
            kind = statement.type.name
            raise LakeQueryError(
                f"the lake is read-only: only SELECT, WITH, DESCRIBE, SHOW and EXPLAIN run here, not {kind}"
            )
        if statement.type == duckdb.StatementType.EXPLAIN:  # EXPLAIN ANALYZE runs its statement
            inner = re.match(r"\s*explain\s+(?:analyze\s+)?(.*)$", statement.query, re.IGNORECASE | re.DOTALL)
            if inner is None:
                raise LakeQueryError("EXPLAIN must start the statement")
            self._check_read_only(inner.group(1))

    def _create_views(self, cursor, sql: str) -> None:
        if not self._deletions_ready:
            listed = {name: lake_files(self.lake_dir / name) for name in TABLES}
            _deleted_contact_relations(cursor, list(self.deleted_contacts), listed)
            self._deletions_ready = True
        named = [name for name in TABLES if re.search(rf"\b{name}\b", sql, re.IGNORECASE)]
        for name in named or list(TABLES):
            cursor.execute(f"create or replace temp view {_quote_name(name)} as {self._view_sql(cursor, name)}")
        for name, path in mart_files(self.lake_dir).items():  # dbt's marts, published whole
            if re.search(rf"\b{re.escape(name)}\b", sql, re.IGNORECASE):
                cursor.execute(
                    f"create or replace temp view {_quote_name(name)} as "
                    f"select * from read_parquet({_quote_literal(str(path))})"
                )

    def _view_sql(self, cursor, name: str) -> str:
        table = TABLES[name]
        files = lake_files(self.lake_dir / name)
        if not files:
            nulls = ", ".join(f"cast(null as {DUCKDB_TYPES[c.type]}) as {_quote_name(c.name)}" for c in table.columns)
            return f"select {nulls} where false"
        present = {row[0] for row in cursor.sql(f"describe {_newest_per_key(table, files, ['*'])}").fetchall()}
        columns = [
            f"cast({_quote_name(c.name) if c.name in present else 'null'} as {DUCKDB_TYPES[c.type]}) "
            f"as {_quote_name(c.name)}"
            for c in table.columns
        ]
        current = _newest_per_key(table, files, columns)
        if not self.deleted_contacts:
            return current
        predicate = deletion.deleted_rows_predicate(WarehouseTable(name), "t", _RELATIONS)
        return f"select * from ({current}) as t where not ({predicate})"


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# -- dbt's marts ----------------------------------------------------------------------------

MARTS_FOLDER = "marts"


def marts_dir(lake_dir: Path | str) -> Path:
    """Where ``variance dbt build`` publishes dbt's marts: one Parquet file per model or
    team view, each written under a temporary name and renamed, so readers see it whole."""
    return Path(lake_dir) / MARTS_FOLDER


def mart_files(lake_dir: Path | str) -> dict[str, Path]:
    """Each published mart by name (never a pipeline table's name), sorted by name."""
    folder = marts_dir(lake_dir)
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return {}
    return {
        name[: -len(".parquet")]: folder / name
        for name in names
        if name.endswith(".parquet") and not name.startswith(".") and name[: -len(".parquet")] not in TABLES
    }
