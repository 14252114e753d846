"""Cursor pagination over time-ordered ids: stable under inserts, O(limit) per page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

T = TypeVar("T")

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


def paginate(
    session: Session, query: Select, id_column: Any, limit: int, cursor: str | None
) -> tuple[Sequence, str | None]:
    """Rows after ``cursor`` in id order, and the cursor of the next page (None at the end)."""
    if cursor:
        query = query.where(id_column > cursor)
    rows = session.scalars(query.order_by(id_column).limit(limit + 1)).all()
    if len(rows) > limit:
        return rows[:limit], getattr(rows[limit - 1], id_column.key)
    return rows, None
