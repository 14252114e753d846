"""A milestone created while the pipeline runs is evaluated over the history already in
the warehouse, with the same code as a backfill, and kept live from then on."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from segment.analytics import Client

from variance.appdb.session import make_engine, session_factory
from variance.core.engine.batch import current_milestone_changes, run_batch
from variance.core.timeutil import now_micros
from variance.pipelines.config_source import load_org_config
from variance.pipelines.restore import event_from_row
from variance.stack.processes import run_cli, start_api, start_pipeline
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow
DAY = 86_400_000_000


def test_a_milestone_created_after_a_week_of_events_shows_who_already_qualifies(emulator, tmp_path):
    env = {
        "PUBSUB_EMULATOR_HOST": emulator.emulator_host,
        "VARIANCE_DATA_DIR": str(tmp_path / "data"),
        "VARIANCE_EVENTS_TOPIC": f"events-{uuid.uuid4().hex[:8]}",
        "VARIANCE_EVENTS_SUBSCRIPTION": f"pipeline-{uuid.uuid4().hex[:8]}",
        "VARIANCE_CONFIG_REFRESH": "1",
        "VARIANCE_ALLOWED_LATENESS": "10d",
    }
    org = json.loads(run_cli(["orgs", "create", "Acme"], env).stdout)
    o = org["org_id"]
    connection = json.loads(
        run_cli(["connections", "create", "--org", o, "--name", "web", "--mapping", "group"], env).stdout
    )
    api = start_api(env, tmp_path / "api.log")
    pipeline = start_pipeline(env, tmp_path / "pipeline.log")
    try:
        client = Client(write_key=connection["secret"], host=api.url, sync_mode=True)
        week_ago = datetime.now(timezone.utc) - timedelta(days=7)
        sent = 0
        for user, account in (("u1", "acme"), ("u2", "acme"), ("u3", "globex")):
            client.group(
                user_id=user, group_id=account, timestamp=week_ago - timedelta(hours=1), message_id=f"g-{user}"
            )
            sent += 1
        for i in range(40):
            user = ("u1", "u2", "u3")[i % 3]
            at = week_ago + timedelta(hours=4 * i)
            client.track(
                user_id=user,
                event="Invited User",
                properties={"role": "admin" if i % 2 else "member"},
                timestamp=at,
                message_id=f"t-{i}",
            )
            sent += 1
        client.flush()
        reader = LakeReader(Path(env["VARIANCE_DATA_DIR"]) / "lake")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(reader.current("events")) < sent:
            time.sleep(0.5)
        assert len(reader.current("events")) == sent

        created_at = now_micros()
        milestone = json.loads(
            run_cli(
                [
                    "milestones",
                    "create",
                    "--org",
                    o,
                    "--name",
                    "Admin inviter",
                    "--entity",
                    "account",
                    "--kind",
                    "Action",
                    "--event",
                    "Invited User",
                    "--filters",
                    '[{"path":"role","op":"equals","value":"admin"}]',
                    "--threshold",
                    "3",
                    "--window",
                    "2d",
                ],
                env,
            ).stdout
        )
        deadline = time.monotonic() + 60  # the bound; the refresh here is 1 s
        while time.monotonic() < deadline and not reader.current("milestone_changes"):
            time.sleep(0.5)
        took = time.monotonic() - (deadline - 60)
        time.sleep(2)
        changes = reader.current("milestone_changes")
    finally:
        pipeline.stop()
        api.stop()
    print(f"\nthe new milestone's history was in the warehouse {took:.1f} s after it was created")
    assert changes, "no milestone change was computed from history"
    assert {c["source"] for c in changes} == {"recompute"}
    assert {c["milestone_id"] for c in changes} == {milestone["id"]}

    database = f"sqlite:///{Path(env['VARIANCE_DATA_DIR']) / 'variance.db'}"
    with session_factory(make_engine(database))() as session:
        config = load_org_config(session, o)
    events = [event_from_row(e) for e in reader.current("events")]
    expected = run_batch(config, events, created_at, 10 * DAY)
    actual = [("milestone_changes", c) for c in changes]
    assert current_milestone_changes(actual) == current_milestone_changes(expected)

    con = sqlite3.connect(Path(env["VARIANCE_DATA_DIR"]) / "variance.db")
    statuses = dict(
        con.execute("select entity_id, achieved from milestone_status where milestone_id = ?", (milestone["id"],))
    )
    latest: dict = {}
    for _, _, entity, kind, _at, _count in sorted(current_milestone_changes(expected), key=lambda c: c[4]):
        latest[entity] = int(kind == "achieved")
    assert statuses == latest
