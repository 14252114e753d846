"""Property filters: one typed definition, evaluated here in Python and compiled to SQL
by :mod:`variance.core.filter_sql`. Milestones, Event Type streams and dbt models all
narrow events with these filters, so the pipeline and the warehouse must agree on every
event. The meaning below is the contract both implementations follow exactly; the tests
run one table of cases and random cases through both.

Path. A filter's ``path`` is a dotted path into the event's JSON properties
(``role``, ``company.plan``). Each segment is one object key, taken as written (keys may
hold quotes, spaces, ``$``, ``\\``, ``]``, anything but a dot). Resolution walks nested
objects only: a missing key, a non-object on the way (arrays are values, never
traversed, so ``tags.0`` finds nothing), or a JSON null at the end means *missing*.

Kinds. A resolved value is a string, a number, a boolean, or something else (object,
array). JSON booleans are not numbers. Numbers compare as IEEE-754 doubles, the
precision JSON interoperates at and BigQuery's ``FLOAT64``: both sides are rounded to
the nearest double (so ``3 == 3.0`` and ``2**63-1 == 2**63``; ``-0.0 == 0.0``; an
integer too large for a double counts as infinite). NaN (not valid JSON, though some
parsers accept it) is not a number.

Operators (a filter list matches when every filter matches):

- ``exists``: present and not null. ``not_exists``: exactly the opposite.
- ``equals``: same kind and equal. Strings compare exactly (case-sensitive, unicode as
  is, no normalisation), numbers numerically, booleans as booleans. A kind mismatch
  (``"3"`` vs ``3``), missing, objects and arrays never match. ``not_equals`` is exactly
  the opposite of ``equals``, so a missing property matches it.
- ``in``: equals any element. ``not_in``: exactly the opposite of ``in``.
- ``contains`` / ``starts_with``: the property is a string that contains / starts with
  the value (case-sensitive, by code point). Non-strings never match.
- ``gt`` / ``gte`` / ``lt`` / ``lte`` with a number: the property is a number and the
  comparison holds. With a timestamp string: the property is a string in the timestamp
  format below and its instant compares as stated. Anything else never matches.

Timestamps (the one format the Python, DuckDB and BigQuery parsers share, see
``TIMESTAMP_PATTERN``): ``YYYY-MM-DD`` (midnight UTC) or
``YYYY-MM-DDTHH:MM:SS[.F]Z`` / ``...[.F]+HH:MM``, where ``T`` and ``Z`` may be lower
case, ``F`` is 1 to 9 digits (digits after the sixth are dropped: microsecond
precision), seconds run 00-59 (no leap second), the offset lies within +-14:00 (the range
BigQuery accepts), the date must exist in the proleptic Gregorian calendar, and the
instant in UTC must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
A string outside this format is not a timestamp. ``equals`` on a timestamp string
compares strings, not instants.

Properties are JSON objects with unique keys and valid unicode (no lone surrogates).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import Enum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
)

MAX_PATH_LENGTH = 200
MAX_PATH_SEGMENTS = 10
MAX_LIST_VALUES = 1000

# Written for Python's re and RE2 (DuckDB, BigQuery) alike: ASCII classes, no \d,
# no look-around. Year 0000 is excluded because Python's datetime cannot hold it.
TIMESTAMP_PATTERN = (
    r"^(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
    r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"(?:[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]{1,9})?"
    r"(?:[Zz]|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?$"
)
# Fractional digits beyond microseconds, which every implementation drops before parsing.
FRACTION_BEYOND_MICROS = r"([.][0-9]{6})[0-9]+"
TIMESTAMP_FORMATS = (
    "an RFC 3339 date-time such as 2024-05-01T10:00:00Z, 2024-05-01T10:00:00.250+02:00 "
    "or a date such as 2024-05-01 (midnight UTC)"
)

_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
MIN_TIMESTAMP_MICROS = (datetime(1, 1, 1) - _EPOCH) // _MICROSECOND
MAX_TIMESTAMP_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999) - _EPOCH) // _MICROSECOND
_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN)


class FilterOp(str, Enum):
    """The comparison a filter applies; the module docstring defines each one."""

    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EXISTS = "exists"
    NOT_EXISTS = "not_exists"


# Operators whose result is the complement of a positive operator.
NEGATED_OPS = {FilterOp.NOT_EQUALS: FilterOp.EQUALS, FilterOp.NOT_IN: FilterOp.IN, FilterOp.NOT_EXISTS: FilterOp.EXISTS}

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr
FilterValue = Scalar | list[Scalar] | None


def parse_timestamp(text: str) -> int | None:
    """Microseconds since the Unix epoch for a string in the shared timestamp format,
    else None. The SQL compiler implements the same rule; see the module docstring."""
    if not _TIMESTAMP_RE.fullmatch(text):
        return None
    return _timestamp_micros(text)


@lru_cache(maxsize=4096)  # a filter's own value is parsed again for every event it tests
def _timestamp_micros(text: str) -> int | None:
    # The pattern fixes every position, so slicing is safe after it matched.
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hour = minute = second = micros = offset_minutes = 0
    if len(text) > 10:
        hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
        rest = text[19:]  # optional ".fraction", then the zone
        zone_at = next(i for i, char in enumerate(rest) if char in "Zz+-")
        fraction, zone = rest[1:zone_at], rest[zone_at:]
        micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
        if zone not in ("Z", "z"):
            sign = -1 if zone[0] == "-" else 1
            offset_minutes = sign * (int(zone[1:3]) * 60 + int(zone[4:6]))
    try:
        local = datetime(year, month, day, hour, minute, second, micros)
    except ValueError:  # a day the month does not have
        return None
    instant = (local - _EPOCH) // _MICROSECOND - offset_minutes * 60_000_000
    return instant if MIN_TIMESTAMP_MICROS <= instant <= MAX_TIMESTAMP_MICROS else None


def format_timestamp(micros: int) -> str:
    """An instant as ``YYYY-MM-DD HH:MM:SS.ffffff+00:00``, the text SQL casts read."""
    text = (_EPOCH + timedelta(microseconds=micros)).isoformat(sep=" ", timespec="microseconds")
    return text + "+00:00"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_double(value: object) -> float | None:
    """The value as the double both implementations compare, or None if not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):  # _is_number, spelt for the type checker
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # rounds past the largest double, as a JSON parser does
            return math.inf if value > 0 else -math.inf
    return None if math.isnan(value) else value


def _scalar_error(value: object) -> str | None:
    if isinstance(value, (str, bool)):
        return None
    if _is_number(value):
        double = as_double(value)
        return (
            None
            if double is not None and math.isfinite(double)
            else "numbers must be finite (no NaN or infinity) and fit in a 64-bit float"
        )
    return f"expected a string, number or boolean, got {type(value).__name__}"


class PropertyFilter(BaseModel):
    """One condition on an event's properties, such as ``role equals admin``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"path": "role", "op": "equals", "value": "admin"},
                {"path": "company.plan", "op": "in", "value": ["pro", "enterprise"]},
                {"path": "path", "op": "starts_with", "value": "/pricing"},
                {"path": "signed_up_at", "op": "gte", "value": "2024-05-01"},
                {"path": "trial_ends_at", "op": "exists"},
            ]
        },
    )

    path: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_PATH_LENGTH,
            description="Dotted path into the event properties, e.g. `company.plan`; each segment is one key.",
        ),
    ]
    op: Annotated[FilterOp, Field(description="The comparison to apply.")]
    value: Annotated[
        FilterValue,
        Field(
            validate_default=True,
            description=(
                "equals/not_equals: one string, number or boolean; in/not_in: a non-empty list of them "
                f"(at most {MAX_LIST_VALUES}); contains/starts_with: a string; gt/gte/lt/lte: a number or a "
                "timestamp string (RFC 3339 date-time or YYYY-MM-DD); exists/not_exists: omitted."
            ),
        ),
    ] = None

    @field_validator("path")
    @classmethod
    def _check_path(cls, path: str) -> str:
        segments = path.split(".")
        if any(segment == "" for segment in segments):
            raise ValueError(
                f"path {path!r} has an empty segment: separate non-empty keys with single dots, e.g. company.plan"
            )
        if len(segments) > MAX_PATH_SEGMENTS:
            raise ValueError(f"path has {len(segments)} segments; at most {MAX_PATH_SEGMENTS} are allowed")
        return path

    @field_validator("value", mode="before")
    @classmethod
    def _check_value(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None:  # the op itself was invalid and is reported on its own
            return value
        problem = _value_problem(FilterOp(op), value)
        if problem:
            raise ValueError(f"value for op {FilterOp(op).value!r}: {problem}")
        return value

    @property
    def segments(self) -> tuple[str, ...]:
        """The path split into object keys."""
        return tuple(self.path.split("."))

    def matches(self, properties: Mapping[str, Any]) -> bool:
        """Whether this filter holds for one event's properties."""
        positive = NEGATED_OPS.get(self.op, self.op)
        result = _TESTS[positive](_resolve(properties, self.segments), self.value)
        return not result if self.op in NEGATED_OPS else result


def _value_problem(op: FilterOp, value: Any) -> str | None:
    """Why ``value`` does not suit ``op``, or None when it does."""
    if op in (FilterOp.EXISTS, FilterOp.NOT_EXISTS):
        return None if value is None else "takes no value; leave value out"
    if op in (FilterOp.EQUALS, FilterOp.NOT_EQUALS):
        if value is None or isinstance(value, list):
            return "needs one string, number or boolean"
        return _scalar_error(value)
    if op in (FilterOp.IN, FilterOp.NOT_IN):
        if not isinstance(value, list) or not value or len(value) > MAX_LIST_VALUES:
            return f"needs a non-empty list of strings, numbers or booleans (at most {MAX_LIST_VALUES})"
        problems = [f"item {i}: {p}" for i, item in enumerate(value) if (p := _scalar_error(item))]
        return "; ".join(problems[:3]) or None
    if op in (FilterOp.CONTAINS, FilterOp.STARTS_WITH):
        return None if isinstance(value, str) else "needs a string"
    if isinstance(value, str):
        return None if parse_timestamp(value) is not None else f"{value!r} is not a timestamp: use {TIMESTAMP_FORMATS}"
    if _is_number(value):
        return _scalar_error(value)
    return f"needs a number or a timestamp string ({TIMESTAMP_FORMATS})"


def matches(filters: Sequence[PropertyFilter], properties: Mapping[str, Any]) -> bool:
    """Whether every filter holds for one event's properties (an empty list always holds)."""
    return all(f.matches(properties) for f in filters)


_MISSING = object()


def _resolve(properties: Mapping[str, Any], segments: tuple[str, ...]) -> Any:
    node: Any = properties
    for key in segments:
        if not isinstance(node, Mapping):
            return _MISSING
        node = node.get(key, _MISSING)
        if node is _MISSING:
            return _MISSING
    return _MISSING if node is None else node


def _equals(found: Any, value: Any) -> bool:
    if isinstance(value, (bool, str)):
        return type(found) is type(value) and found == value
    double = as_double(found)
    return double is not None and double == as_double(value)


def _in(found: Any, values: Any) -> bool:
    return any(_equals(found, value) for value in values)


def _contains(found: Any, value: Any) -> bool:
    return isinstance(found, str) and value in found


def _starts_with(found: Any, value: Any) -> bool:
    return isinstance(found, str) and found.startswith(value)


def _exists(found: Any, value: Any) -> bool:
    return found is not _MISSING


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def test(found: Any, value: Any) -> bool:
        if isinstance(value, str):
            left: float | int | None = parse_timestamp(found) if isinstance(found, str) else None
            right: float | int | None = parse_timestamp(value)
        else:
            left, right = as_double(found), as_double(value)
        return left is not None and compare(left, right)

    return test


_TESTS: dict[FilterOp, Callable[[Any, Any], bool]] = {
    FilterOp.EQUALS: _equals,
    FilterOp.IN: _in,
    FilterOp.CONTAINS: _contains,
    FilterOp.STARTS_WITH: _starts_with,
    FilterOp.EXISTS: _exists,
    FilterOp.GT: _ordered(operator.gt),
    FilterOp.GTE: _ordered(operator.ge),
    FilterOp.LT: _ordered(operator.lt),
    FilterOp.LTE: _ordered(operator.le),
}
