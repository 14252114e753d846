"""``variance contacts delete`` and ``variance warehouse compact``, as an operator runs
them: the request as JSON, one-line errors, and a lake rewritten without the contact."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.support import deleted_contact as dc
from variance.core.vocabulary import AppTable, ServingTable, WarehouseTable
from variance.stack.processes import run_cli


@pytest.fixture
def scenario(tmp_path):
    scenario = dc.build(tmp_path)
    dc.write_lake(scenario)
    dc.fill_serving(scenario)
    return scenario


def _events(env) -> list[str]:
    lines = run_cli(["warehouse", "export", WarehouseTable.events.value], env).stdout.splitlines()
    return sorted(json.loads(line)["message_id"] for line in lines)


def test_delete_then_compact_removes_the_contact_from_app_and_lake(scenario):
    env, org = scenario.env, scenario.org_id
    deleted = run_cli(["contacts", "delete", "u1", "--org", org], env)
    request = json.loads(deleted.stdout)
    assert (request["contact_id"], request["already_requested"]) == ("u1", False)
    assert request["removed_now"][ServingTable.contacts] == 2 and request["removed_now"][AppTable.follows] == 1
    assert "removed now: 2 contact row, 1 follows" in deleted.stderr
    assert "later: warehouse (local lake)" in deleted.stderr
    assert _events(env) == sorted(dc.U1_MESSAGES | dc.U2_MESSAGES)  # the lake waits for the rewrite

    compacted = run_cli(["warehouse", "compact", "--min-age", "0"], env)
    summary = json.loads(compacted.stdout)
    assert summary["deleted_contacts"] == 1
    assert (
        summary["rows_removed"][WarehouseTable.events] == 7
        and summary["rows_removed"][WarehouseTable.identity_links] == 1
    )
    assert "rewriting the lake without 1 deleted contacts" in compacted.stderr
    assert _events(env) == sorted(dc.U2_MESSAGES)
    with sqlite3.connect(scenario.settings.data_dir / "variance.db") as con:
        [(known, rewritten)] = con.execute("select known_ids, lake_rewritten_at from contact_deletions").fetchall()
    assert json.loads(known) == ["visitor"] and rewritten is not None

    again = json.loads(run_cli(["warehouse", "compact"], env).stdout)
    assert sum(again["rows_removed"].values()) == 0 and again["files_rewritten"] == 0


def test_delete_asked_twice_and_bad_input(scenario):
    env, org = scenario.env, scenario.org_id
    first = json.loads(run_cli(["contacts", "delete", "u2", "--org", org], env).stdout)
    second = run_cli(["contacts", "delete", "u2", "--org", org], env)
    assert json.loads(second.stdout)["id"] == first["id"]
    assert "already requested; removed now: 0 contact row" in second.stderr
    missing = run_cli(["contacts", "delete", "nobody", "--org", org], env, check=False)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr.strip() == "error: no contact 'nobody' in this organisation"
    member = scenario.workspace.add_user("Mia", "mia@acme.com")
    refused = run_cli(["contacts", "delete", "u1", "--org", org, "--user", member["id"]], env, check=False)
    assert (refused.returncode, refused.stderr.strip()) == (1, "error: only an admin of this organisation may do this")
    nowhere = run_cli(["contacts", "delete", "u1", "--org", "org_nope"], env, check=False)
    assert nowhere.returncode == 1 and nowhere.stderr.startswith("error: ") and "org_nope" in nowhere.stderr


@pytest.mark.slow
def test_a_local_dbt_build_rewrites_the_lake_first(scenario, monkeypatch):
    from typer.testing import CliRunner

    from variance.cli.main import app

    env, org = scenario.env, scenario.org_id
    run_cli(["contacts", "delete", "u1", "--org", org], env)
    monkeypatch.setenv("VARIANCE_DATA_DIR", env["VARIANCE_DATA_DIR"])
    built = CliRunner().invoke(app, ["dbt", "build", "--as-of", "2027-01-16T00:00:00Z"])
    assert built.exit_code == 0, built.output
    assert "removed 19 rows of deleted contacts (7 files rewritten)" in built.stderr
    assert _events(env) == sorted(dc.U2_MESSAGES)
    marts = {
        name: [json.loads(line) for line in run_cli(["warehouse", "export", name], env).stdout.splitlines()]
        for name in ("fct_events", "dim_contacts", "fct_milestone_changes")
    }
    assert sorted(r["message_id"] for r in marts["fct_events"]) == sorted(dc.U2_MESSAGES)
    assert [r["contact_id"] for r in marts["dim_contacts"]] == ["u2"]
    assert [(r["entity_id"], r["kind"]) for r in marts["fct_milestone_changes"]] == [("u2", "achieved")]
