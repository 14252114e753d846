"""Streaming that survives: ``kill -9`` of the pipeline at random moments under steady
traffic from Segment's Python library for two organisations, then a final restart and
catch-up. The warehouse (current milestone changes and stream matches), the serving tables
and the Slack messages (the outbox) must equal an uninterrupted computation over the same
calls: the batch engine, which is what ``variance backfill`` runs and which streaming
equals by contract. Equal milestone changes, not only a count of duplicates: a wrong
milestone history would pass a duplicate count."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time

import pytest
from segment.analytics import Client

from tests.reliability.lake_counts import duplicated_rows
from tests.support.waiting import wait_for
from variance.appdb.session import make_engine, session_factory
from variance.core.engine.batch import current_milestone_changes, current_stream_matches, run_batch
from variance.core.vocabulary import SlackDelivery, WarehouseTable
from variance.pipelines.config_source import load_org_config
from variance.pipelines.restore import event_from_row
from variance.samples.workspace import Workspace
from variance.slack import outbox as slack_outbox
from variance.stack.local import LocalStack
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow
EVENTS = WarehouseTable.events.value
CHANGES = WarehouseTable.milestone_changes.value
MATCHES = WarehouseTable.stream_matches.value
USERS = [f"user-{i}" for i in range(6)]


def setup_workspace(env, name: str = "Acme", follows: str = "acme") -> Workspace:
    workspace = Workspace.create(env, name)
    workspace.add_connection("web", mapping="group")
    workspace.add_milestone("PQL", event="Invited User", threshold=5, window="30d")
    workspace.add_milestone("Active", entity="contact", event="Invited User", threshold=3)
    stream = workspace.add_stream(name, slack_channel=(f"C0{name.upper()}", f"#{name.lower()}"))
    workspace.follow("account", follows, stream=stream["id"])
    return workspace


class Traffic(threading.Thread):
    """Steady traffic: each user's group call first, then tracks at ``rate`` per second."""

    def __init__(self, write_key: str, host: str, seconds: float, rate: float, prefix: str = ""):
        super().__init__(daemon=True)
        self.client = Client(write_key=write_key, host=host, sync_mode=True)
        self.seconds, self.rate, self.prefix = seconds, rate, prefix
        self.sent: list[str] = []

    def run(self) -> None:
        for i, user in enumerate(USERS):
            account = "acme" if i % 2 == 0 else "globex"
            message_id = f"{self.prefix}g-{user}"
            self.client.group(user_id=user, group_id=account, traits={"name": account.title()}, message_id=message_id)
            self.sent.append(message_id)
        rng = random.Random(7)
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < self.seconds:
            message_id = f"{self.prefix}t-{n}"
            self.client.track(
                user_id=rng.choice(USERS), event="Invited User", properties={"n": n}, message_id=message_id
            )
            self.sent.append(message_id)
            n += 1
            time.sleep(max(0.0, started + n / self.rate - time.monotonic()))


def test_kill_minus_nine_three_times_loses_and_doubles_nothing(emulator, tmp_path, figures):
    started = time.monotonic()
    with LocalStack(tmp_path, emulator=emulator, env={"VARIANCE_ACK_DEADLINE": "10"}) as stack:
        workspaces = [setup_workspace(stack.env, "Acme", "acme"), setup_workspace(stack.env, "Globex", "globex")]
        stack.start_api()
        pipeline = stack.start_pipeline()
        traffic = [
            Traffic(w.connection["secret"], stack.api.url, seconds=24, rate=8, prefix=f"{w.org_id}-")
            for w in workspaces
        ]
        kills = 0
        for sender in traffic:
            sender.start()
        rng = random.Random(11)
        for _ in range(3):
            time.sleep(rng.uniform(3, 6))  # kill at a random moment of the traffic
            pipeline.kill()
            kills += 1
            time.sleep(rng.uniform(0.5, 2))  # and stay down a while, as a crashed process would
            pipeline = stack.start_pipeline()
        for sender in traffic:
            sender.join()
        sent = {m for sender in traffic for m in sender.sent}
        # final catch-up: leases of the killed processes expire (10 s), messages come back
        reader = LakeReader(stack.lake_dir)
        wait_for(lambda: len(reader.current(EVENTS)) >= len(sent), timeout=90, what="every event sent")
        pipeline.wait_until_drained()
        pipeline.stop()
        stack.start_pipeline()  # its start repairs anything a kill left pending
        # the sender posts at each channel's pace: the last matches may still be waiting
        outbox_sessions = session_factory(make_engine(f"sqlite:///{stack.database_path}"))

        def delivered() -> bool:
            with outbox_sessions() as session:
                left = slack_outbox.counts(session)
            return not any(left.get(state) for state in (SlackDelivery.pending, SlackDelivery.sending))

        wait_for(delivered, timeout=60, what="the Slack sender to post every match in the outbox")
    lake_dir = stack.lake_dir

    events = reader.current(EVENTS)
    stored = {e["message_id"] for e in events}
    lost = sent - stored
    duplicated = duplicated_rows(lake_dir, EVENTS)

    # The uninterrupted computation over the same events, as of the same moment, per organisation.
    as_of = max(e["event_time"] for e in events) + 1
    expected: list = []
    with session_factory(make_engine(f"sqlite:///{stack.database_path}"))() as session:
        for workspace in workspaces:
            config = load_org_config(session, workspace.org_id)
            org_events = [event_from_row(e) for e in events if e["org_id"] == workspace.org_id]
            expected += run_batch(config, org_events, as_of, 3 * 86_400_000_000)
    changes = reader.current(CHANGES)
    actual_rows = [(CHANGES, r) for r in changes] + [(MATCHES, r) for r in reader.current(MATCHES)]
    expected_changes, expected_matches = current_milestone_changes(expected), current_stream_matches(expected)
    outbox = [json.loads(line) for line in stack.outbox_path.read_text().splitlines()]
    # a line is one Slack message: one match, or a digest of the matches waiting at once
    posts = [(p["stream_id"], m) for p in outbox for m in p["message_ids"]]
    figures(
        organisations=len(workspaces),
        kills=kills,
        sent=len(sent),
        stored=len(stored),
        duplicated=duplicated,
        lost=len(lost),
        milestone_changes=len(expected_changes),
        changes_differing=len(current_milestone_changes(actual_rows) ^ expected_changes),
        stream_matches=len(expected_matches),
        slack_messages=len(outbox),
        matches_posted=len(posts),
        seconds=f"{time.monotonic() - started:.0f}",
    )
    assert kills == 3
    assert lost == set()
    assert stored == sent
    assert {e["org_id"] for e in events} == {w.org_id for w in workspaces}
    assert current_milestone_changes(actual_rows) == expected_changes
    assert current_stream_matches(actual_rows) == expected_matches
    assert {m[0] for m in expected_matches} == {
        st["id"] for w in workspaces for st in w.streams.values()
    }  # both organisations matched

    # serving tables: each entity's milestone status is the latest current change
    latest: dict = {}
    for m, _, entity, kind, _at, _count in sorted(expected_changes, key=lambda c: c[4]):
        latest[(m, entity)] = kind == "achieved"
    con = sqlite3.connect(stack.database_path)
    status = {
        (m, e): bool(a) for m, e, a in con.execute("select milestone_id, entity_id, achieved from milestone_status")
    }
    assert status == latest
    items = con.execute("select count(*) from stream_items").fetchone()[0]
    assert items == len(expected_matches)

    # the Slack messages (outbox): each expected match of a Slack-connected stream posted exactly once
    assert len(posts) == len(set(posts))
    assert set(posts) == {(m[0], m[1]) for m in expected_matches}


def test_graceful_stop_and_start_with_traffic_in_flight(emulator, tmp_path, figures):
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
    figures(
        stops=2,
        sent=len(traffic.sent),
        stored=len(stored),
        duplicated=duplicated,
        lost=len(set(traffic.sent) - set(stored)),
    )
    assert sorted(stored) == sorted(set(traffic.sent))
    assert duplicated == 0
