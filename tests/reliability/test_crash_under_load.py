"""A crash under load changes no result: a shuffled backlog of Segment calls from three
organisations (the three account mappings, anonymous visits linked later, duplicates) sent
through the API, the pipeline killed with ``kill -9`` twice while it works through it and
restarted at once each time; afterwards its current milestone changes and stream matches
equal a backfill's over the same calls. ``VARIANCE_CRASH_CALLS`` sets the backlog's size
(about 34,000 reproduces the issue's run; the suite uses fewer to stay fast)."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta

import pytest
from segment.analytics import Client

from tests.reliability.lake_counts import duplicated_rows
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
LATENESS = 3 * 86_400_000_000
CALLS = int(os.environ.get("VARIANCE_CRASH_CALLS", "4500"))
MAPPINGS = ("group", "identify_traits", "email_domain")


def _workspace(env, mapping: str) -> Workspace:
    workspace = Workspace.create(env, f"Org {mapping}")
    workspace.add_connection(
        "web",
        mapping=mapping,
        account_id_trait="company.id" if mapping == "identify_traits" else None,
        account_name_trait="company.name" if mapping == "identify_traits" else None,
    )
    workspace.add_milestone("PQL", event="Invited User", threshold=3, window="12h")
    workspace.add_milestone("Onboarded", entity="contact", event="Invited User", threshold=4)
    workspace.add_milestone("Busy", entity="contact", event="Invited User", threshold=2, window="6h")
    stream = workspace.add_stream("Watch")
    workspace.follow("account", "acct-1", stream=stream["id"])
    return workspace


def _calls(mapping: str, n: int, rng: random.Random, now: datetime) -> list[tuple[str, dict]]:
    """(method, keyword arguments) for Segment's client: links for most users, tracks by
    users and by anonymous visitors, identify calls that link the visitors later on."""
    users = [f"{mapping}-user-{i}" for i in range(max(20, n // 40))]
    calls: list[tuple[str, dict]] = []

    def at(hours_ago: float) -> datetime:
        return now - timedelta(hours=hours_ago)

    for i, user in enumerate(users):
        account = f"acct-{i % 8}"
        when = at(rng.uniform(30, 44))
        if mapping == "group":
            calls.append(("group", {"user_id": user, "group_id": account, "traits": {"name": account}}))
        elif mapping == "identify_traits":
            traits = {"company": {"id": account, "name": account.title()}}
            calls.append(("identify", {"user_id": user, "traits": traits}))
        else:
            calls.append(("identify", {"user_id": user, "traits": {"email": f"{user}@{account}.example"}}))
        calls[-1][1].update(timestamp=when, message_id=f"{mapping}-link-{i}")
    visitors = [f"{mapping}-visitor-{i}" for i in range(max(5, n // 200))]
    for i, visitor in enumerate(visitors):
        calls.append(
            (
                "identify",
                {
                    "user_id": users[i],
                    "anonymous_id": visitor,
                    "timestamp": at(rng.uniform(4, 30)),
                    "message_id": f"{mapping}-alias-{i}",
                },
            )
        )
    while len(calls) < n:
        k = len(calls)
        who = {"anonymous_id": rng.choice(visitors)} if rng.random() < 0.15 else {"user_id": rng.choice(users)}
        calls.append(
            (
                "track",
                {
                    **who,
                    "event": "Invited User",
                    "properties": {"role": rng.choice(["admin", "member"])},
                    "timestamp": at(rng.uniform(1, 40)),
                    "message_id": f"{mapping}-t-{k}",
                },
            )
        )
    return calls


def test_two_kills_while_working_through_a_shuffled_backlog_change_no_result(emulator, tmp_path, figures):
    rng = random.Random(16)
    now = datetime.now(UTC)
    with LocalStack(tmp_path, emulator=emulator, env={"VARIANCE_ACK_DEADLINE": "10"}) as stack:
        workspaces = {m: _workspace(stack.env, m) for m in MAPPINGS}
        stack.start_api()
        stack.start_pipeline().stop()  # its subscription exists: the backlog waits in it
        backlog: list[tuple[Workspace, str, dict]] = []
        for mapping, workspace in workspaces.items():
            backlog += [(workspace, method, kw) for method, kw in _calls(mapping, CALLS // 3, rng, now)]
        backlog += rng.sample(backlog, len(backlog) // 20)  # re-sent: duplicates
        rng.shuffle(backlog)
        clients = {
            m: Client(write_key=w.connection["secret"], host=stack.api.url, upload_size=100, max_queue_size=200_000)
            for m, w in workspaces.items()
        }
        by_workspace = {w.org_id: m for m, w in workspaces.items()}
        for workspace, method, kw in backlog:
            getattr(clients[by_workspace[workspace.org_id]], method)(**kw)
        for client in clients.values():
            client.flush()
        sent = {kw["message_id"] for _, _, kw in backlog}

        pipeline = stack.start_pipeline()
        for _ in range(2):  # kill while it works through the backlog, restart at once
            pipeline.wait_until_acked(len(backlog) // 4, timeout=240)
            pipeline.kill()
            pipeline = stack.start_pipeline()
        reader = LakeReader(stack.lake_dir)
        wait_for(lambda: len(reader.current(EVENTS)) >= len(sent), timeout=300, what="every call in the warehouse")
        pipeline.wait_until_drained(timeout=120)

        events = reader.current(EVENTS)
        stored = {e["message_id"] for e in events}
        assert stored == sent
        expected_changes: set = set()
        expected_matches: set = set()
        as_of = max(e["event_time"] for e in events) + 1
        with session_factory(make_engine(f"sqlite:///{stack.database_path}"))() as session:
            for workspace in workspaces.values():
                config = load_org_config(session, workspace.org_id)
                org_events = [event_from_row(e) for e in events if e["org_id"] == workspace.org_id]
                rows = run_batch(config, org_events, as_of, LATENESS)
                expected_changes |= current_milestone_changes(rows)
                expected_matches |= current_stream_matches(rows)

        def up_to_as_of() -> list:
            changes = [(CHANGES, r) for r in reader.current(CHANGES) if r["changed_at"] <= as_of]
            matches = [(MATCHES, r) for r in reader.current(MATCHES) if r["event_time"] <= as_of]
            return changes + matches

        def settled():
            rows = up_to_as_of()
            return rows if current_milestone_changes(rows) == expected_changes else None

        try:
            rows = wait_for(settled, timeout=60, what="the milestone changes of a backfill")
        finally:
            actual = current_milestone_changes(up_to_as_of())
            figures(
                organisations=len(workspaces),
                kills=2,
                sent=len(backlog),
                distinct=len(sent),
                stored=len(stored),
                duplicated=duplicated_rows(stack.lake_dir, EVENTS),
                lost=len(sent - stored),
                milestone_changes=len(expected_changes),
                missing=len(expected_changes - actual),
                extra=len(actual - expected_changes),
            )
        assert len(expected_changes) > 100
        assert current_stream_matches(rows) == expected_matches
