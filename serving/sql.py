"""The few SQL shapes the serving writer needs, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Table, case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# Ids per IN list: under SQLite's 32,766 bound variables and PostgreSQL's 65,535.
IN_CHUNK = 10_000


def dialect_of(session: Session) -> str:
    name = session.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"the serving writer supports SQLite and PostgreSQL, not {name}")
    return name


def upsert(session: Session, table: Table, rows: Sequence[dict], update: Callable[[Any], dict]) -> int:
    """``INSERT ... ON CONFLICT (primary key) DO UPDATE``, one executemany for all rows.

    ``update(stmt)`` returns the SET clause; it may read ``stmt.excluded`` (the proposed
    row) and ``table.c`` (the stored one). Rows must be unique by primary key.
    """
    if not rows:
        return 0
    insert = postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=[c.name for c in table.primary_key.columns], set_=update(stmt))
    session.execute(stmt, list(rows))
    return len(rows)


def insert_new(session: Session, table: Table, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    """Plain ``INSERT`` of rows known not to exist (the caller deleted their keys in this
    transaction), straight through the driver: ``COPY`` on PostgreSQL, one executemany
    on SQLite. For a rebuild's hundreds of thousands of rows, where building each row's
    parameters in SQLAlchemy costs ten times the insert. Values must already be what the
    driver stores (on SQLite a date is its ISO text, as SQLAlchemy writes it)."""
    connection = session.connection()
    names = ", ".join(columns)
    count = 0
    if dialect_of(session) == "postgresql":
        cursor: Any = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    batch: list[tuple] = []
    statement = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' for _ in columns)})"
    for row in rows:
        batch.append(row)
        if len(batch) == IN_CHUNK:
            connection.exec_driver_sql(statement, batch)
            count += len(batch)
            batch = []
    if batch:
        connection.exec_driver_sql(statement, batch)
        count += len(batch)
    return count


def earliest(stored, proposed):
    """The earlier of two timestamps, in portable SQL (no LEAST on SQLite)."""
    return case((stored <= proposed, stored), else_=proposed)


def latest(stored, proposed):
    return case((stored >= proposed, stored), else_=proposed)


def chunked(values: Iterable[Any], size: int = IN_CHUNK) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_for_update(session: Session, table: Table, org_id: str, column: str, ids: Iterable[str]) -> list[Any]:
    """Stored rows of one organisation whose ``column`` is in ``ids``.

    On PostgreSQL the rows are locked (in key order, so two writers never deadlock) until
    the caller's transaction ends: what is merged here cannot change underneath.
    SQLite has one writer at a time anyway.
    """
    found: list[Any] = []
    locking = dialect_of(session) == "postgresql"
    key = [table.c[c.name] for c in table.primary_key.columns]
    for chunk in chunked(sorted(set(ids))):
        query = select(table).where(table.c.org_id == org_id, table.c[column].in_(chunk))
        if locking:
            query = query.order_by(*key).with_for_update()
        found.extend(session.execute(query).all())
    return found


def by_org(keys: Iterable[tuple]) -> dict[str, list[tuple]]:
    """Group key tuples (org first) by organisation."""
    out: dict[str, list[tuple]] = {}
    for key in keys:
        out.setdefault(key[0], []).append(key)
    return out
