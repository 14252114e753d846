"""`variance dbt` and `variance warehouse` over the marts of the shared build."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.dbt import scenario as sc
from variance.cli.main import app
from variance.core.vocabulary import WarehouseTable


def _run(built, monkeypatch, *args: str):
    monkeypatch.setenv("VARIANCE_DATA_DIR", str(built.data_dir))
    return CliRunner().invoke(app, list(args))


def test_marts_are_queryable_and_exportable_like_the_pipelines_tables(built, monkeypatch):
    exported = _run(built, monkeypatch, "warehouse", "export", "fct_milestone_changes")
    assert exported.exit_code == 0, exported.output
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert rows and set(rows[0]) >= {"org_id", "change_id", "milestone_id", "entity_id", "kind", "changed_at", "count"}
    assert rows[0]["changed_at"].endswith("Z")
    queried = _run(
        built,
        monkeypatch,
        "warehouse",
        "query",
        "select m.milestone_name, count(*) as n from fct_milestone_changes m join events e on e.org_id = m.org_id "
        "and e.message_id is not null group by 1 order by 1 limit 1",
    )
    assert queried.exit_code == 0, queried.output
    tables = [json.loads(line)["table"] for line in _run(built, monkeypatch, "warehouse", "tables").stdout.splitlines()]
    assert {
        WarehouseTable.events.value,
        "fct_events",
        "dim_accounts",
        "milestone_funnel",
        "view_org_g_sales_pipeline",
    } <= set(tables)


def test_each_team_view_is_a_warehouse_view_with_a_stable_name(built, monkeypatch):
    members = {
        (r["org_id"], r["entity_id"])
        for r in map(
            json.loads, _run(built, monkeypatch, "warehouse", "export", "fct_view_members").stdout.splitlines()
        )
        if r["visibility"] == "team"
    }
    seen = set()
    for org in sc.MAPPINGS:
        out = _run(built, monkeypatch, "warehouse", "query", f"select org_id, entity_id from view_{org}_sales_pipeline")
        assert out.exit_code == 0, out.output
        seen |= {(r["org_id"], r["entity_id"]) for r in map(json.loads, out.stdout.splitlines())}
    assert seen == members and seen
    personal = _run(built, monkeypatch, "warehouse", "query", "select * from view_org_g_sales_pipeline_2")
    assert personal.exit_code != 0  # personal views are not published


def test_a_failed_build_says_what_failed(built, monkeypatch, tmp_path):
    monkeypatch.setenv("VARIANCE_DATA_DIR", str(tmp_path))
    events_dir = tmp_path / "lake" / WarehouseTable.events.value
    events_dir.mkdir(parents=True)
    (events_dir / "00000000000000000001-deadbeef-00000001.parquet").write_bytes(b"half a file")
    result = CliRunner().invoke(app, ["dbt", "build", "--select", "stg_variance__events"])
    assert result.exit_code == 1
    message = str(result.exception)
    assert message.startswith("dbt build failed: model stg_variance__events: ") and "to be a Parquet file" in message, (
        message
    )
    assert "details in" in message
