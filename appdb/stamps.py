"""Change stamps: a counter per kind of change, so caches in other processes notice it."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from variance.appdb.models import ChangeStamp
from variance.core.vocabulary import AppTable

# Stamps are named after the table whose rows they count changes of.
CONNECTIONS = AppTable.connections.value


def bump(session: Session, name: str) -> None:
    """Count one more change of ``name``, inside the caller's transaction."""
    bumped = session.execute(
        update(ChangeStamp).where(ChangeStamp.name == name).values(version=ChangeStamp.version + 1)
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
        session.add(ChangeStamp(name=name, version=1))
    session.flush()


def read(session: Session, name: str) -> int:
    """The current count of changes of ``name`` (0 before the first)."""
    return session.execute(select(ChangeStamp.version).where(ChangeStamp.name == name)).scalar() or 0
