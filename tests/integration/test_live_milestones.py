"""A milestone created while the pipeline runs is evaluated over the history already in
the warehouse, with the same code as a backfill, and kept live from then on."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pytest
from segment.analytics import Client

from tests.support.waiting import wait_for
from variance.appdb.session import make_engine, session_factory
from variance.core.engine.batch import current_milestone_changes, run_batch
from variance.core.timeutil import now_micros
from variance.core.vocabulary import WarehouseTable
from variance.pipelines.config_source import load_org_config
from variance.pipelines.restore import event_from_row
from variance.samples.workspace import ADMIN_INVITES, Workspace
from variance.stack.local import LocalStack
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow
EVENTS = WarehouseTable.events.value
CHANGES = WarehouseTable.milestone_changes.value
DAY = 86_400_000_000


def send_a_week_of_invites(client: Client) -> int:
    week_ago = datetime.now(timezone.utc) - timedelta(days=7)
    sent = 0
    for user, account in (("u1", "acme"), ("u2", "acme"), ("u3", "globex")):
        client.group(user_id=user, group_id=account, timestamp=week_ago - timedelta(hours=1), message_id=f"g-{user}")
        sent += 1
    for i in range(40):
        client.track(
            user_id=("u1", "u2", "u3")[i % 3],
            event="Invited User",
            properties={"role": "admin" if i % 2 else "member"},
            timestamp=week_ago + timedelta(hours=4 * i),
            message_id=f"t-{i}",
        )
        sent += 1
    client.flush()
    return sent


def test_a_milestone_created_after_a_week_of_events_shows_who_already_qualifies(emulator, tmp_path):
    env = {"VARIANCE_CONFIG_REFRESH": "1", "VARIANCE_ALLOWED_LATENESS": "10d"}
    with LocalStack(tmp_path, emulator=emulator, env=env) as stack:
        workspace = Workspace.create(stack.env, "Acme")
        connection = workspace.add_connection("web", mapping="group")
        stack.start_api()
        pipeline = stack.start_pipeline()
        sent = send_a_week_of_invites(Client(write_key=connection["secret"], host=stack.api.url, sync_mode=True))
        pipeline.wait_until_acked(sent)
        reader = LakeReader(stack.lake_dir)
        assert len(reader.current(EVENTS)) == sent

        created_at = now_micros()
        started = time.monotonic()
        milestone = workspace.add_milestone(
            "Admin inviter", event="Invited User", filters=ADMIN_INVITES, threshold=3, window="2d"
        )
        # the bound is 60 s; the refresh here is 1 s
        wait_for(lambda: reader.current(CHANGES), timeout=60, what="a change computed from history")
        took = time.monotonic() - started

        # What a backfill computes over the same events, as of the moment of creation.
        with session_factory(make_engine(f"sqlite:///{stack.database_path}"))() as session:
            config = load_org_config(session, workspace.org_id)
        events = [event_from_row(e) for e in reader.current(EVENTS)]
        expected = current_milestone_changes(run_batch(config, events, created_at, 10 * DAY))

        def computed_as_the_backfill_does() -> list[dict]:
            rows = reader.current(CHANGES)
            return rows if current_milestone_changes([(CHANGES, c) for c in rows]) == expected else []

        changes = wait_for(computed_as_the_backfill_does, what="every change the backfill computes")
        latest: dict = {}
        for _, _, entity, kind, _at, _count in sorted(expected, key=lambda c: c[4]):
            latest[entity] = int(kind == "achieved")

        def statuses() -> dict:
            with sqlite3.connect(stack.database_path) as con:
                query = "select entity_id, achieved from milestone_status where milestone_id = ?"
                return dict(con.execute(query, (milestone["id"],)))

        wait_for(lambda: statuses() == latest, what=f"the serving statuses {latest}")
    print(f"\nthe new milestone's history was in the warehouse {took:.1f} s after it was created")
    assert {c["source"] for c in changes} == {"recompute"}
    assert {c["milestone_id"] for c in changes} == {milestone["id"]}
