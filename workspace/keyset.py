"""Keyset pagination for lists sorted by something other than the id: the cursor holds
the last row's sort key, so pages stay stable while rows are added."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Select, literal, tuple_

from variance.workspace.errors import InvalidInput


def encode(values: tuple[Any, ...]) -> str:
    plain = [v.astimezone(timezone.utc).isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode(cursor: str, size: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise InvalidInput("cursor", "is not a cursor returned by this list")
    return values


def page(query: Select, columns: list, descending: bool, limit: int, cursor: str | None, parse=None):
    """Rows after ``cursor`` ordered by ``columns`` (all ascending or all descending)."""
    if cursor:
        after = decode(cursor, len(columns))
        if parse:
            after = parse(after)
        key = tuple_(*columns)
        # Bound with each column's own type, so a datetime compares as the column stores it.
        bound = tuple_(*(literal(value, type_=column.type) for value, column in zip(after, columns, strict=True)))
        query = query.where(key < bound if descending else key > bound)
    order = [c.desc() for c in columns] if descending else list(columns)
    return query.order_by(*order).limit(limit + 1)
