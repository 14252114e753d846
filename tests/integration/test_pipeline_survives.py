"""Streaming that survives: ``kill -9`` of the pipeline at random moments under steady
traffic from Segment's Python library, then a final restart and catch-up. The warehouse,
the serving tables and the outbox must equal an uninterrupted computation over the same
events (the batch engine, which streaming equals by contract)."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import duckdb
import pytest
from segment.analytics import Client

from variance.core.engine.batch import current_milestone_changes, current_stream_matches, run_batch
from variance.pipelines.config_source import load_org_config
from variance.pipelines.restore import event_from_row
from variance.stack.processes import run_cli, start_api, start_pipeline
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow
USERS = [f"user-{i}" for i in range(6)]


def setup_org(env) -> dict:
    org = json.loads(run_cli(["orgs", "create", "Acme"], env).stdout)
    o = org["org_id"]
    connection = json.loads(
        run_cli(["connections", "create", "--org", o, "--name", "web", "--mapping", "group"], env).stdout
    )
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
            "5",
            "--window",
            "30d",
        ],
        env,
    )
    run_cli(
        [
            "milestones",
            "create",
            "--org",
            o,
            "--name",
            "Active",
            "--entity",
            "contact",
            "--kind",
            "Action",
            "--event",
            "Invited User",
            "--threshold",
            "3",
        ],
        env,
    )
    stream = json.loads(
        run_cli(
            [
                "streams",
                "create",
                "--org",
                o,
                "--name",
                "Acme",
                "--visibility",
                "team",
                "--slack-channel-id",
                "C0ACME",
                "--slack-channel-name",
                "#acme",
            ],
            env,
        ).stdout
    )
    run_cli(
        ["follows", "add", "--org", o, "--entity-type", "account", "--entity-id", "acme", "--stream", stream["id"]], env
    )
    return {"org": org, "connection": connection}


class Traffic(threading.Thread):
    """Steady traffic: each user's group call first, then tracks at ``rate`` per second."""

    def __init__(self, write_key: str, host: str, seconds: float, rate: float):
        super().__init__(daemon=True)
        self.client = Client(write_key=write_key, host=host, sync_mode=True, max_retries=20)
        self.seconds, self.rate = seconds, rate
        self.sent: list[str] = []

    def run(self) -> None:
        for i, user in enumerate(USERS):
            account = "acme" if i % 2 == 0 else "globex"
            self.client.group(user_id=user, group_id=account, traits={"name": account.title()}, message_id=f"g-{user}")
            self.sent.append(f"g-{user}")
        rng = random.Random(7)
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < self.seconds:
            message_id = f"t-{n}"
            self.client.track(
                user_id=rng.choice(USERS), event="Invited User", properties={"n": n}, message_id=message_id
            )
            self.sent.append(message_id)
            n += 1
            time.sleep(max(0.0, started + n / self.rate - time.monotonic()))


def duplicated_rows(lake: Path, table: str) -> int:
    """Rows written more than once under one key (harmless: readers keep the newest)."""
    files = sorted(str(p) for p in (lake / table).glob("*.parquet"))
    if not files:
        return 0
    con = duckdb.connect()
    return con.execute(
        f"select count(*) - count(distinct message_id) from read_parquet({files!r}, union_by_name=true)"
    ).fetchone()[0]


def test_kill_minus_nine_three_times_loses_and_doubles_nothing(emulator, tmp_path):
    env = {
        "PUBSUB_EMULATOR_HOST": emulator.emulator_host,
        "VARIANCE_DATA_DIR": str(tmp_path / "data"),
        "VARIANCE_EVENTS_TOPIC": f"events-{uuid.uuid4().hex[:8]}",
        "VARIANCE_EVENTS_SUBSCRIPTION": f"pipeline-{uuid.uuid4().hex[:8]}",
        "VARIANCE_ACK_DEADLINE": "10",
    }
    made = setup_org(env)
    api = start_api(env, tmp_path / "api.log")
    pipeline = start_pipeline(env, tmp_path / "pipeline-0.log")
    traffic = Traffic(made["connection"]["secret"], api.url, seconds=24, rate=15)
    kills = 0
    try:
        traffic.start()
        rng = random.Random(11)
        for round_ in range(1, 4):
            time.sleep(rng.uniform(3, 6))
            pipeline.kill()
            kills += 1
            time.sleep(rng.uniform(0.5, 2))
            pipeline = start_pipeline(env, tmp_path / f"pipeline-{round_}.log")
        traffic.join()
        # final catch-up: leases of the killed processes expire (10 s), messages come back
        lake_dir = Path(env["VARIANCE_DATA_DIR"]) / "lake"
        reader = LakeReader(lake_dir)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if len(reader.current("events")) >= len(traffic.sent):
                break
            time.sleep(1)
        time.sleep(3)
        pipeline.stop()
        pipeline = start_pipeline(env, tmp_path / "pipeline-final.log")  # repairs anything still pending
        time.sleep(3)
    finally:
        pipeline.stop()
        api.stop()

    events = reader.current("events")
    stored = {e["message_id"] for e in events}
    sent = set(traffic.sent)
    lost = sent - stored
    duplicated = duplicated_rows(lake_dir, "events")
    print(f"\nkills {kills}; sent {len(sent)}, stored {len(stored)}, duplicated rows {duplicated}, lost {len(lost)}")
    assert kills == 3
    assert lost == set()
    assert stored == sent

    # The uninterrupted computation over the same events, as of the same moment.
    from variance.appdb.session import make_engine, session_factory

    database = f"sqlite:///{Path(env['VARIANCE_DATA_DIR']) / 'variance.db'}"
    with session_factory(make_engine(database))() as session:
        config = load_org_config(session, made["org"]["org_id"])
    as_of = max(e["event_time"] for e in events) + 1
    expected = run_batch(config, [event_from_row(e) for e in events], as_of, 3 * 86_400_000_000)
    changes = reader.current("milestone_changes")
    actual_rows = [("milestone_changes", r) for r in changes] + [
        ("stream_matches", r) for r in reader.current("stream_matches")
    ]
    assert current_milestone_changes(actual_rows) == current_milestone_changes(expected)
    assert current_stream_matches(actual_rows) == current_stream_matches(expected)

    # serving tables: each entity's milestone status is the latest current change
    latest: dict = {}
    for m, _, entity, kind, _at, _count in sorted(current_milestone_changes(expected), key=lambda c: c[4]):
        latest[(m, entity)] = kind == "achieved"
    con = sqlite3.connect(Path(env["VARIANCE_DATA_DIR"]) / "variance.db")
    status = {
        (m, e): bool(a) for m, e, a in con.execute("select milestone_id, entity_id, achieved from milestone_status")
    }
    assert status == latest
    items = con.execute("select count(*) from stream_items").fetchone()[0]
    assert items == len(current_stream_matches(expected))

    # the outbox: each expected match of the Slack-connected stream posted exactly once
    outbox = [
        json.loads(line) for line in (Path(env["VARIANCE_DATA_DIR"]) / "slack-outbox.jsonl").read_text().splitlines()
    ]
    keys = [p["message_id"] for p in outbox]
    assert len(keys) == len(set(keys))
    assert set(keys) == {m[1] for m in current_stream_matches(expected)}


def test_graceful_stop_and_start_with_traffic_in_flight(emulator, tmp_path):
    env = {
        "PUBSUB_EMULATOR_HOST": emulator.emulator_host,
        "VARIANCE_DATA_DIR": str(tmp_path / "data"),
        "VARIANCE_EVENTS_TOPIC": f"events-{uuid.uuid4().hex[:8]}",
        "VARIANCE_EVENTS_SUBSCRIPTION": f"pipeline-{uuid.uuid4().hex[:8]}",
    }
    made = setup_org(env)
    api = start_api(env, tmp_path / "api.log")
    pipeline = start_pipeline(env, tmp_path / "pipeline-0.log")
    traffic = Traffic(made["connection"]["secret"], api.url, seconds=12, rate=20)
    try:
        traffic.start()
        for round_ in range(1, 3):
            time.sleep(4)
            started = time.monotonic()
            assert pipeline.stop() == 0
            assert time.monotonic() - started < 10, "a graceful stop must finish within seconds"
            assert "stopped in" in pipeline.log()
            pipeline = start_pipeline(env, tmp_path / f"pipeline-{round_}.log")
        traffic.join()
        reader = LakeReader(Path(env["VARIANCE_DATA_DIR"]) / "lake")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(reader.current("events")) < len(traffic.sent):
            time.sleep(0.5)
    finally:
        pipeline.stop()
        api.stop()
    stored = [e["message_id"] for e in reader.current("events")]
    duplicated = duplicated_rows(Path(env["VARIANCE_DATA_DIR"]) / "lake", "events")
    print(f"\nsent {len(traffic.sent)}, stored {len(stored)}, duplicated rows {duplicated}")
    assert sorted(stored) == sorted(set(traffic.sent))
    assert duplicated == 0
