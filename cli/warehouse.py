"""``variance warehouse``: the local warehouse (the lake) from the command line.

Output is JSON lines on stdout: timestamps as RFC 3339 strings in UTC (``...Z``), JSON
columns as nested JSON. The commands only read, so they work while the pipeline writes;
``compact`` alone rewrites files (without deleted contacts' rows, and merging small ones),
which is also safe while the pipeline writes and readers read.
"""

from __future__ import annotations

import json
import math
import os
import sys
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import typer

from variance.appdb.types import utcnow
from variance.cli.common import CliError, db_session, emit, say, settings
from variance.core.timeutil import format_timestamp
from variance.core.warehouse import TABLES
from variance.serving.contact_deletion import deleted_contacts, note_lake_rewritten

app = typer.Typer(help="The local warehouse: list, export and query its tables.", no_args_is_help=True)


def _reader():
    # variance.warehouse.local (DuckDB and pyarrow, about half a second) is imported by the
    # warehouse commands only, here and below, so no other command pays for it at start-up.
    from variance.warehouse.local import LakeReader

    return LakeReader(settings().lake_dir)


@app.command("tables")
def tables() -> None:
    """Each table with its current row count (the newest row per key)."""
    for name, count in _reader().counts().items():
        _write_line({"table": name, "rows": count})
    from variance.warehouse.local import mart_files

    reader = _reader()
    for name in mart_files(settings().lake_dir):  # dbt's marts, after `variance dbt build`
        _write_line({"table": name, "rows": reader.query(f'select count(*) from "{name}"')[1][0][0]})


@app.command("export")
def export(table: str = typer.Argument(..., help="Table name, e.g. events")) -> None:
    """Print a table's current rows as JSON lines, in key order."""
    if table not in TABLES:
        from variance.warehouse.local import mart_files

        marts = mart_files(settings().lake_dir)
        if table in marts:  # a dbt mart (`variance dbt build`): its rows in a stable order
            _print_query(f'select * from "{table}" order by all')
            return
        raise CliError(f"unknown table {table!r}; tables: {', '.join([*TABLES, *marts])}")
    spec = TABLES[table]
    order = ", ".join(f'"{k}"' for k in spec.key)
    _print_query(f'select * from "{table}" order by {order}')


@app.command("query")
def query(sql: str = typer.Argument(..., help="One read-only statement; table names are their current rows")) -> None:
    """Run read-only SQL (DuckDB dialect) over the current rows; prints JSON lines."""
    _print_query(sql)


@app.command("compact")
def compact_command(
    min_age: float = typer.Option(60.0, "--min-age", min=0, help="Merge only small files older than this (seconds)"),
) -> None:
    """Rewrite the lake without the rows of deleted contacts (`variance contacts delete`),
    then merge small files; prints what it did as JSON."""
    from variance.warehouse.local import compact

    erased = rewrite_without_deleted_contacts()
    say(f"merging small files older than {min_age:g} s")
    merged = compact(settings().lake_dir, min_age_s=min_age)
    emit(
        {
            "deleted_contacts": len(erased.linked_ids),
            "rows_removed": erased.rows_removed,
            "files_rewritten": erased.files_rewritten,
            "files_merged": merged,
        }
    )


def rewrite_without_deleted_contacts():
    """The lake rewritten without every deleted contact's rows (see
    ``variance.warehouse.local.erase_deleted_contacts``), and each request marked with when
    and with the anonymousIds found linked to it; returns the ``LakeErasure``. Also run by
    ``variance dbt build`` before a local build."""
    from variance.warehouse.local import erase_deleted_contacts

    with db_session() as session:
        deleted = deleted_contacts(session)
    if deleted:
        say(f"rewriting the lake without {len(deleted)} deleted contacts")
    erased = erase_deleted_contacts(settings().lake_dir, deleted)
    if deleted:
        with db_session() as session:
            note_lake_rewritten(session, erased.linked_ids, utcnow())
        removed = sum(erased.rows_removed.values())
        say(f"removed {removed} rows of deleted contacts ({erased.files_rewritten} files rewritten)")
    return erased


def _print_query(sql: str) -> None:
    from variance.warehouse.local import LakeQueryError

    try:
        result = _reader().query_batches(sql, batch_rows=10_000)
    except LakeQueryError as exc:
        raise CliError(str(exc)) from None
    json_columns = {name for name, type_ in zip(result.columns, result.types, strict=True) if type_ == "JSON"}
    try:
        with result:
            for batch in result:
                for row in batch.to_pylist():
                    _write_line({k: _jsonable(v, k in json_columns) for k, v in row.items()})
    except BrokenPipeError:  # `variance warehouse export events | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None


def _jsonable(value: Any, is_json: bool) -> Any:
    if value is None:
        return None
    if is_json and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return format_timestamp(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_jsonable(v, False) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, False) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _write_line(value: dict) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
