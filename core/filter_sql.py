"""Property filters compiled to SQL, for the DuckDB warehouse and BigQuery.

The meaning is the one :mod:`variance.core.filters` defines and evaluates in Python;
this module only says it in SQL. Everything is built as sqlglot expression trees:
keys, strings and numbers become sqlglot literals, which the generator escapes for the
dialect, so no name or value is ever spliced into SQL text.

How each dialect reaches a property:

- DuckDB: the column is VARCHAR holding the properties' JSON text. A path becomes a
  JSON Pointer (RFC 6901: ``/company/plan``, with ``~`` and ``/`` escaped as ``~0`` and
  ``~1``), which needs no quoting for any other character. ``json_type`` gives the kind;
  ``json_extract_string`` and ``TRY_CAST(json_extract(...) AS DOUBLE | BOOLEAN)`` give
  the value. A pointer segment made of digits also indexes arrays, so for such segments
  the parent must be an object (arrays are never traversed).
- BigQuery: the column is ``JSON``. A path becomes a chain of subscripts,
  ``properties['company']['plan']``: a string subscript reads only object fields (SQL
  NULL for anything else) and takes the key as an ordinary string literal, so no JSONPath
  quoting is involved. ``JSON_TYPE`` gives the kind; ``LAX_STRING``, ``LAX_FLOAT64``
  (rounds large numbers to the nearest double, as the Python side does) and ``LAX_BOOL``
  give the value. The LAX functions never raise and ``JSON_TYPE`` is checked beside them,
  so BigQuery's freedom to evaluate ``AND`` operands in any order cannot cause an error.

Each filter is wrapped in ``COALESCE(..., FALSE)`` before a negation, so the compiled
predicate is never NULL and ``not_*`` operators are exact complements. A NULL column
behaves like an empty object.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Literal, cast

from sqlglot import exp

from variance.core.filters import (
    FRACTION_BEYOND_MICROS,
    MAX_TIMESTAMP_MICROS,
    MIN_TIMESTAMP_MICROS,
    NEGATED_OPS,
    TIMESTAMP_PATTERN,
    FilterOp,
    PropertyFilter,
    Scalar,
    as_double,
    format_timestamp,
    parse_timestamp,
)

Dialect = Literal["duckdb", "bigquery"]
Kind = Literal["string", "number", "boolean", "present"]


def compile_filters(filters: Sequence[PropertyFilter], column: str | exp.Expression, dialect: Dialect) -> str:
    """SQL text of a boolean, never NULL, that is TRUE when every filter holds for the
    properties in ``column`` (a dotted column name or a sqlglot expression)."""
    return filters_expression(filters, column, dialect).sql(dialect=dialect)


def filters_expression(
    filters: Sequence[PropertyFilter], column: str | exp.Expression, dialect: Dialect
) -> exp.Expression:
    """The same predicate as :func:`compile_filters`, as a sqlglot expression to embed
    in a larger query (``WHERE``, a ``CASE``, a dbt model)."""
    source = _column(column)
    access = _DIALECTS[dialect]
    parts = [_filter_expression(f, access(source, f.segments)) for f in filters]
    if not parts:
        return exp.true()
    if len(parts) == 1:
        return parts[0]
    # sqlglot types and_() as returning a Condition; the node it builds (exp.And) is an Expression.
    return cast(exp.Expression, exp.and_(*parts, copy=False))


def _column(column: str | exp.Expression) -> exp.Expression:
    if isinstance(column, exp.Expression):
        return column
    # Dotted name parts become identifiers (quoted when needed); the text is never parsed.
    *qualifiers, name = column.split(".")
    return exp.column(name, *reversed(qualifiers)) if qualifiers else exp.column(name)


def _filter_expression(f: PropertyFilter, prop: _Property) -> exp.Expression:
    positive = exp.Coalesce(this=_holds(f, prop), expressions=[exp.false()])
    return exp.not_(positive) if f.op in NEGATED_OPS else positive


def _holds(f: PropertyFilter, prop: _Property) -> exp.Expr:
    """The positive form of ``f`` (``equals`` for ``not_equals``); may be NULL."""
    op, value = NEGATED_OPS.get(f.op, f.op), f.value
    if op is FilterOp.EXISTS:
        return prop.has_kind("present")
    if op is FilterOp.EQUALS:
        return _equals_any(prop, [value])  # type: ignore[list-item]
    if op is FilterOp.IN:
        return _equals_any(prop, value)  # type: ignore[arg-type]
    if op in (FilterOp.CONTAINS, FilterOp.STARTS_WITH):
        if value == "":  # every string contains and starts with ""
            return prop.has_kind("string")
        test = prop.contains if op is FilterOp.CONTAINS else prop.starts_with
        return exp.and_(prop.has_kind("string"), test(prop.string(), exp.Literal.string(value)))
    compare = _COMPARISONS[op]
    if isinstance(value, str):
        micros = parse_timestamp(value)
        if micros is None:  # only reachable by skipping validation (model_construct)
            raise ValueError(f"value for op {op.value!r}: {value!r} is not a timestamp")
        instant = prop.timestamp()
        return exp.and_(
            prop.has_kind("string"),
            prop.full_match(prop.string(), TIMESTAMP_PATTERN),
            *prop.timestamp_range_checks(instant),
            compare(this=instant.copy(), expression=_timestamp_literal(micros)),
        )
    if not isinstance(value, (int, float)):  # only reachable by skipping validation (model_construct)
        raise ValueError(f"value for op {op.value!r}: {value!r} is not a number")
    return exp.and_(prop.has_kind("number"), compare(this=prop.number(), expression=_double(value)))


_COMPARISONS = {FilterOp.GT: exp.GT, FilterOp.GTE: exp.GTE, FilterOp.LT: exp.LT, FilterOp.LTE: exp.LTE}


def _equals_any(prop: _Property, values: Sequence[Scalar]) -> exp.Expr:
    """Same kind and equal to one of ``values``: one test per kind present in the list."""
    strings = [exp.Literal.string(v) for v in values if isinstance(v, str)]
    booleans = [exp.Boolean(this=v) for v in values if isinstance(v, bool)]
    numbers = [_double(v) for v in values if not isinstance(v, (str, bool))]
    by_kind: tuple[tuple[Kind, Callable[[], exp.Expression], Sequence[exp.Expr]], ...] = (
        ("string", prop.string, strings),
        ("number", prop.number, numbers),
        ("boolean", prop.boolean, booleans),
    )
    tests = [exp.and_(prop.has_kind(kind), _one_of(read(), literals)) for kind, read, literals in by_kind if literals]
    return exp.or_(*tests, copy=False) if len(tests) > 1 else tests[0]


def _one_of(read: exp.Expression, literals: Sequence[exp.Expr]) -> exp.Expression:
    if len(literals) == 1:
        return exp.EQ(this=read, expression=literals[0])
    return exp.In(this=read, expressions=literals)


def _double(value: Scalar) -> exp.Expression:
    # repr() of a double is its shortest round-trip text, so SQL parses the same double.
    return exp.cast(exp.Literal.number(repr(as_double(value))), exp.DataType.Type.DOUBLE)


def _timestamp_literal(micros: int) -> exp.Expression:
    return exp.cast(_str(format_timestamp(micros)), exp.DataType.Type.TIMESTAMPTZ)


class _Property(ABC):
    """One property path of one event, as a dialect reads it."""

    def __init__(self, column: exp.Expression, segments: tuple[str, ...]) -> None:
        self._column = column
        self.segments = segments

    @property
    def column(self) -> exp.Expression:
        """A fresh copy at each use: a sqlglot node belongs to one parent."""
        return self._column.copy()

    @abstractmethod
    def has_kind(self, kind: Kind) -> exp.Expr:
        """TRUE when the property is present, not null and of ``kind``."""

    @abstractmethod
    def string(self) -> exp.Expression:
        """The property as a VARCHAR; meaningful only when it is a string."""

    @abstractmethod
    def number(self) -> exp.Expression:
        """The property as a DOUBLE, NULL for NaN; meaningful only when it is a number."""

    @abstractmethod
    def boolean(self) -> exp.Expression:
        """The property as a BOOLEAN; meaningful only when it is a boolean."""

    @abstractmethod
    def full_match(self, text: exp.Expression, pattern: str) -> exp.Expression:
        """TRUE when the RE2 ``pattern`` (anchored with ^ and $) matches ``text``."""

    @abstractmethod
    def contains(self, text: exp.Expression, needle: exp.Expression) -> exp.Expression: ...

    @abstractmethod
    def starts_with(self, text: exp.Expression, prefix: exp.Expression) -> exp.Expression: ...

    @abstractmethod
    def timestamp(self) -> exp.Expression:
        """The property's instant, for a string that passed ``TIMESTAMP_PATTERN``; NULL
        when the date does not exist."""

    def timestamp_range_checks(self, instant: exp.Expression) -> list[exp.Expression]:
        """Conditions that keep ``instant`` within 0001-01-01..9999-12-31 UTC, where the
        dialect's cast does not already return NULL outside it."""
        return []

    def _normalized_timestamp_text(self, upper: bool) -> exp.Expression:
        """The string in a form the dialect's cast reads exactly: a date gets midnight
        UTC appended, fractions beyond microseconds are dropped."""
        trimmed: exp.Expression = _call("REGEXP_REPLACE", self.string(), _str(FRACTION_BEYOND_MICROS), _str("\\1"))
        if upper:
            trimmed = exp.Upper(this=trimmed)
        is_date = exp.EQ(this=exp.Length(this=self.string()), expression=exp.Literal.number(10))
        midnight = exp.Concat(expressions=[self.string(), _str("T00:00:00Z")])
        return exp.If(this=is_date, true=midnight, false=trimmed)


class _DuckDBProperty(_Property):
    _TYPES = {
        "string": ("VARCHAR",),
        "number": ("BIGINT", "UBIGINT", "DOUBLE"),
        "boolean": ("BOOLEAN",),
    }

    def _pointer(self, segments: tuple[str, ...]) -> exp.Literal:
        return _str("".join("/" + s.replace("~", "~0").replace("/", "~1") for s in segments))

    def _json_type(self, segments: tuple[str, ...]) -> exp.Expression:
        if not segments:
            return _call("json_type", self.column)
        return _call("json_type", self.column, self._pointer(segments))

    def has_kind(self, kind: Kind) -> exp.Expr:
        json_type = self._json_type(self.segments)
        if kind == "present":
            test: exp.Expression = exp.NEQ(this=json_type, expression=_str("NULL"))
        else:
            test = _one_of(json_type, [_str(t) for t in self._TYPES[kind]])
        # A pointer segment of digits also indexes arrays: require an object around it.
        parents = [
            exp.EQ(this=self._json_type(self.segments[:i]), expression=_str("OBJECT"))
            for i, segment in enumerate(self.segments)
            if any(char in "0123456789" for char in segment)
        ]
        return exp.and_(*parents, test) if parents else test

    def string(self) -> exp.Expression:
        return _call("json_extract_string", self.column, self._pointer(self.segments))

    def _json(self) -> exp.Expression:
        return _call("json_extract", self.column, self._pointer(self.segments))

    def number(self) -> exp.Expression:
        # DuckDB orders NaN above every number; here NaN is not a number at all.
        nan = exp.cast(_str("NaN"), exp.DataType.Type.DOUBLE)
        return exp.Nullif(this=exp.TryCast(this=self._json(), to=exp.DataType.build("DOUBLE")), expression=nan)

    def boolean(self) -> exp.Expression:
        return exp.TryCast(this=self._json(), to=exp.DataType.build("BOOLEAN"))

    def full_match(self, text: exp.Expression, pattern: str) -> exp.Expression:
        return _call("regexp_full_match", text, _str(pattern))

    def contains(self, text: exp.Expression, needle: exp.Expression) -> exp.Expression:
        return _call("contains", text, needle)

    def starts_with(self, text: exp.Expression, prefix: exp.Expression) -> exp.Expression:
        return _call("starts_with", text, prefix)

    def timestamp(self) -> exp.Expression:
        # DuckDB's cast accepts only upper-case T and Z.
        return exp.TryCast(this=self._normalized_timestamp_text(upper=True), to=exp.DataType.build("TIMESTAMPTZ"))

    def timestamp_range_checks(self, instant: exp.Expression) -> list[exp.Expression]:
        low, high = (_timestamp_literal(m) for m in (MIN_TIMESTAMP_MICROS, MAX_TIMESTAMP_MICROS))
        return [exp.Between(this=instant.copy(), low=low, high=high)]


class _BigQueryProperty(_Property):
    def _node(self) -> exp.Expression:
        node = self.column
        for segment in self.segments:
            node = exp.Bracket(this=node, expressions=[_str(segment)])
        return node

    def has_kind(self, kind: Kind) -> exp.Expr:
        json_type = _call("JSON_TYPE", self._node())
        if kind == "present":
            return exp.NEQ(this=json_type, expression=_str("null"))
        return exp.EQ(this=json_type, expression=_str(kind))  # JSON_TYPE's names match ours

    def string(self) -> exp.Expression:
        return _call("LAX_STRING", self._node())

    def number(self) -> exp.Expression:
        return _call("LAX_FLOAT64", self._node())

    def boolean(self) -> exp.Expression:
        return _call("LAX_BOOL", self._node())

    def full_match(self, text: exp.Expression, pattern: str) -> exp.Expression:
        return _call("REGEXP_CONTAINS", text, _str(pattern))

    def contains(self, text: exp.Expression, needle: exp.Expression) -> exp.Expression:
        return exp.GT(this=_call("STRPOS", text, needle), expression=exp.Literal.number(0))

    def starts_with(self, text: exp.Expression, prefix: exp.Expression) -> exp.Expression:
        return _call("STARTS_WITH", text, prefix)

    def timestamp(self) -> exp.Expression:
        # BigQuery's cast accepts T/t and Z/z and returns NULL (SAFE_CAST) for a day the
        # month lacks or an instant outside 0001-9999.
        return exp.TryCast(this=self._normalized_timestamp_text(upper=False), to=exp.DataType.build("TIMESTAMPTZ"))


_DIALECTS: dict[str, type[_Property]] = {"duckdb": _DuckDBProperty, "bigquery": _BigQueryProperty}


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    """A function called by its exact name: sqlglot must not rewrite dialect functions."""
    return exp.Anonymous(this=name, expressions=list(args))


def _str(text: str) -> exp.Literal:
    return exp.Literal.string(text)
