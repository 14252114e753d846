"""End to end as real processes: the emulator, ``variance api`` and ``variance
pipeline`` (the demo's stack and workspace); events sent with Segment's Python library;
the test waits for rows in the warehouse, the serving tables (through the API) and the
Slack outbox."""

from __future__ import annotations

import json

import httpx
import pytest
from segment.analytics import Client

from tests.support.waiting import wait_for
from variance.clients.pubsub import publisher_client
from variance.core.settings import Settings
from variance.core.vocabulary import WarehouseTable
from variance.samples.workspace import demo_workspace
from variance.stack.local import LocalStack
from variance.warehouse.local import LakeReader
from variance.workspace.schemas.entities import AccountOut

pytestmark = pytest.mark.slow
EVENTS = WarehouseTable.events.value
CHANGES = WarehouseTable.milestone_changes.value
MATCHES = WarehouseTable.stream_matches.value


@pytest.fixture
def stack(emulator, tmp_path):
    with LocalStack(tmp_path, emulator=emulator, env={"VARIANCE_CONFIG_REFRESH": "1"}) as stack:
        yield stack


@pytest.fixture
def workspace(stack):
    return demo_workspace(stack.env, "Acme Corp")


@pytest.fixture
def running(stack, workspace):
    stack.start_api()
    stack.start_pipeline()
    return stack


CALLS = [
    ("group", {"user_id": "u1", "group_id": "acme", "traits": {"name": "Acme Inc"}}),
    ("identify", {"user_id": "u1", "traits": {"email": "Ada@Acme.com", "name": "Ada"}}),
    ("track", {"user_id": "u1", "event": "Invited User", "properties": {"role": "admin"}}),
    ("track", {"user_id": "u1", "event": "Invited User", "properties": {"role": "member"}}),
    ("track", {"user_id": "u1", "event": "Invited User", "properties": {"role": "admin"}}),
    ("page", {"user_id": "u2", "name": "Pricing", "properties": {"path": "/pricing/enterprise"}}),
    ("page", {"user_id": "u2", "name": "Docs", "properties": {"path": "/docs"}}),
]


def send(stack, workspace, calls=CALLS, prefix: str = "e2e") -> list[str]:
    client = Client(write_key=workspace.connection["secret"], host=stack.api.url, sync_mode=True)
    sent = []
    for i, (method, kwargs) in enumerate(calls):
        message_id = f"{prefix}-{i}"
        getattr(client, method)(message_id=message_id, **kwargs)
        sent.append(message_id)
    client.flush()
    return sent


def outbox_lines(stack) -> list[str]:
    return stack.outbox_path.read_text().splitlines() if stack.outbox_path.exists() else []


def test_segment_events_become_warehouse_rows_serving_rows_and_slack_posts(running, workspace):
    stack = running
    sent = send(stack, workspace)
    lake = LakeReader(stack.lake_dir)
    stack.pipeline.wait_until_acked(len(sent))
    events = wait_for(lambda: len(lake.current(EVENTS)) == len(sent) and lake.current(EVENTS), what=EVENTS)
    assert sorted(e["message_id"] for e in events) == sorted(sent)
    assert {e["message_id"]: e["account_id"] for e in events}["e2e-2"] == "acme"
    changes = wait_for(lambda: lake.current(CHANGES), what="a milestone change")
    assert [(c["entity_id"], c["kind"], c["count"], c["status"]) for c in changes] == [
        ("acme", "achieved", 2, "current")
    ]
    matches = wait_for(lambda: len(lake.current(MATCHES)) >= 6 and lake.current(MATCHES), what="matches")
    by_stream = {}
    for m in matches:
        by_stream.setdefault(m["stream_id"], set()).add(m["message_id"])
    assert by_stream[workspace.streams["Pricing"]["id"]] == {"e2e-5"}
    assert {"e2e-0", "e2e-1", "e2e-2", "e2e-3", "e2e-4"} <= by_stream[workspace.streams["Acme watch"]["id"]]

    url = stack.api.url
    headers = {"Authorization": f"Bearer {workspace.admin_token}"}
    account = wait_for(
        lambda: (
            (r := httpx.get(f"{url}/v1/accounts/acme", headers=headers)).status_code == 200
            and (found := AccountOut.model_validate(r.json())).milestones
            and found
        ),
        what="the account in the serving tables",
    )
    assert (account.name, account.milestones[0].name) == ("Acme Inc", "PQL")
    contact = httpx.get(f"{url}/v1/contacts/u1", headers=headers).json()
    assert (contact["email"], contact["account_id"]) == ("ada@acme.com", "acme")
    catalog = httpx.get(f"{url}/v1/event-types", headers=headers).json()["items"]
    assert {(i["kind"], i["name"]) for i in catalog} >= {("Action", "Invited User"), ("Page", None), ("Group", None)}

    lines = wait_for(lambda: len(outbox_lines(stack)) >= 6 and outbox_lines(stack), what="the outbox")
    assert all(json.loads(line)["channel_id"] == "C0ACME" for line in lines)
    assert "Milestone: PQL" in "\n".join(json.loads(line)["text"] for line in lines)


def test_every_message_published_twice_changes_nothing(running, workspace):
    stack = running
    sent = send(stack, workspace)
    lake = LakeReader(stack.lake_dir)
    stack.pipeline.wait_until_acked(len(sent))
    wait_for(lambda: len(lake.current(EVENTS)) == 7 and lake.current(CHANGES), what="first delivery")
    # Everything the first delivery causes: the stream matches of the Slack stream, each posted.
    slack_stream = workspace.streams["Acme watch"]["id"]
    posted = {m["message_id"] for m in lake.current(MATCHES) if m["stream_id"] == slack_stream}
    wait_for(lambda: {json.loads(line)["message_id"] for line in outbox_lines(stack)} >= posted, what="the posts")
    tables = (EVENTS, CHANGES, MATCHES)
    before = {t: lake.counts()[t] for t in tables}
    posts_before = len(outbox_lines(stack))

    # Re-publish every stored event as Pub/Sub would redeliver it: same data, same attributes.
    settings = Settings(**stack.env)
    publisher = publisher_client(settings)
    futures = []
    for row in lake.current(EVENTS):
        data = row["raw"].encode()
        attributes = {
            "org_id": row["org_id"],
            "connection_id": row["connection_id"],
            "connection_name": row["connection_name"],
            "message_id": row["message_id"],
            "type": row["type"],
            "event_time": json.loads(row["raw"])["timestamp"],
        }
        futures.append(publisher.publish(settings.topic_path, data, **attributes))
    for f in futures:
        f.result(timeout=30)
    # A positive sign the pipeline got past the duplicates: every message acknowledged
    # (the duplicates too), then a marker sent after them, itself matched and posted.
    marker = ("page", {"user_id": "u1", "name": "Docs", "properties": {"path": "/docs/marker"}})
    [marker_id] = send(stack, workspace, [marker], prefix="marker")
    stack.pipeline.wait_until_acked(2 * len(sent) + 1)
    wait_for(
        lambda: marker_id in {json.loads(line)["message_id"] for line in outbox_lines(stack)},
        what="the marker's Slack post",
    )

    marker_adds = {EVENTS: 1, CHANGES: 0, MATCHES: 1}  # Acme watch follows u1's account
    assert {t: lake.counts()[t] for t in tables} == {t: before[t] + marker_adds[t] for t in tables}
    assert len(outbox_lines(stack)) == posts_before + 1
    assert [c["count"] for c in lake.current(CHANGES)] == [2]
