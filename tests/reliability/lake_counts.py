"""Counting what reached the lake, for the reliability suite's figures. (A module of its
own rather than the conftest, which tests cannot import by name.)"""

from __future__ import annotations

from pathlib import Path

import duckdb


def duplicated_rows(lake: Path, table: str, key: str = "message_id") -> int:
    """Rows written more than once under one key (harmless to readers, which keep the
    newest; a figure of how often work was redone)."""
    files = sorted(str(p) for p in (lake / table).glob("*.parquet"))
    if not files:
        return 0
    con = duckdb.connect()
    try:
        return con.execute(
            f"select count(*) - count(distinct {key}) from read_parquet({files!r}, union_by_name=true)"
        ).fetchone()[0]
    finally:
        con.close()
