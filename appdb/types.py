"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum

from sqlalchemy import DateTime, String
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes everywhere.

    SQLite stores no offset, so values go in as naive UTC and come back with
    ``tzinfo=UTC`` attached; PostgreSQL uses ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Choice(TypeDecorator):
    """A text column that holds one value of a vocabulary enum (``variance.core.vocabulary``).

    The database sees a plain ``VARCHAR(length)``, so the schema the migrations made is
    unchanged; a value outside the enum fails when it is written, naming the column's enum,
    instead of landing in the table. Reads return the plain string, as before: a ``str``
    enum compares equal to it, and nothing downstream has to unwrap a member.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[Enum], length: int = 16):
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value, dialect):  # type: ignore[override]
        if value is None:
            return None
        try:
            return self.enum(value).value
        except ValueError:
            allowed = ", ".join(member.value for member in self.enum)
            raise ValueError(f"{value!r} is not a {self.enum.__name__} (one of {allowed})") from None

    def process_result_value(self, value, dialect):  # type: ignore[override]
        return value


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
