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
from pathlib import Path

import duckdb
import pytest
from segment.analytics import Client

from tests.support.waiting import wait_for
from variance.appdb.session import make_engine, session_factory
from variance.core.engine.batch import current_milestone_changes, current_stream_matches, run_batch
from variance.core.vocabulary import WarehouseTable
from variance.pipelines.config_source import load_org_config
from variance.pipelines.restore import event_from_row
from variance.samples.workspace import Workspace
from variance.stack.local import LocalStack
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow
EVENTS = WarehouseTable.events.value
CHANGES = WarehouseTable.milestone_changes.value
MATCHES = WarehouseTable.stream_matches.value
USERS = [f"user-{i}" for i in range(6)]


def setup_workspace(env) -> Workspace:
    workspace = Workspace.create(env, "Acme")
    workspace.add_connection("web", mapping="group")
    workspace.add_milestone("PQL", event="Invited User", threshold=5, window="30d")
    workspace.add_milestone("Active", entity="contact", event="Invited User", threshold=3)
    stream = workspace.add_stream("Acme", slack_channel=("C0ACME", "#acme"))
    workspace.follow("account", "acme", stream=stream["id"])
    return workspace


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
    with LocalStack(tmp_path, emulator=emulator, env={"VARIANCE_ACK_DEADLINE": "10"}) as stack:
        workspace = setup_workspace(stack.env)
        stack.start_api()
        pipeline = stack.start_pipeline()
        traffic = Traffic(workspace.connection["secret"], stack.api.url, seconds=24, rate=15)
        kills = 0
        traffic.start()
        rng = random.Random(11)
        for _ in range(3):
            time.sleep(rng.uniform(3, 6))  # kill at a random moment of the traffic
            pipeline.kill()
            kills += 1
            time.sleep(rng.uniform(0.5, 2))  # and stay down a while, as a crashed process would
            pipeline = stack.start_pipeline()
        traffic.join()
        # final catch-up: leases of the killed processes expire (10 s), messages come back
        reader = LakeReader(stack.lake_dir)
        wait_for(lambda: len(reader.current(EVENTS)) >= len(traffic.sent), timeout=90, what="every event sent")
        pipeline.wait_until_drained()
        pipeline.stop()
        stack.start_pipeline()  # its start repairs anything a kill left pending
    lake_dir = stack.lake_dir

    events = reader.current(EVENTS)
    stored = {e["message_id"] for e in events}
    sent = set(traffic.sent)
    lost = sent - stored
    duplicated = duplicated_rows(lake_dir, EVENTS)
    print(f"\nkills {kills}; sent {len(sent)}, stored {len(stored)}, duplicated rows {duplicated}, lost {len(lost)}")
    assert kills == 3
    assert lost == set()
    assert stored == sent

    # The uninterrupted computation over the same events, as of the same moment.
    with session_factory(make_engine(f"sqlite:///{stack.database_path}"))() as session:
        config = load_org_config(session, workspace.org_id)
    as_of = max(e["event_time"] for e in events) + 1
    expected = run_batch(config, [event_from_row(e) for e in events], as_of, 3 * 86_400_000_000)
    changes = reader.current(CHANGES)
    actual_rows = [(CHANGES, r) for r in changes] + [(MATCHES, r) for r in reader.current(MATCHES)]
    assert current_milestone_changes(actual_rows) == current_milestone_changes(expected)
    assert current_stream_matches(actual_rows) == current_stream_matches(expected)

    # serving tables: each entity's milestone status is the latest current change
    latest: dict = {}
    for m, _, entity, kind, _at, _count in sorted(current_milestone_changes(expected), key=lambda c: c[4]):
        latest[(m, entity)] = kind == "achieved"
    con = sqlite3.connect(stack.database_path)
    status = {
        (m, e): bool(a) for m, e, a in con.execute("select milestone_id, entity_id, achieved from milestone_status")
    }
    assert status == latest
    items = con.execute("select count(*) from stream_items").fetchone()[0]
    assert items == len(current_stream_matches(expected))

    # the outbox: each expected match of the Slack-connected stream posted exactly once
    outbox = [json.loads(line) for line in stack.outbox_path.read_text().splitlines()]
    keys = [p["message_id"] for p in outbox]
    assert len(keys) == len(set(keys))
    assert set(keys) == {m[1] for m in current_stream_matches(expected)}


def test_graceful_stop_and_start_with_traffic_in_flight(emulator, tmp_path):
    with LocalStack(tmp_path, emulator=emulator) as stack:
        workspace = setup_workspace(stack.env)
        stack.start_api()
        pipeline = stack.start_pipeline()
        traffic = Traffic(workspace.connection["secret"], stack.api.url, seconds=12, rate=20)
        traffic.start()
        for _ in range(2):
            time.sleep(4)  # stop in the middle of the traffic
            started = time.monotonic()
            assert pipeline.stop() == 0
            assert time.monotonic() - started < 10, "a graceful stop must finish within seconds"
            assert pipeline.state().phase == "stopped"
            assert "stopped in" in pipeline.log()
            pipeline = stack.start_pipeline()
        traffic.join()
        reader = LakeReader(stack.lake_dir)
        wait_for(lambda: len(reader.current(EVENTS)) >= len(traffic.sent), what="every event sent")
    stored = [e["message_id"] for e in reader.current(EVENTS)]
    duplicated = duplicated_rows(stack.lake_dir, EVENTS)
    print(f"\nsent {len(traffic.sent)}, stored {len(stored)}, duplicated rows {duplicated}")
    assert sorted(stored) == sorted(set(traffic.sent))
    assert duplicated == 0
