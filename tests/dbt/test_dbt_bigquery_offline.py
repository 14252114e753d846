"""BigQuery, offline: `dbt compile --target bigquery --no-populate-cache` with a
credential-less profile (method oauth-secrets, a dummy token) and every socket refused,
then every compiled model parsed with sqlglot's BigQuery dialect.

What is checked: the project compiles for BigQuery without contacting anything (a refused
socket would fail the compile; the test also asserts no connection was attempted); each
compiled model is one statement BigQuery's grammar (as sqlglot knows it) accepts; every
function it calls is one sqlglot knows (an unknown name parses as an anonymous call and
fails) and is on the allowlist below of BigQuery functions the macros use, so a
DuckDB-only function that sqlglot also knows generically (median, regexp_full_match,
json_extract_string...) fails too. What is not checked: types, column names against the
real tables, permissions, and anything BigQuery decides at run time (quotas, JSON edge
cases), which need a real BigQuery."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from tests.dbt import scenario as sc
from variance.cli import dbt as cli_dbt

# BigQuery functions (as sqlglot names their expressions) the models and the core's filter
# compiler may call; each was checked against BigQuery's function reference.
BIGQUERY_FUNCTIONS = {
    "ARRAY_AGG",
    "ARRAY_TO_STRING",
    "AVG",
    "CAST",
    "CODE_POINTS_TO_STRING",
    "COALESCE",
    "CONCAT",
    "COUNT",
    "DATE",
    "DATE_DIFF",
    "EXISTS",
    "IF",
    "INSTR",
    "JSON_KEYS",
    "JSON_OBJECT",
    "JSON_TYPE",
    "LAST_VALUE",
    "LEAD",
    "LAX_BOOL",
    "LAX_FLOAT64",
    "LAX_STRING",
    "LENGTH",
    "LOWER",
    "MAX",
    "MIN",
    "NULLIF",
    "REGEXP_CONTAINS",
    "REGEXP_REPLACE",
    "ROW_NUMBER",
    "SAFE_CAST",
    "SHA256",
    "STARTS_WITH",
    "STRPOS",
    "SUBSTR",
    "SUM",
    "TIMESTAMP",
    "TIMESTAMP_ADD",
    "TO_HEX",
    "TRIM",
    "UNIX_MICROS",
    "UNNEST",
    "UPPER",
}


def _function_names(tree: exp.Expression) -> set[str]:
    """Each function call, by the name BigQuery SQL generated from it calls (so CASE, AND,
    casts and other syntax are not functions here); ``unknown:NAME`` for a name sqlglot
    does not know, which it keeps as an anonymous call."""
    names = set()
    for node in tree.find_all(exp.Func):
        if isinstance(node, exp.Anonymous):
            names.add(f"unknown:{node.name}")
            continue
        called = re.match(r"([A-Za-z_][A-Za-z0-9_.]*)\(", node.sql(dialect="bigquery"))
        if called:
            names.add(called.group(1).upper())
    return names


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, monkeypatch_module):
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"the offline BigQuery compile tried to connect to {address!r}")

    monkeypatch_module.setattr(socket.socket, "connect", refuse)
    monkeypatch_module.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch_module.setenv("VARIANCE_BIGQUERY_AUTH", "oauth-secrets")
    monkeypatch_module.setenv("VARIANCE_BIGQUERY_TOKEN", "dummy-token-not-a-credential")
    monkeypatch_module.setenv("GOOGLE_CLOUD_PROJECT", "variance-offline")
    data_dir = tmp_path_factory.mktemp("bq")
    definitions = sc.definitions(sc.build())
    # the code path of `variance dbt build --target bigquery` (and `variance dbt compile`):
    # definitions compiled for BigQuery, inputs as environment variables, no cache populated
    outcome = cli_dbt.build(
        target="bigquery",
        command="compile",
        exclude=["test_type:unit"],
        definitions=definitions,
        data_dir=data_dir,
        progress=False,
    )
    assert outcome.success, outcome.failures or outcome.error
    assert attempts == []
    target = Path(cli_dbt.dbt_environment("bigquery", data_dir)["DBT_TARGET_PATH"])
    compiled = (target / "compiled" / "variance" / "models").rglob("*.sql")
    # models sit in their layer's folder; data tests in a folder named after their YAML file
    return {(p.stem if p.parent.suffix != ".yml" else f"test:{p.stem}"): p.read_text() for p in compiled}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_every_model_compiles_for_bigquery_without_network(compiled):
    assert {"fct_milestone_changes", "fct_tag_members", "fct_view_members", "dim_contacts", "fct_events"} <= set(
        compiled
    )
    models = {p.stem for p in (cli_dbt.project_dir() / "models").rglob("*.sql")}
    assert {name for name in compiled if not name.startswith("test:")} == models
    assert len([name for name in compiled if name.startswith("test:")]) > 50


def test_compiled_models_parse_as_bigquery_and_call_only_bigquery_functions(compiled):
    problems = {}
    for name, sql in compiled.items():
        trees = sqlglot.parse(sql, read="bigquery")
        assert len([t for t in trees if t is not None]) == 1, name
        unknown = _function_names(trees[0]) - BIGQUERY_FUNCTIONS
        if unknown:
            problems[name] = sorted(unknown)
    assert problems == {}


def test_a_duckdb_function_fails_the_check():
    tree = sqlglot.parse_one("select epoch_us(t), median(x), json_extract_string(j, '/a') from e", read="bigquery")
    assert _function_names(tree) - BIGQUERY_FUNCTIONS == {"unknown:epoch_us", "MEDIAN", "unknown:json_extract_string"}


def test_definitions_compiled_for_another_dialect_are_refused(tmp_path):
    definitions = sc.definitions(sc.build())
    wrong = cli_dbt.build_inputs(definitions, "local", None, {})
    outcome = cli_dbt.run_dbt(
        ["compile", "--no-populate-cache", "--select", "stg_app__milestones"],
        target="bigquery",
        data_dir=tmp_path,
        inputs=wrong,
        progress=False,
    )
    assert not outcome.success
    assert "compiled for duckdb, not for this target (bigquery)" in (outcome.error or "") + " ".join(outcome.failures)
