"""Deleted contacts on BigQuery, offline: the DELETE statements ``variance dbt build
--target bigquery`` hands the project's ``on-run-start`` hook (core/contact_deletion.py).

What is checked: the hook renders exactly those statements when dbt compiles for BigQuery
with every socket refused; each is one DELETE that BigQuery's grammar (as sqlglot knows
it) accepts, over the pipeline's source tables only, calling only allowed BigQuery
functions; and the BigQuery text itself, read back by sqlglot and run on real DuckDB
tables holding every row version of a real lake, leaves exactly the rows the local lake
rewrite leaves (so both targets delete the same rows), and nothing recorded within the
streaming buffer's 90 minutes. Not checked: BigQuery's own execution (quotas, the
streaming buffer's real extent), which needs a real BigQuery."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone

import duckdb
import pytest
import sqlglot
from dbt.cli.main import dbtRunner
from sqlglot import exp

from tests.dbt.test_dbt_bigquery_offline import BIGQUERY_FUNCTIONS, _function_names
from tests.support import deleted_contact as dc
from variance.cli import dbt as cli_dbt
from variance.core.contact_deletion import DELETE_ORDER, DeletedContact
from variance.core.vocabulary import WarehouseTable
from variance.core.warehouse import TABLES
from variance.warehouse.local import DUCKDB_TYPES, erase_deleted_contacts, lake_files

PROJECT, DATASET = "variance-offline", "variance"
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def offline(monkeypatch):
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"the offline BigQuery compile tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setenv("VARIANCE_BIGQUERY_AUTH", "oauth-secrets")
    monkeypatch.setenv("VARIANCE_BIGQUERY_TOKEN", "dummy-token-not-a-credential")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("VARIANCE_BIGQUERY_DATASET", DATASET)
    return attempts


def _statements(deleted, now=NOW) -> list[str]:
    return cli_dbt.contact_deletion_statements(deleted, "bigquery", now)


def test_the_hook_runs_the_generated_statements_on_bigquery_only(offline, tmp_path, monkeypatch):
    deleted = [DeletedContact("org_a", "u1", ("visitor",)), DeletedContact("org_b", "it's me")]
    statements = _statements(deleted)
    assert cli_dbt.contact_deletion_statements(deleted, "local", NOW) == []
    assert _statements([]) == []
    environment = {
        **cli_dbt.dbt_environment("bigquery", tmp_path),
        cli_dbt.CONTACT_DELETIONS_VARIABLE: json.dumps(statements),
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    project = str(cli_dbt.project_dir())
    result = dbtRunner().invoke(
        [
            "compile",
            "--no-populate-cache",
            "--inline",
            "{{ variance.delete_requested_contacts() }}",
            *("--project-dir", project, "--profiles-dir", project, "--target", "bigquery", "--quiet"),
        ]
    )
    assert result.success, result.exception
    assert offline == []
    rendered = result.result.results[0].node.compiled_code
    assert [line.strip() for line in rendered.strip().splitlines()] == [s + ";" for s in statements]
    project_file = (cli_dbt.project_dir() / "dbt_project.yml").read_text()
    assert 'on-run-start:\n  - "{{ variance.delete_requested_contacts() }}"' in project_file


def test_each_statement_is_one_bigquery_delete_of_a_source_table(offline):
    statements = _statements([DeletedContact("org_a", "u1", ("visitor",)), DeletedContact("org_b", "it's me")])
    assert len(statements) == len(DELETE_ORDER) == len(TABLES)
    deleted_from = []
    for sql in statements:
        trees = [t for t in sqlglot.parse(sql, read="bigquery") if t is not None]
        assert len(trees) == 1 and isinstance(trees[0], exp.Delete), sql
        target = trees[0].this
        deleted_from.append(target.name)
        assert (target.catalog, target.db) == (PROJECT, DATASET)
        assert {(t.catalog, t.db) for t in trees[0].find_all(exp.Table)} == {(PROJECT, DATASET)}
        assert _function_names(trees[0]) - BIGQUERY_FUNCTIONS == set()
        assert "'it\\'s me'" in sql  # a quote in an id stays inside its literal
    assert deleted_from == [t.value for t in DELETE_ORDER]
    assert deleted_from[-2:] == [
        WarehouseTable.events,
        WarehouseTable.identity_links,
    ]  # what the others are computed from goes last


def _duckdb_with_lake(lake) -> duckdb.DuckDBPyConnection:
    """Every row version of the lake's tables, as BigQuery's would hold them."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach ':memory:' as \"{PROJECT}\"")
    con.execute(f'create schema "{PROJECT}".{DATASET}')
    for name in TABLES:
        files = [str(p) for p in lake_files(lake / name)]
        source = f"read_parquet({files!r}, union_by_name = true)" if files else None
        if source:
            con.execute(f'create table "{PROJECT}".{DATASET}.{name} as select * from {source}')
        else:
            columns = ", ".join(f"null::{DUCKDB_TYPES[c.type]} as {c.name}" for c in TABLES[name].columns)
            con.execute(f'create table "{PROJECT}".{DATASET}.{name} as select {columns} where false')
    return con


def _rows(con, name: str, table: str) -> list[tuple]:
    columns = ", ".join(c.name for c in TABLES[name].columns)
    return sorted(map(repr, con.execute(f"select {columns} from {table}").fetchall()))


def test_bigquery_deletes_exactly_what_the_lake_rewrite_removes(offline, tmp_path):
    scenario = dc.build(tmp_path)
    dc.write_lake(scenario)
    lake = scenario.settings.lake_dir
    deleted = [DeletedContact(scenario.org_id, "u1")]
    con = _duckdb_with_lake(lake)
    before = {name: _rows(con, name, f'"{PROJECT}".{DATASET}.{name}') for name in TABLES}

    # rows streamed within the last 90 minutes are left alone (BigQuery's streaming buffer)
    recorded = min(r["recorded_at"] for _, r in scenario.rows)
    just_after = datetime.fromtimestamp(recorded / 1e6, timezone.utc) + timedelta(minutes=89)
    for sql in _statements(deleted, now=just_after):
        con.execute(sqlglot.transpile(sql, read="bigquery", write="duckdb")[0])
    assert {name: _rows(con, name, f'"{PROJECT}".{DATASET}.{name}') for name in TABLES} == before

    for sql in _statements(deleted):
        con.execute(sqlglot.transpile(sql, read="bigquery", write="duckdb")[0])
    erase_deleted_contacts(lake, deleted)
    after_lake = _duckdb_with_lake(lake)
    for name in TABLES:
        left = _rows(con, name, f'"{PROJECT}".{DATASET}.{name}')
        assert left == _rows(after_lake, name, f'"{PROJECT}".{DATASET}.{name}'), name
    assert sorted(
        m for (m,) in con.execute(f'select message_id from "{PROJECT}".{DATASET}.events').fetchall()
    ) == sorted(dc.U2_MESSAGES)
    for sql in _statements(deleted):  # a second build finds nothing more
        con.execute(sqlglot.transpile(sql, read="bigquery", write="duckdb")[0])
    assert sum(len(_rows(con, n, f'"{PROJECT}".{DATASET}.{n}')) for n in TABLES) == sum(
        len(_rows(after_lake, n, f'"{PROJECT}".{DATASET}.{n}')) for n in TABLES
    )
