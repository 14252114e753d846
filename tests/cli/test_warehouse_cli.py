"""``variance warehouse``: JSON lines out of the lake, one-line errors, and consistent reads
while another process writes and compacts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from variance.core.warehouse import TABLES
from variance.stack.processes import run_cli
from variance.warehouse.local import LakeWriter, lake_files

T0 = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z
SEC = 1_000_000


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def env(data_dir) -> dict[str, str]:
    return {"VARIANCE_DATA_DIR": str(data_dir)}


def change(change_id: str, status: str, recorded_at: int) -> tuple[str, dict]:
    return (
        "milestone_changes",
        {
            "org_id": "org_a",
            "change_id": change_id,
            "milestone_id": "mil_pql",
            "milestone_version": 1,
            "milestone_name": "PQL",
            "entity_type": "account",
            "entity_id": "acc_1",
            "kind": "achieved",
            "changed_at": T0 + 5 * SEC,
            "count": 3,
            "status": status,
            "source": "streaming",
            "recorded_at": recorded_at,
        },
    )


def event(message_id: str) -> tuple[str, dict]:
    return (
        "events",
        {
            "org_id": "org_a",
            "message_id": message_id,
            "connection_id": "con_web",
            "connection_name": "web",
            "type": "track",
            "kind": "Action",
            "name": "Invited User",
            "event_time": T0 + 1_500,
            "received_at": T0 + 2 * SEC,
            "user_id": "u1",
            "properties": json.dumps({"role": "admin", "seats": 3}),
            "raw": json.dumps({"type": "track"}),
            "recorded_at": T0 + 3 * SEC,
        },
    )


@pytest.fixture
def written(data_dir):
    with LakeWriter(data_dir / "lake", compact_every_s=None) as writer:
        writer.append([change("c1", "current", T0 + 10 * SEC), change("c2", "current", T0 + 10 * SEC), event("m1")])
        writer.append([change("c1", "retracted", T0 + 20 * SEC)])


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_export_prints_current_rows_as_json_lines(env, written):
    result = run_cli(["warehouse", "export", "milestone_changes"], env)
    base = {
        "org_id": "org_a",
        "milestone_id": "mil_pql",
        "milestone_version": 1,
        "milestone_name": "PQL",
        "entity_type": "account",
        "entity_id": "acc_1",
        "kind": "achieved",
        "changed_at": "2024-05-01T00:00:05.000Z",
        "count": 3,
        "source": "streaming",
    }
    expected = [
        {**base, "change_id": "c1", "status": "retracted", "recorded_at": "2024-05-01T00:00:20.000Z"},
        {**base, "change_id": "c2", "status": "current", "recorded_at": "2024-05-01T00:00:10.000Z"},
    ]
    in_schema_order = [{name: row[name] for name in TABLES["milestone_changes"].column_names} for row in expected]
    assert result.stdout == "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in in_schema_order)


def test_export_nests_json_columns_and_keeps_microseconds(env, written):
    [row] = lines(run_cli(["warehouse", "export", "events"], env).stdout)
    assert row["properties"] == {"role": "admin", "seats": 3}
    assert row["raw"] == {"type": "track"}
    assert (row["event_time"], row["traits"]) == ("2024-05-01T00:00:00.001500Z", None)
    assert list(row) == list(TABLES["events"].column_names)


def test_query_prints_its_result_as_json_lines(env, written):
    sql = (
        "select status, count(*) as n, max(recorded_at) as latest, any_value(properties) as p "
        "from milestone_changes, (select properties from events) group by status order by status"
    )
    assert lines(run_cli(["warehouse", "query", sql], env).stdout) == [
        {"status": "current", "n": 1, "latest": "2024-05-01T00:00:10.000Z", "p": {"role": "admin", "seats": 3}},
        {"status": "retracted", "n": 1, "latest": "2024-05-01T00:00:20.000Z", "p": {"role": "admin", "seats": 3}},
    ]


def test_tables_lists_every_table_with_its_current_row_count(env, written):
    counts = dict.fromkeys(TABLES, 0) | {"events": 1, "milestone_changes": 2}
    assert lines(run_cli(["warehouse", "tables"], env).stdout) == [{"table": t, "rows": n} for t, n in counts.items()]


def test_an_empty_lake_exports_nothing(env):
    assert run_cli(["warehouse", "export", "events"], env).stdout == ""


@pytest.mark.parametrize(
    "args, error",
    [
        (["export", "nope"], f"error: unknown table 'nope'; tables: {', '.join(TABLES)}"),
        (["query", "selec 1"], 'error: Parser Error: syntax error at or near "selec"'),
        (["query", "select * from nope"], "error: Catalog Error: Table with name nope does not exist!"),
        (
            ["query", "delete from events"],
            "error: the lake is read-only: only SELECT, WITH, DESCRIBE, SHOW and EXPLAIN run here, not DELETE",
        ),
    ],
)
def test_unknown_tables_and_bad_sql_fail_with_one_line(env, args, error):
    result = run_cli(["warehouse", *args], env, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", error + "\n")


WRITER = textwrap.dedent(
    """
    import sys, time
    from variance.warehouse.local import LakeWriter

    T0, KEYS = 1_714_521_600_000_000, 30
    writer = LakeWriter(sys.argv[1], flush_seconds=0.02, compact_every_s=0.3, compact_min_age_s=0.2)
    round_ = 0
    while True:
        round_ += 1
        changes = [
            ("milestone_changes", {
                "org_id": "org_a", "change_id": f"c{k}", "milestone_id": "m", "milestone_version": 1,
                "milestone_name": "PQL", "entity_type": "account", "entity_id": f"a{k}", "kind": "achieved",
                "changed_at": T0, "count": round_, "status": "current" if round_ % 2 else "retracted",
                "source": "streaming", "recorded_at": T0 + round_,
            })
            for k in range(KEYS)
        ]
        writer.append(changes)  # one append: a round lands in one file
        if round_ == 5:
            writer.flush()
            print("ready", flush=True)
        time.sleep(0.02)
    """
)


def test_exports_stay_consistent_while_another_process_writes_and_compacts(env, data_dir, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen(
        [sys.executable, str(script), str(data_dir / "lake")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
        start_new_session=True,
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        seen_rounds = []
        merged_seen = False
        for _ in range(4):
            rows = lines(run_cli(["warehouse", "export", "milestone_changes"], env).stdout)
            rounds = {r["count"] for r in rows}
            assert sorted(r["change_id"] for r in rows) == sorted(f"c{k}" for k in range(30))
            assert len(rounds) == 1, f"a read mixed rounds {sorted(rounds)}"
            [round_] = rounds
            assert {r["status"] for r in rows} == {"current" if round_ % 2 else "retracted"}
            seen_rounds.append(round_)
            merged_seen |= any("~c" in p.name for p in lake_files(data_dir / "lake" / "milestone_changes"))
        assert writer.poll() is None, "the writer stopped"
    finally:
        os.killpg(writer.pid, signal.SIGTERM)
        writer.wait(10)
    assert seen_rounds == sorted(seen_rounds) and seen_rounds[-1] > seen_rounds[0]
    assert merged_seen, "the writer never compacted during the test"


def test_tables_and_query_work_while_another_process_writes(env, data_dir, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen(
        [sys.executable, str(script), str(data_dir / "lake")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
        start_new_session=True,
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        for _ in range(2):
            counts = {r["table"]: r["rows"] for r in lines(run_cli(["warehouse", "tables"], env).stdout)}
            assert counts["milestone_changes"] == 30
            [row] = lines(
                run_cli(
                    ["warehouse", "query", "select count(distinct count) as rounds from milestone_changes"], env
                ).stdout
            )
            assert row == {"rounds": 1}
    finally:
        os.killpg(writer.pid, signal.SIGTERM)
        writer.wait(10)
