"""The property filter model: what it accepts, what it rejects and how it says so, and
the Python evaluator's own rules (timestamps, AND of a list). The case table that runs
through both the Python evaluator and DuckDB lives in ``test_filter_sql.py``."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from variance.core.filters import (
    MAX_TIMESTAMP_MICROS,
    MIN_TIMESTAMP_MICROS,
    FilterOp,
    PropertyFilter,
    matches,
    parse_timestamp,
)


def make_filter(path: str = "role", op: str = "equals", **value: object) -> PropertyFilter:
    """A filter from keyword parts; pass ``value=`` to set a value."""
    return PropertyFilter.model_validate({"path": path, "op": op, **value})


def error_of(data: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        PropertyFilter.model_validate(data)
    return str(caught.value)


# --- accepted shapes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"path": "role", "op": "equals", "value": "admin"},
        {"path": "seats", "op": "not_equals", "value": 3},
        {"path": "ratio", "op": "equals", "value": 0.5},
        {"path": "beta", "op": "equals", "value": False},
        {"path": "company.plan", "op": "in", "value": ["pro", 3, True, 2.5]},
        {"path": "company.plan", "op": "not_in", "value": ["free"]},
        {"path": "path", "op": "contains", "value": ""},
        {"path": "path", "op": "starts_with", "value": "/pricing"},
        {"path": "seats", "op": "gt", "value": -1e308},
        {"path": "seats", "op": "lte", "value": 2**63 - 1},
        {"path": "signed_up_at", "op": "gte", "value": "2024-05-01"},
        {"path": "signed_up_at", "op": "lt", "value": "2024-05-01T10:00:00.123456789-07:30"},
        {"path": "signed_up_at", "op": "exists"},
        {"path": "signed_up_at", "op": "not_exists", "value": None},
        {"path": "a'b.$.]. .x\\'", "op": "exists"},
        {"path": ".".join(["k"] * 10), "op": "exists"},
        {"path": "k" * 200, "op": "exists"},
    ],
)
def test_accepts_each_op_with_its_value(data: dict) -> None:
    parsed = PropertyFilter.model_validate(data)
    assert PropertyFilter.model_validate_json(parsed.model_dump_json()) == parsed


def test_json_input_keeps_value_types_strict() -> None:
    # "3" stays a string and true stays a boolean: equals compares kinds.
    as_string = PropertyFilter.model_validate_json('{"path": "n", "op": "equals", "value": "3"}')
    as_bool = PropertyFilter.model_validate_json('{"path": "n", "op": "equals", "value": true}')
    as_int = PropertyFilter.model_validate_json('{"path": "n", "op": "equals", "value": 3}')
    assert (as_string.value, as_bool.value, as_int.value) == ("3", True, 3)
    assert type(as_bool.value) is bool and type(as_int.value) is int


def test_segments_split_the_path_on_dots() -> None:
    assert make_filter("company.meta.tier", "exists").segments == ("company", "meta", "tier")


# --- rejected shapes, with messages naming the field and the rule ------------------------


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        ({"path": "", "op": "exists"}, "path", "at least 1 character"),
        ({"path": "k" * 201, "op": "exists"}, "path", "at most 200 characters"),
        ({"path": "a..b", "op": "exists"}, "path", "empty segment"),
        ({"path": ".a", "op": "exists"}, "path", "empty segment"),
        ({"path": "a.", "op": "exists"}, "path", "empty segment"),
        ({"path": ".".join(["k"] * 11), "op": "exists"}, "path", "at most 10 are allowed"),
        ({"path": "a", "op": "like", "value": "x"}, "op", "equals"),
        ({"path": "a", "op": "equals"}, "value", "needs one string, number or boolean"),
        ({"path": "a", "op": "equals", "value": ["x"]}, "value", "needs one string, number or boolean"),
        ({"path": "a", "op": "equals", "value": {"x": 1}}, "value", "expected a string, number or boolean"),
        ({"path": "a", "op": "equals", "value": float("nan")}, "value", "must be finite"),
        ({"path": "a", "op": "not_equals", "value": float("inf")}, "value", "must be finite"),
        ({"path": "a", "op": "equals", "value": 10**400}, "value", "fit in a 64-bit float"),
        ({"path": "a", "op": "in", "value": []}, "value", "non-empty list"),
        ({"path": "a", "op": "in", "value": "admin"}, "value", "non-empty list"),
        ({"path": "a", "op": "not_in", "value": list(range(1001))}, "value", "at most 1000"),
        ({"path": "a", "op": "in", "value": ["x", None]}, "value", "item 1"),
        ({"path": "a", "op": "in", "value": ["x", ["y"]]}, "value", "item 1"),
        ({"path": "a", "op": "contains", "value": 3}, "value", "needs a string"),
        ({"path": "a", "op": "starts_with"}, "value", "needs a string"),
        ({"path": "a", "op": "gt", "value": True}, "value", "number or a timestamp"),
        ({"path": "a", "op": "gt", "value": [1]}, "value", "number or a timestamp"),
        ({"path": "a", "op": "gte", "value": "yesterday"}, "value", "is not a timestamp"),
        ({"path": "a", "op": "lt", "value": "2024-05-01 10:00:00Z"}, "value", "is not a timestamp"),
        ({"path": "a", "op": "lt", "value": "2024-05-01T10:00:00"}, "value", "is not a timestamp"),
        ({"path": "a", "op": "lte", "value": "2023-02-29"}, "value", "is not a timestamp"),
        ({"path": "a", "op": "lte", "value": float("-inf")}, "value", "must be finite"),
        ({"path": "a", "op": "exists", "value": "x"}, "value", "takes no value"),
        ({"path": "a", "op": "not_exists", "value": False}, "value", "takes no value"),
        ({"path": "a", "op": "exists", "extra": 1}, "extra", "Extra inputs are not permitted"),
    ],
)
def test_rejects_with_a_message_naming_field_and_rule(data: dict, field: str, rule: str) -> None:
    message = error_of(data)
    assert f"\n{field}\n" in message, message
    assert rule in message, message


def test_value_message_names_the_op() -> None:
    assert "value for op 'starts_with': needs a string" in error_of({"path": "a", "op": "starts_with", "value": 1})


def test_openapi_schema_is_closed_and_lists_the_operators() -> None:
    schema = PropertyFilter.model_json_schema()
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["path", "op"]
    assert schema["$defs"]["FilterOp"]["enum"] == [op.value for op in FilterOp]
    assert schema["properties"]["path"]["maxLength"] == 200
    json.dumps(schema)  # serialisable as-is into the OpenAPI document


# --- timestamps ----------------------------------------------------------------------------


def micros(text: str) -> int:
    from datetime import datetime, timezone

    return round(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1_000_000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01", "2024-05-01T00:00:00"),
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00"),
        ("2024-05-01t10:00:00z", "2024-05-01T10:00:00"),
        ("2024-05-01T12:30:00+02:30", "2024-05-01T10:00:00"),
        ("2024-04-30T22:00:00-12:00", "2024-05-01T10:00:00"),
        ("2024-05-02T00:00:00+14:00", "2024-05-01T10:00:00"),
        ("2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.500000"),
        ("2024-05-01T10:00:00.123456Z", "2024-05-01T10:00:00.123456"),
        ("2024-05-01T10:00:00.123456999Z", "2024-05-01T10:00:00.123456"),  # truncated, not rounded
        ("2000-02-29T00:00:00Z", "2000-02-29T00:00:00"),
    ],
)
def test_parse_timestamp_reads_the_shared_format(text: str, expected: str) -> None:
    assert parse_timestamp(text) == micros(expected)


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01 10:00:00Z",  # space separator
        "2024-05-01T10:00:00",  # no zone
        "2024-05-01T10:00Z",  # no seconds
        "2024-05-01T10:00:00.Z",  # empty fraction
        "2024-05-01T10:00:00.1234567890Z",  # ten fraction digits
        "2024-05-01T10:00:00+0200",  # offset without colon
        "2024-05-01T10:00:00+14:01",  # beyond BigQuery's offsets
        "2024-05-01T10:00:00-15:00",
        "2016-12-31T23:59:60Z",  # leap second
        "2024-5-1",
        "1900-02-29",
        "2023-04-31T00:00:00Z",
        "0000-06-01",
        "0001-01-01T00:30:00+01:00",  # before 0001-01-01 in UTC
        "9999-12-31T23:30:00-01:00",  # after 9999-12-31 in UTC
        "２０２４-05-01",  # non-ASCII digits
        "2024-05-01\n",
        " 2024-05-01",
        "",
    ],
)
def test_parse_timestamp_rejects_everything_else(text: str) -> None:
    assert parse_timestamp(text) is None


def test_timestamp_range_is_bigquerys() -> None:
    assert parse_timestamp("0001-01-01T00:00:00Z") == MIN_TIMESTAMP_MICROS
    assert parse_timestamp("9999-12-31T23:59:59.999999Z") == MAX_TIMESTAMP_MICROS


# --- evaluator -----------------------------------------------------------------------------


def test_matches_requires_every_filter() -> None:
    admin_on_pro = [make_filter("role", value="admin"), make_filter("company.plan", "in", value=["pro"])]
    assert matches(admin_on_pro, {"role": "admin", "company": {"plan": "pro"}})
    assert not matches(admin_on_pro, {"role": "admin", "company": {"plan": "free"}})
    assert not matches(admin_on_pro, {"company": {"plan": "pro"}})


def test_empty_filter_list_matches_everything() -> None:
    assert matches([], {})


def test_python_equality_quirks_do_not_leak() -> None:
    # In Python True == 1 and 1 in [True]; in the filter semantics booleans aren't numbers.
    assert not make_filter("n", value=1).matches({"n": True})
    assert not make_filter("n", "in", value=[True]).matches({"n": 1})
    assert not make_filter("n", value=0).matches({"n": False})
    assert make_filter("n", value=True).matches({"n": True})


def test_huge_integers_compare_as_infinite_doubles() -> None:
    assert make_filter("n", "gt", value=1e308).matches({"n": 10**400})
    assert make_filter("n", "lt", value=-1e308).matches({"n": -(10**400)})


def test_nan_property_is_not_a_number() -> None:
    nan = {"n": float("nan")}
    assert not make_filter("n", "gt", value=0).matches(nan)
    assert not make_filter("n", "lte", value=0).matches(nan)
    assert make_filter("n", "not_equals", value=0).matches(nan)
    assert make_filter("n", "exists").matches(nan)
