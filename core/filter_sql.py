"""Property filters compiled to SQL, for the DuckDB warehouse and BigQuery, and for the
app database (SQLite and PostgreSQL) where tags are evaluated over the serving tables.

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

- SQLite: the column is TEXT holding valid JSON (or NULL). Each segment is one
  ``json_each`` lookup, ``(SELECT j.type|j.atom FROM json_each(parent) AS j WHERE j.key =
  'k')``: ``json_each`` yields keys decoded, whereas a JSON path compares the label as
  written (``"\u00e9"`` would not match ``é``) and cannot quote a key holding ``"``. A
  parent must be of type ``object``; array elements have integer keys, which never equal
  a text literal, so arrays are never traversed. Integers are read ``CAST(... AS REAL)``
  so they round to a double as the Python side does (SQLite compares an integer with a
  real exactly). Substrings use ``instr``, which is by code point and case-sensitive
  (``LIKE`` is neither).
- PostgreSQL: the column is read as ``CAST(col AS JSONB)`` (a no-op on JSONB, a parse of
  JSON text). A path is ``->`` with text keys, which reads only object fields (NULL on an
  array), ``jsonb_typeof`` gives the kind. Numbers are ``numeric`` there, so they are
  rounded to a double explicitly, with the cases ``numeric -> float8`` would raise on
  (beyond the largest double, below half the smallest) mapped to infinity and zero, as a
  JSON parser rounds them. Every cast sits in a ``CASE`` guarded by the kind, since
  PostgreSQL evaluates ``AND`` in any order and its casts raise.
- Neither app database holds U+0000 in a JSON string (PostgreSQL's JSONB refuses
  ``\u0000``, SQLite's JSON functions cut the string at it), so a string value holding it
  matches nothing there. Timestamp comparisons (``gt``/``lt`` with a timestamp string)
  are not compiled for the app databases yet: they raise ``ValueError``.

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

Dialect = Literal["duckdb", "bigquery", "sqlite", "postgres"]
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
        if isinstance(value, str) and "\x00" in value and not prop.holds_nul:
            return exp.false()
        if value == "":  # every string contains and starts with ""
            return prop.has_kind("string")
        test = prop.contains if op is FilterOp.CONTAINS else prop.starts_with
        return exp.and_(prop.has_kind("string"), test(prop.string(), exp.Literal.string(value)))
    compare = _COMPARISONS[op]
    if isinstance(value, str):
        if not prop.compares_timestamps:
            raise ValueError(f"value for op {op.value!r}: timestamp comparisons are not compiled for this dialect yet")
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
    strings = [exp.Literal.string(v) for v in values if isinstance(v, str) and (prop.holds_nul or "\x00" not in v)]
    booleans = [exp.Boolean(this=v) for v in values if isinstance(v, bool)]
    numbers = [_double(v) for v in values if not isinstance(v, (str, bool))]
    by_kind: tuple[tuple[Kind, Callable[[], exp.Expression], Sequence[exp.Expr]], ...] = (
        ("string", prop.string, strings),
        ("number", prop.number, numbers),
        ("boolean", prop.boolean, booleans),
    )
    tests = [exp.and_(prop.has_kind(kind), _one_of(read(), literals)) for kind, read, literals in by_kind if literals]
    if not tests:  # only strings the database cannot hold
        return exp.false()
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

    holds_nul = True  # whether a JSON string in this dialect may contain U+0000
    compares_timestamps = True

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


class _SQLiteProperty(_Property):
    holds_nul = False
    compares_timestamps = False
    _TYPES = {"string": ("text",), "number": ("integer", "real"), "boolean": ("true", "false")}

    def _lookup(self, read: str, parent: exp.Expression, key: str, *where: exp.Expression) -> exp.Expression:
        entries = exp.Table(this=_call("json_each", parent), alias=exp.TableAlias(this=exp.to_identifier("j")))
        found = _eq(exp.column("key", "j"), _str(key))
        query = exp.select(exp.column(read, "j")).from_(entries).where(exp.and_(found, *where) if where else found)
        return exp.Subquery(this=query)

    def _parent(self) -> exp.Expression:
        node = self.column
        for segment in self.segments[:-1]:
            node = self._lookup("value", node, segment, _eq(exp.column("type", "j"), _str("object")))
        return node

    def _read(self, what: str) -> exp.Expression:
        return self._lookup(what, self._parent(), self.segments[-1])

    def has_kind(self, kind: Kind) -> exp.Expr:
        json_type = self._read("type")
        if kind == "present":
            return exp.NEQ(this=json_type, expression=_str("null"))
        return _one_of(json_type, [_str(t) for t in self._TYPES[kind]])

    def string(self) -> exp.Expression:
        return self._read("atom")

    def number(self) -> exp.Expression:
        # A 64-bit integer compares exactly in SQLite; as a REAL it rounds like the Python side.
        return exp.cast(self._read("atom"), exp.DataType.Type.DOUBLE)

    def boolean(self) -> exp.Expression:
        return _eq(self._read("type"), _str("true"))

    def full_match(self, text: exp.Expression, pattern: str) -> exp.Expression:
        raise NotImplementedError("SQLite has no regular expressions")

    def contains(self, text: exp.Expression, needle: exp.Expression) -> exp.Expression:
        return exp.GT(this=_call("instr", text, needle), expression=exp.Literal.number(0))

    def starts_with(self, text: exp.Expression, prefix: exp.Expression) -> exp.Expression:
        # instr gives the first occurrence, which is 1 exactly when text starts with prefix.
        return _eq(_call("instr", text, prefix), exp.Literal.number(1))

    def timestamp(self) -> exp.Expression:
        raise NotImplementedError("timestamp comparisons are not compiled for SQLite")


# Numbers at or beyond these round to infinity / to zero as a double (round half to even:
# the largest double's mantissa is odd, the smallest denormal's is odd too).
_HALF_BEYOND_MAX = 2**1024 - 2**970


def _exact_decimal(numerator: int, power_of_two: int) -> str:
    """numerator * 2**-power_of_two, written exactly in decimal."""
    digits = str(numerator * 5**power_of_two).rjust(power_of_two + 1, "0")
    return digits[:-power_of_two] + "." + digits[-power_of_two:]


class _PostgresProperty(_Property):
    holds_nul = False
    compares_timestamps = False

    def _node(self, segments: tuple[str, ...] | None = None) -> exp.Expression:
        node: exp.Expression = exp.cast(self.column, "JSONB")
        for segment in self.segments if segments is None else segments:
            node = exp.JSONExtract(this=node, expression=_str(segment))
        return node

    def _typeof(self) -> exp.Expression:
        return _call("jsonb_typeof", self._node())

    def has_kind(self, kind: Kind) -> exp.Expr:
        if kind == "present":
            return exp.NEQ(this=self._typeof(), expression=_str("null"))
        return _eq(self._typeof(), _str(kind))  # jsonb_typeof's names match ours

    def _when(self, kind: Kind, value: exp.Expression) -> exp.Expression:
        """``value`` only for a property of ``kind``: the casts raise on any other."""
        return exp.Case(ifs=[exp.If(this=self.has_kind(kind), true=value)])

    def string(self) -> exp.Expression:
        last = _str(self.segments[-1])
        return self._when("string", exp.JSONExtractScalar(this=self._node(self.segments[:-1]), expression=last))

    def number(self) -> exp.Expression:
        def numeric() -> exp.Expression:
            return exp.cast(self._node(), "NUMERIC")

        def bound(text: str) -> exp.Expression:
            return exp.cast(exp.Literal.number(text), "NUMERIC")

        def double(text: str) -> exp.Expression:
            return exp.cast(_str(text), exp.DataType.Type.DOUBLE)

        rounded = exp.Case(
            ifs=[
                exp.If(this=exp.GTE(this=numeric(), expression=bound(str(_HALF_BEYOND_MAX))), true=double("Infinity")),
                exp.If(
                    this=exp.LTE(this=numeric(), expression=bound(str(-_HALF_BEYOND_MAX))), true=double("-Infinity")
                ),
                exp.If(
                    this=exp.LTE(this=exp.Abs(this=numeric()), expression=bound(_exact_decimal(1, 1075))),
                    true=double("0"),
                ),
            ],
            default=exp.cast(numeric(), exp.DataType.Type.DOUBLE),
        )
        return self._when("number", rounded)

    def boolean(self) -> exp.Expression:
        return self._when("boolean", exp.cast(self._node(), exp.DataType.Type.BOOLEAN))

    def full_match(self, text: exp.Expression, pattern: str) -> exp.Expression:
        raise NotImplementedError("timestamp comparisons are not compiled for PostgreSQL")

    def contains(self, text: exp.Expression, needle: exp.Expression) -> exp.Expression:
        return exp.GT(this=_call("strpos", text, needle), expression=exp.Literal.number(0))

    def starts_with(self, text: exp.Expression, prefix: exp.Expression) -> exp.Expression:
        return _call("starts_with", text, prefix)

    def timestamp(self) -> exp.Expression:
        raise NotImplementedError("timestamp comparisons are not compiled for PostgreSQL")


_DIALECTS: dict[str, type[_Property]] = {
    "duckdb": _DuckDBProperty,
    "bigquery": _BigQueryProperty,
    "sqlite": _SQLiteProperty,
    "postgres": _PostgresProperty,
}


def _eq(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    return exp.EQ(this=left, expression=right)


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    """A function called by its exact name: sqlglot must not rewrite dialect functions."""
    return exp.Anonymous(this=name, expressions=list(args))


def _str(text: str) -> exp.Literal:
    return exp.Literal.string(text)
