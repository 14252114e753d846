"""One meaning, two implementations: every case runs through the Python evaluator and
through the compiled SQL on a real in-memory DuckDB, and both must give the expected
answer. BigQuery cannot run here, so its SQL is parsed in the BigQuery dialect and a few
cases are pinned to exact text a reviewer can check by eye."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from variance.core.filter_sql import compile_filters, filters_expression
from variance.core.filters import FilterOp, PropertyFilter, matches, parse_timestamp

# --- harness -----------------------------------------------------------------------------


def make_filter(path: str, op: str, value: Any = None) -> PropertyFilter:
    data = {"path": path, "op": op} if op in ("exists", "not_exists") else {"path": path, "op": op, "value": value}
    return PropertyFilter.model_validate(data)


@pytest.fixture(scope="module")
def warehouse() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("CREATE TABLE events (id INTEGER, properties VARCHAR)")
    return connection


def duckdb_matches(connection: duckdb.DuckDBPyConnection, filters: list[PropertyFilter], json_text: str | None) -> Any:
    """Insert one event's properties as JSON text and run the compiled predicate on it."""
    connection.execute("DELETE FROM events")
    connection.execute("INSERT INTO events VALUES (1, ?)", [json_text])
    predicate = filters_expression(filters, "properties", "duckdb")
    query = exp.select(predicate.as_("matched")).from_("events").sql(dialect="duckdb")
    (result,) = connection.execute(query).fetchone()
    return result


def python_matches(filters: list[PropertyFilter], json_text: str) -> bool:
    return matches(filters, json.loads(json_text))


# --- the shared table ---------------------------------------------------------------------

PROPERTIES = {
    "role": "admin",
    "plan": "Pro",
    "count": 3,
    "ratio": 0.5,
    "zero": 0,
    "negzero": -0.0,
    "flag": True,
    "off": False,
    "nothing": None,
    "tags": ["a", "b"],
    "rows": [{"x": 1}],
    "company": {"plan": "enterprise", "size": 250, "meta": {"tier": "gold"}, "nil": None},
    "digits": {"0": "object zero"},
    "0": "zero key",
    "num_str": "3",
    "true_str": "true",
    "big": 2**63 - 1,
    "big_u": 2**64 - 1,
    "wide": 2**70,
    "huge": 1e308,
    "tiny": -1e308,
    "small": 5e-324,
    "emoji": "😀 party",
    "combining": "e\u0301",
    "precomposed": "é",
    "cjk": "日本語",
    "nul": "a\u0000b",
    "a.b": "dotted key",
    "a'b": "single",
    'a"b': "double",
    "$.a": "dollar",
    "]": "bracket",
    "x\\'": "backslash",
    " ": "space",
    "~/": "tilde slash",
    "ts_z": "2024-05-01T10:00:00Z",
    "ts_offset": "2024-05-01T12:00:00+02:00",
    "ts_frac": "2024-05-01T10:00:00.123456789Z",
    "ts_date": "2024-05-01",
    "ts_lower": "2024-05-01t10:00:00z",
    "ts_max_offset": "2024-05-02T00:00:00+14:00",
    "ts_bad_offset": "2024-05-02T00:00:00+14:30",
    "ts_bad_day": "2023-02-29",
    "ts_leap_day": "2000-02-29",
    "ts_not_leap": "1900-02-29",
    "ts_space": "2024-05-01 10:00:00Z",
    "ts_no_zone": "2024-05-01T10:00:00",
    "ts_leap_second": "2016-12-31T23:59:60Z",
    "ts_min": "0001-01-01T00:00:00Z",
    "ts_max": "9999-12-31T23:59:59.999999Z",
    "ts_below_min": "0001-01-01T00:30:00+01:00",
    "ts_above_max": "9999-12-31T23:30:00-01:00",
    "ts_year_zero": "0000-12-31T23:30:00-01:00",
}
BASE = json.dumps(PROPERTIES, ensure_ascii=False)
MAY_1 = "2024-05-01T10:00:00Z"

# (properties JSON text, path, op, value, expected)
CASES: list[tuple[str, str, str, Any, bool]] = [
    # exists / not_exists, missing and null
    (BASE, "role", "exists", None, True),
    (BASE, "missing", "exists", None, False),
    (BASE, "missing", "not_exists", None, True),
    (BASE, "nothing", "exists", None, False),
    (BASE, "nothing", "not_exists", None, True),
    (BASE, "tags", "exists", None, True),
    (BASE, "company", "exists", None, True),
    (BASE, "off", "exists", None, True),
    (BASE, "zero", "exists", None, True),
    (BASE, "company.nil", "exists", None, False),
    (BASE, "company.plan.deeper", "exists", None, False),
    (BASE, "role.length", "not_exists", None, True),
    # arrays are values, not traversed
    (BASE, "tags.0", "exists", None, False),
    (BASE, "tags.1", "not_exists", None, True),
    (BASE, "rows.0.x", "exists", None, False),
    (BASE, "tags", "equals", "a", False),
    (BASE, "tags", "not_equals", "a", True),
    (BASE, "tags", "in", ["a", "b"], False),
    (BASE, "tags", "contains", "a", False),
    (BASE, "company", "equals", "enterprise", False),
    # digit keys in objects are keys
    (BASE, "digits.0", "equals", "object zero", True),
    (BASE, "0", "equals", "zero key", True),
    # a key with a dot cannot be addressed: the path means a -> b
    (BASE, "a.b", "exists", None, False),
    # nested paths
    (BASE, "company.plan", "equals", "enterprise", True),
    (BASE, "company.meta.tier", "in", ["silver", "gold"], True),
    (BASE, "company.size", "gte", 250, True),
    (BASE, "company.size", "gt", 250, False),
    # equals / not_equals on each kind, and mismatches
    (BASE, "role", "equals", "admin", True),
    (BASE, "role", "equals", "Admin", False),
    (BASE, "role", "not_equals", "admin", False),
    (BASE, "role", "not_equals", "user", True),
    (BASE, "missing", "equals", "admin", False),
    (BASE, "missing", "not_equals", "admin", True),
    (BASE, "nothing", "not_equals", "admin", True),
    (BASE, "count", "equals", 3, True),
    (BASE, "count", "equals", 3.0, True),
    (BASE, "count", "equals", "3", False),
    (BASE, "num_str", "equals", 3, False),
    (BASE, "num_str", "equals", "3", True),
    (BASE, "count", "not_equals", "3", True),
    (BASE, "flag", "equals", True, True),
    (BASE, "flag", "equals", 1, False),
    (BASE, "flag", "equals", "true", False),
    (BASE, "true_str", "equals", True, False),
    (BASE, "off", "equals", False, True),
    (BASE, "zero", "equals", False, False),
    (BASE, "off", "not_equals", True, True),
    (BASE, "count", "equals", True, False),
    # numbers: doubles, big values, negative zero
    (BASE, "negzero", "equals", 0, True),
    (BASE, "zero", "equals", -0.0, True),
    (BASE, "negzero", "lt", 0, False),
    (BASE, "negzero", "gte", 0, True),
    (BASE, "ratio", "gt", 0.25, True),
    (BASE, "ratio", "lte", 0.5, True),
    (BASE, "ratio", "lt", 0.5, False),
    (BASE, "big", "equals", 2**63 - 1, True),
    (BASE, "big", "equals", 2**63, True),  # both round to the same double
    (BASE, "big", "gt", 2**63 - 2, False),
    (BASE, "big", "gte", 9.2e18, True),
    (BASE, "big_u", "equals", 2**64 - 1, True),
    (BASE, "big_u", "gt", 2**63, True),
    (BASE, "wide", "equals", 2**70, True),
    (BASE, "wide", "equals", 1180591620717411303424.0, True),
    (BASE, "huge", "equals", 1e308, True),
    (BASE, "huge", "gt", 1.7e308, False),
    (BASE, "huge", "lt", 1.7976931348623157e308, True),
    (BASE, "tiny", "lt", -1e307, True),
    (BASE, "small", "gt", 0, True),
    (BASE, "small", "equals", 5e-324, True),
    ('{"n": 1e400}', "n", "gt", 1e308, True),
    ('{"n": -1e400}', "n", "lt", -1e308, True),
    ('{"n": ' + "9" * 400 + "}", "n", "gte", 1.7976931348623157e308, True),
    ('{"n": 1.0000000000000001}', "n", "equals", 1, True),
    ('{"n": 0.1}', "n", "equals", 0.1, True),
    ('{"n": -0}', "n", "equals", 0, True),
    ('{"n": NaN}', "n", "gt", 0, False),
    ('{"n": NaN}', "n", "lt", 0, False),
    ('{"n": NaN}', "n", "equals", 0, False),
    ('{"n": NaN}', "n", "not_equals", 0, True),
    ('{"n": NaN}', "n", "exists", None, True),
    (BASE, "flag", "gt", 0, False),
    (BASE, "num_str", "gt", 1, False),
    (BASE, "role", "lt", 1, False),
    (BASE, "missing", "gt", 0, False),
    (BASE, "tags", "gte", 0, False),
    # in / not_in
    (BASE, "role", "in", ["user", "admin"], True),
    (BASE, "role", "in", ["user"], False),
    (BASE, "role", "not_in", ["admin"], False),
    (BASE, "role", "not_in", ["user"], True),
    (BASE, "missing", "in", ["admin"], False),
    (BASE, "missing", "not_in", ["admin"], True),
    (BASE, "count", "in", [1, 2, 3.0], True),
    (BASE, "count", "not_in", [1, 2], True),
    (BASE, "count", "in", ["3", True], False),
    (BASE, "num_str", "in", ["3", 3], True),
    (BASE, "flag", "in", [1, "true"], False),
    (BASE, "flag", "not_in", [True], False),
    (BASE, "off", "in", ["x", 0, False], True),
    # contains / starts_with
    (BASE, "role", "contains", "dmi", True),
    (BASE, "role", "contains", "DMI", False),
    (BASE, "role", "contains", "", True),
    (BASE, "count", "contains", "", False),
    (BASE, "count", "contains", "3", False),
    (BASE, "missing", "contains", "", False),
    (BASE, "plan", "starts_with", "P", True),
    (BASE, "plan", "starts_with", "p", False),
    (BASE, "plan", "starts_with", "", True),
    (BASE, "plan", "starts_with", "Pro+", False),
    (BASE, "flag", "starts_with", "t", False),
    # unicode, as is
    (BASE, "emoji", "starts_with", "😀", True),
    (BASE, "emoji", "contains", "party", True),
    (BASE, "cjk", "equals", "日本語", True),
    (BASE, "cjk", "contains", "本", True),
    (BASE, "precomposed", "equals", "é", True),
    (BASE, "combining", "equals", "é", False),  # no normalisation
    (BASE, "combining", "contains", "\u0301", True),
    (BASE, "combining", "starts_with", "e", True),
    (BASE, "nul", "equals", "a\u0000b", True),
    (BASE, "nul", "contains", "\u0000", True),
    (json.dumps(PROPERTIES, ensure_ascii=True), "emoji", "equals", "😀 party", True),
    (json.dumps(PROPERTIES, ensure_ascii=True), "combining", "not_equals", "é", True),
    # odd keys
    (BASE, "a'b", "equals", "single", True),
    (BASE, 'a"b', "equals", "double", True),
    (BASE, "$", "exists", None, False),
    (BASE, "$.a", "exists", None, False),  # two segments, "$" then "a"
    (BASE, "]", "equals", "bracket", True),
    (BASE, "x\\'", "equals", "backslash", True),
    (BASE, " ", "equals", "space", True),
    (BASE, "~/", "equals", "tilde slash", True),
    ('{"~0": 1, "~": 2}', "~", "equals", 2, True),
    ('{"~1": 1, "/": 2}', "~1", "equals", 1, True),
    ('{"a": {"b\\"c": {"$[0]": "deep"}}}', 'a.b"c.$[0]', "equals", "deep", True),
    # timestamps
    (BASE, "ts_z", "gt", "2024-05-01", True),
    (BASE, "ts_z", "gte", MAY_1, True),
    (BASE, "ts_z", "gt", MAY_1, False),
    (BASE, "ts_z", "lte", "2024-05-01T11:00:00+01:00", True),
    (BASE, "ts_z", "lt", "2024-05-01T11:00:00+01:00", False),
    (BASE, "ts_offset", "gte", MAY_1, True),
    (BASE, "ts_offset", "lte", MAY_1, True),
    (BASE, "ts_offset", "gt", "2024-05-01T09:59:59.999999Z", True),
    (BASE, "ts_frac", "gte", "2024-05-01T10:00:00.123456Z", True),
    (BASE, "ts_frac", "gt", "2024-05-01T10:00:00.123456Z", False),  # truncated, not rounded
    (BASE, "ts_frac", "lt", "2024-05-01T10:00:00.123457Z", True),
    (BASE, "ts_frac", "lte", "2024-05-01T12:00:00.1234569+02:00", True),
    (BASE, "ts_date", "gte", "2024-05-01T00:00:00Z", True),
    (BASE, "ts_date", "lt", "2024-05-01T00:00:00.000001Z", True),
    (BASE, "ts_date", "lt", "2024-05-01", False),
    (BASE, "ts_date", "gt", "2024-04-30T23:59:59.999999-00:00", True),
    (BASE, "ts_lower", "gte", MAY_1, True),
    (BASE, "ts_max_offset", "lte", MAY_1, True),
    (BASE, "ts_max_offset", "gte", MAY_1, True),
    (BASE, "ts_bad_offset", "gt", "0001-01-01", False),
    (BASE, "ts_bad_day", "gt", "0001-01-01", False),
    (BASE, "ts_bad_day", "lt", "9999-12-31", False),
    (BASE, "ts_leap_day", "gt", "2000-02-28", True),
    (BASE, "ts_not_leap", "gt", "0001-01-01", False),
    (BASE, "ts_space", "gt", "0001-01-01", False),
    (BASE, "ts_no_zone", "lt", "9999-12-31", False),
    (BASE, "ts_leap_second", "gt", "0001-01-01", False),
    (BASE, "ts_min", "lt", "0001-01-01T00:00:00.000001Z", True),
    (BASE, "ts_min", "gte", "0001-01-01", True),
    (BASE, "ts_max", "gt", "9999-12-31T23:59:59.999998Z", True),
    (BASE, "ts_below_min", "lt", MAY_1, False),
    (BASE, "ts_above_max", "gt", MAY_1, False),
    (BASE, "ts_year_zero", "lt", MAY_1, False),
    (BASE, "ts_z", "equals", MAY_1, True),  # equals compares strings, not instants
    (BASE, "ts_offset", "equals", MAY_1, False),
    (BASE, "count", "gt", "2024-05-01", False),
    (BASE, "ts_z", "gt", 0, False),
    (BASE, "missing", "lt", MAY_1, False),
    ('{"t": "２０２４-05-01"}', "t", "lt", MAY_1, False),
    ('{"t": "2024-05-01\\n"}', "t", "lt", "2024-05-02", False),
    ('{"t": "2024-05-01T10:00:00.Z"}', "t", "lt", "2024-05-02", False),
    ('{"t": "2024-05-01T10:00:00.1234567891Z"}', "t", "lt", "2024-05-02", False),
    ('{"t": "2024-05-01T10:00:00+0200"}', "t", "lt", "2024-05-02", False),
]


def case_id(case: tuple) -> str:
    text, path, op, value, expected = case
    where = "" if text in (BASE,) else " (custom)"
    return f"{path} {op} {value!r}{where} -> {expected}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_python_and_duckdb_agree_with_the_table(warehouse: duckdb.DuckDBPyConnection, case: tuple) -> None:
    text, path, op, value, expected = case
    filters = [make_filter(path, op, value)]
    assert python_matches(filters, text) is expected
    assert duckdb_matches(warehouse, filters, text) is expected


def test_filters_combine_with_and(warehouse: duckdb.DuckDBPyConnection) -> None:
    both = [make_filter("role", "equals", "admin"), make_filter("company.plan", "in", ["enterprise"])]
    one_fails = [*both, make_filter("count", "gt", 3)]
    for filters, expected in ((both, True), (one_fails, False), ([], True)):
        assert python_matches(filters, BASE) is expected
        assert duckdb_matches(warehouse, filters, BASE) is expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [("exists", None, False), ("not_exists", None, True), ("equals", "x", False), ("not_in", ["x"], True)],
)
def test_null_column_behaves_like_empty_object(
    warehouse: duckdb.DuckDBPyConnection, op: str, value: Any, expected: bool
) -> None:
    filters = [make_filter("role", op, value)]
    assert matches(filters, {}) is expected
    assert duckdb_matches(warehouse, filters, None) is expected


def test_compiled_predicate_is_never_null(warehouse: duckdb.DuckDBPyConnection) -> None:
    for op in FilterOp:
        value = {"in": ["x"], "not_in": ["x"], "gt": 1, "gte": "2024-05-01", "lt": 1, "lte": 1}.get(op.value, "x")
        for text in (None, "{}", '{"p": null}', '{"p": [1]}', '{"p": {"q": 1}}'):
            assert duckdb_matches(warehouse, [make_filter("p", op.value, value)], text) in (True, False)


# --- injection ----------------------------------------------------------------------------

HOSTILE = ["'); DROP TABLE events; --", 'a"b', "a'b", "x\\'", "$.a", "]", "\\", "'''", "--", "/*", "\n;"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_keys_and_values_stay_data(warehouse: duckdb.DuckDBPyConnection, hostile: str) -> None:
    warehouse.execute("CREATE TABLE IF NOT EXISTS sentinel AS SELECT 42 AS answer")
    text = json.dumps({hostile: hostile, "nested": {hostile: [hostile]}})
    for path, op, value, expected in [
        (hostile, "equals", hostile, "." not in hostile),
        (hostile, "in", [hostile, "other"], "." not in hostile),
        (hostile, "contains", hostile, "." not in hostile),
        (hostile, "starts_with", hostile, "." not in hostile),
        ("role", "not_equals", hostile, True),
        (f"nested.{hostile}", "exists", None, "." not in hostile),
    ]:
        filters = [make_filter(path, op, value)]
        for dialect in ("duckdb", "bigquery"):
            sql = compile_filters(filters, "properties", dialect)
            assert len(sqlglot.parse(sql, read=dialect)) == 1, sql  # one expression, no extra statement
        bigquery = sqlglot.parse_one(compile_filters(filters, "properties", "bigquery"), read="bigquery")
        assert string_literals(bigquery) == string_literals(filters_expression(filters, "properties", "bigquery"))
        assert python_matches(filters, text) is expected
        assert duckdb_matches(warehouse, filters, text) is expected
    assert warehouse.execute("SELECT answer FROM sentinel").fetchall() == [(42,)]
    assert warehouse.execute("SELECT count(*) FROM events").fetchone() == (1,)


def test_column_names_are_identifiers_not_sql() -> None:
    sql = compile_filters([make_filter("role", "exists")], "e.my props; DROP", "duckdb")
    assert sql == """COALESCE(JSON_TYPE(e."my props; DROP", '/role') <> 'NULL', FALSE)"""


# --- BigQuery: parses, and reads right ------------------------------------------------------


def string_literals(tree: exp.Expression) -> list[str]:
    return sorted(literal.this for literal in tree.find_all(exp.Literal) if literal.is_string)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_bigquery_sql_parses_with_every_string_intact(case: tuple) -> None:
    _, path, op, value, _ = case
    filters = [make_filter(path, op, value)]
    sql = compile_filters(filters, "properties", "bigquery")
    parsed = sqlglot.parse_one(sql, read="bigquery")
    # BigQuery's own escaping rules read each key and value back exactly as given.
    assert string_literals(parsed) == string_literals(filters_expression(filters, "properties", "bigquery"))


BIGQUERY_EXPECTED = [
    (
        [make_filter("role", "equals", "admin")],
        "COALESCE(JSON_TYPE(properties['role']) = 'string' AND LAX_STRING(properties['role']) = 'admin', FALSE)",
    ),
    (
        [make_filter("company.plan", "not_in", ["pro", 3])],
        "NOT COALESCE((JSON_TYPE(properties['company']['plan']) = 'string'"
        " AND LAX_STRING(properties['company']['plan']) = 'pro')"
        " OR (JSON_TYPE(properties['company']['plan']) = 'number'"
        " AND LAX_FLOAT64(properties['company']['plan']) = CAST(3.0 AS FLOAT64)), FALSE)",
    ),
    (
        [make_filter("a'b", "exists"), make_filter('x"\\', "contains", "it's")],
        "COALESCE(JSON_TYPE(properties['a\\'b']) <> 'null', FALSE)"
        " AND COALESCE(JSON_TYPE(properties['x\"\\\\']) = 'string'"
        " AND STRPOS(LAX_STRING(properties['x\"\\\\']), 'it\\'s') > 0, FALSE)",
    ),
    (
        [make_filter("flag", "not_equals", True)],
        "NOT COALESCE(JSON_TYPE(properties['flag']) = 'boolean' AND LAX_BOOL(properties['flag']) = TRUE, FALSE)",
    ),
    (
        [make_filter("seats", "gte", 2**63 - 1)],
        "COALESCE(JSON_TYPE(properties['seats']) = 'number'"
        " AND LAX_FLOAT64(properties['seats']) >= CAST(9.223372036854776e+18 AS FLOAT64), FALSE)",
    ),
    (
        [make_filter("at", "lt", "2024-05-01T12:00:00+02:00")],
        "COALESCE(JSON_TYPE(properties['at']) = 'string'"
        " AND REGEXP_CONTAINS(LAX_STRING(properties['at']), '^(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
        "-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])(?:[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
        "(?:[.][0-9]{1,9})?(?:[Zz]|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?$')"
        " AND SAFE_CAST(IF(LENGTH(LAX_STRING(properties['at'])) = 10,"
        " CONCAT(LAX_STRING(properties['at']), 'T00:00:00Z'),"
        " REGEXP_REPLACE(LAX_STRING(properties['at']), '([.][0-9]{6})[0-9]+', '\\\\1')) AS TIMESTAMP)"
        " < CAST('2024-05-01 10:00:00.000000+00:00' AS TIMESTAMP), FALSE)",
    ),
    ([], "TRUE"),
]


@pytest.mark.parametrize(("filters", "expected"), BIGQUERY_EXPECTED)
def test_bigquery_sql_is_exactly(filters: list[PropertyFilter], expected: str) -> None:
    assert compile_filters(filters, "properties", "bigquery") == expected


def test_duckdb_sql_reads_right() -> None:
    filters = [make_filter("company.plan", "equals", "pro"), make_filter("tags.0", "not_exists")]
    assert compile_filters(filters, "properties", "duckdb") == (
        "COALESCE(JSON_TYPE(properties, '/company/plan') = 'VARCHAR'"
        " AND JSON_EXTRACT_STRING(properties, '/company/plan') = 'pro', FALSE)"
        " AND NOT COALESCE(JSON_TYPE(properties, '/tags') = 'OBJECT'"
        " AND JSON_TYPE(properties, '/tags/0') <> 'NULL', FALSE)"
    )


def test_column_may_be_an_expression() -> None:
    column = exp.column("properties", table="e")
    assert compile_filters([make_filter("role", "exists")], column, "bigquery") == (
        "COALESCE(JSON_TYPE(e.properties['role']) <> 'null', FALSE)"
    )


@pytest.mark.parametrize("dialect", ["duckdb", "bigquery"])
def test_expression_tree_can_be_embedded(dialect: str) -> None:
    # Every node has exactly one parent, so callers may transform the tree safely.
    column = exp.column("properties", table="e")
    filters = [make_filter(p, o, v) for _, p, o, v, _ in CASES[::7]]
    tree = filters_expression(filters, column, dialect)
    for node in tree.walk():
        for child in node.iter_expressions():
            assert child.parent is node
    assert column.parent is None


# --- property test: random properties, random filters ---------------------------------------

KEYS = [
    "a",
    "b",
    "0",
    "1",
    "01",
    "-1",
    "*",
    "[*]",
    "a'b",
    'a"b',
    "$",
    "]",
    "~",
    "/",
    "~1",
    " ",
    "é",
    "😀",
    "x\\'",
    "NULL",
]
TIMESTAMPS = st.builds(
    lambda year, month, day, time, fraction, zone: (
        f"{year:04d}-{month:02d}-{day:02d}" + ("" if time is None else f"{time}{fraction}{zone}")
    ),
    st.sampled_from([0, 1, 999, 1900, 2000, 2023, 2024, 9999]),
    st.integers(0, 13),
    st.integers(0, 32),
    st.one_of(
        st.none(), st.builds("T{:02d}:{:02d}:{:02d}".format, st.integers(0, 24), st.integers(0, 60), st.integers(0, 60))
    ),
    st.one_of(st.just(""), st.text("0123456789", min_size=0, max_size=10).map(lambda d: "." + d)),
    st.one_of(
        st.sampled_from(["Z", "z", "", "+00:00", "-00:00"]),
        st.builds(
            "{}{:02d}:{:02d}".format, st.sampled_from("+-"), st.integers(0, 15), st.sampled_from([0, 1, 30, 59, 60])
        ),
    ),
)
VALID_TIMESTAMPS = TIMESTAMPS.filter(lambda t: parse_timestamp(t) is not None)
WORDS = ["", "a", "A", "ab", "admin", "é", "e\u0301", "😀", "3", "true", "null", "a'b", "2024-05-01", MAY_1]
STRINGS = st.one_of(st.sampled_from(WORDS), st.text(st.characters(exclude_categories=("Cs",)), max_size=6), TIMESTAMPS)
NUMBERS = st.one_of(
    st.sampled_from([0, -0.0, 3, 3.0, 0.5, 2**63 - 1, 2**63, 2**64 - 1, 2**70, 1e308, -1e308, 5e-324]),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
SCALARS = st.one_of(st.booleans(), NUMBERS, STRINGS)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), SCALARS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=12,
)
PATHS = st.lists(st.sampled_from(KEYS), min_size=1, max_size=3).map(".".join)


def filters_for(op: FilterOp) -> st.SearchStrategy[PropertyFilter]:
    if op in (FilterOp.EXISTS, FilterOp.NOT_EXISTS):
        values: st.SearchStrategy[Any] = st.none()
    elif op in (FilterOp.EQUALS, FilterOp.NOT_EQUALS):
        values = SCALARS
    elif op in (FilterOp.IN, FilterOp.NOT_IN):
        values = st.lists(SCALARS, min_size=1, max_size=4)
    elif op in (FilterOp.CONTAINS, FilterOp.STARTS_WITH):
        values = STRINGS
    else:
        values = st.one_of(NUMBERS, VALID_TIMESTAMPS)
    return st.builds(make_filter, PATHS, st.just(op.value), values)


FILTERS = st.sampled_from(list(FilterOp)).flatmap(filters_for)


def leaves(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """Every addressable (path, value) in a properties object, nested ones included."""
    found = []
    for key, value in node.items():
        if "." in key:
            continue
        path = (*prefix, key)
        found.append((".".join(path), value))
        if isinstance(value, dict):
            found.extend(leaves(value, path))
    return found


def near(draw: st.DrawFn, value: Any) -> Any:
    """A filter value aimed at ``value``: itself, a sibling of its kind, or a random one."""
    if isinstance(value, str) and draw(st.integers(0, 3)):
        return draw(st.sampled_from([value, value, value[: len(value) // 2], value[1:], value + "x"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and draw(st.integers(0, 3)):
        return draw(st.sampled_from([value, value, float(value), value + 1, value - 0.5]))
    scalar = isinstance(value, (str, int, float)) and value == value  # not NaN
    return value if scalar and draw(st.booleans()) else draw(SCALARS)


@st.composite
def filters_aimed_at(draw: st.DrawFn, properties: dict) -> PropertyFilter:
    """A filter on a path the event has, with a value close to what is there, so that
    matches are as common as misses."""
    found = leaves(properties)
    scalars = [(path, value) for path, value in found if isinstance(value, (str, int, float))]
    if not found or draw(st.integers(0, 4)) == 0:
        return draw(FILTERS)
    path, present = draw(st.sampled_from(scalars if scalars and draw(st.integers(0, 3)) else found))
    op = draw(st.sampled_from(list(FilterOp)))
    if op in (FilterOp.EXISTS, FilterOp.NOT_EXISTS):
        value = None
    elif op in (FilterOp.EQUALS, FilterOp.NOT_EQUALS):
        value = near(draw, present)
    elif op in (FilterOp.IN, FilterOp.NOT_IN):
        value = [near(draw, present) for _ in range(draw(st.integers(1, 3)))]
    elif op in (FilterOp.CONTAINS, FilterOp.STARTS_WITH):
        value = near(draw, present)
        value = value if isinstance(value, str) else draw(STRINGS)
    elif isinstance(present, str) and parse_timestamp(present) is not None and draw(st.booleans()):
        value = draw(st.sampled_from([present, MAY_1, "2024-05-01", "0001-01-01", "9999-12-31"]))
    else:
        value = near(draw, present)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            value = draw(st.one_of(NUMBERS, VALID_TIMESTAMPS))
    try:
        return make_filter(path, op.value, value)
    except ValueError:  # e.g. value + 1 overflowed past the largest double
        return draw(FILTERS)


@st.composite
def events_with_filters(draw: st.DrawFn) -> tuple[dict, list[PropertyFilter]]:
    properties = draw(st.dictionaries(st.sampled_from(KEYS), JSON_VALUES, min_size=1, max_size=5))
    return properties, draw(st.lists(filters_aimed_at(properties), min_size=1, max_size=3))


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=events_with_filters(), ascii_json=st.booleans())
def test_python_and_duckdb_agree_on_random_cases(
    warehouse: duckdb.DuckDBPyConnection, case: tuple[dict, list[PropertyFilter]], ascii_json: bool
) -> None:
    properties, filters = case
    text = json.dumps(properties, ensure_ascii=ascii_json)
    assert duckdb_matches(warehouse, filters, text) is matches(filters, properties)


@settings(max_examples=300, deadline=None)
@given(text=TIMESTAMPS, op=st.sampled_from(["gt", "lt"]), bound=VALID_TIMESTAMPS)
def test_timestamp_parsing_agrees_with_duckdb(
    warehouse: duckdb.DuckDBPyConnection, text: str, op: str, bound: str
) -> None:
    filters = [make_filter("t", op, bound)]
    assert duckdb_matches(warehouse, filters, json.dumps({"t": text})) is matches(filters, {"t": text})
