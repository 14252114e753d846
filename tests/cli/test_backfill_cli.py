"""``variance backfill``: Segment archive files (gzip too) through the batch pipeline."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from variance.core.vocabulary import WarehouseTable
from variance.stack.processes import run_cli
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow


def test_backfill_an_archive_with_a_bad_line(tmp_path):
    env = {"VARIANCE_DATA_DIR": str(tmp_path / "data")}
    org = json.loads(run_cli(["orgs", "create", "Acme"], env).stdout)
    o = org["org_id"]
    connection = json.loads(
        run_cli(["connections", "create", "--org", o, "--name", "web", "--mapping", "group"], env).stdout
    )
    milestone = json.loads(
        run_cli(
            [
                "milestones",
                "create",
                "--org",
                o,
                "--name",
                "PQL",
                "--entity",
                "account",
                "--kind",
                "Action",
                "--event",
                "Invited User",
                "--threshold",
                "2",
                "--window",
                "1d",
            ],
            env,
        ).stdout
    )
    lines = [
        {"type": "group", "userId": "u1", "groupId": "acme", "timestamp": "2024-05-01T00:00:00Z", "messageId": "g1"},
        {
            "type": "track",
            "userId": "u1",
            "event": "Invited User",
            "timestamp": "2024-05-01T10:00:00Z",
            "messageId": "t1",
        },
        {
            "type": "track",
            "userId": "u1",
            "event": "Invited User",
            "timestamp": "2024-05-01T11:00:00Z",
            "messageId": "t2",
        },
        {"type": "track", "userId": "u1", "timestamp": "2024-05-01T12:00:00Z", "messageId": "bad"},
    ]
    archive = tmp_path / "2024-05-01.jsonl.gz"
    with gzip.open(archive, "wt") as out:
        for line in lines:
            out.write(json.dumps(line) + "\n")
        out.write("{not json\n")
    result = run_cli(
        ["backfill", "--connection", connection["id"], str(archive), "--as-of", "2024-05-03T00:00:00Z"], env
    )
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("lines", "dead_letters", "milestone_changes")} == {
        "lines": 5,
        "dead_letters": 2,
        "milestone_changes": 2,
    }
    reader = LakeReader(Path(env["VARIANCE_DATA_DIR"]) / "lake")
    assert sorted(e["message_id"] for e in reader.current(WarehouseTable.events.value)) == ["g1", "t1", "t2"]
    changes = [
        (c["kind"], c["source"]) for c in reader.current(WarehouseTable.milestone_changes.value, order_by="changed_at")
    ]
    assert changes == [("achieved", "backfill"), ("lost", "backfill")]  # reached at 11:00, lost a day after 10:00
    reasons = sorted(d["reason"] for d in reader.current(WarehouseTable.dead_letters.value))
    assert reasons[0].startswith("body: must be valid JSON") and reasons[1] == (
        "event: is required for track calls and must be a non-empty string"
    )
    con = sqlite3.connect(Path(env["VARIANCE_DATA_DIR"]) / "variance.db")
    assert con.execute(
        "select achieved from milestone_status where milestone_id = ?", (milestone["id"],)
    ).fetchall() == [(0,)]


def test_unknown_connection_and_missing_file(tmp_path):
    env = {"VARIANCE_DATA_DIR": str(tmp_path / "data")}
    missing = run_cli(["backfill", "--connection", "con_nope", str(tmp_path / "x.jsonl")], env, check=False)
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        "error: no connection 'con_nope'; list them with `variance connections list --org ORG`",
    )


MULTI = ("--direct_running_mode", "multi_processing")


def test_a_backfill_on_worker_processes_counts_what_they_did(tmp_path):
    env = {"VARIANCE_DATA_DIR": str(tmp_path / "data")}
    o = json.loads(run_cli(["orgs", "create", "Acme"], env).stdout)["org_id"]
    connection = json.loads(
        run_cli(["connections", "create", "--org", o, "--name", "web", "--mapping", "group"], env).stdout
    )
    archive = tmp_path / "calls.jsonl"
    with open(archive, "w") as out:
        for i in range(300):
            call = {"type": "track", "userId": f"u{i % 7}", "event": "Opened", "messageId": f"m{i}"}
            out.write(json.dumps({**call, "timestamp": "2024-05-01T10:00:00Z"}) + "\n")
        out.write("{not json\n")
    result = run_cli(
        ["backfill", "--connection", connection["id"], str(archive), "--direct_num_workers", "2", *MULTI],
        env,
    )
    summary = json.loads(result.stdout)
    events = WarehouseTable.events.value
    assert {k: summary[k] for k in ("lines", events, "dead_letters")} == {"lines": 301, events: 300, "dead_letters": 1}
    assert "301 lines on 2 worker processes" in result.stderr
    reader = LakeReader(Path(env["VARIANCE_DATA_DIR"]) / "lake")
    assert reader.counts()[WarehouseTable.events.value] == 300
    assert not list((Path(env["VARIANCE_DATA_DIR"])).glob("backfill-progress-*"))
