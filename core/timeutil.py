"""Event times. Inside the system a time is an ``int`` of microseconds since the Unix
epoch (exact equality, cheap comparisons, what Beam timestamps hold); at the edges it is
an RFC 3339 string in UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)
# Segment accepts any ISO-8601 date-time; we bound the years so that every part
# (Python, DuckDB, BigQuery, Beam) can represent the value.
MIN_YEAR, MAX_YEAR = 1970, 9999


class TimestampError(ValueError):
    """A string that is not an ISO-8601 date-time we can represent."""


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 date-time; a value without an offset is taken as UTC."""
    if not isinstance(text, str) or not (10 <= len(text) <= 40):
        raise TimestampError("must be an ISO-8601 date-time string such as 2024-05-01T10:00:00.000Z")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise TimestampError("must be an ISO-8601 date-time string such as 2024-05-01T10:00:00.000Z") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    if not (MIN_YEAR <= value.year <= MAX_YEAR):
        raise TimestampError(f"must be between the years {MIN_YEAR} and {MAX_YEAR}")
    return value


def to_micros(value: datetime) -> int:
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, tz=timezone.utc).replace(microsecond=micros % 1_000_000)


def format_timestamp(value: datetime | int) -> str:
    """RFC 3339 in UTC with a ``Z``: milliseconds when exact, else microseconds."""
    if isinstance(value, int):
        # a naive UTC datetime by addition: no time zone conversions, a third of the cost
        # (every call formats two or three of these, and a backfill a million calls)
        naive = _NAIVE_EPOCH + timedelta(microseconds=value)
    else:
        naive = value.astimezone(timezone.utc).replace(tzinfo=None)
    spec = "milliseconds" if naive.microsecond % 1000 == 0 else "microseconds"
    return naive.isoformat(timespec=spec) + "Z"


def now_micros() -> int:
    return to_micros(datetime.now(timezone.utc))
