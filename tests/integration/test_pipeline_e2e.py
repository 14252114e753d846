"""End to end as real processes: the emulator, ``variance api`` and ``variance
pipeline``; events sent with Segment's Python library; the test waits for rows in the
warehouse, the serving tables (through the API) and the Slack outbox."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
from segment.analytics import Client

from variance.clients.pubsub import publisher_client
from variance.core.settings import Settings
from variance.stack.processes import run_cli, start_api, start_pipeline
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow


def wait_for(check, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last value {last!r}")


@pytest.fixture
def stack(emulator, tmp_path):
    env = {
        "PUBSUB_EMULATOR_HOST": emulator.emulator_host,
        "VARIANCE_DATA_DIR": str(tmp_path / "data"),
        "VARIANCE_EVENTS_TOPIC": f"events-{uuid.uuid4().hex[:8]}",
        "VARIANCE_EVENTS_SUBSCRIPTION": f"pipeline-{uuid.uuid4().hex[:8]}",
        "VARIANCE_CONFIG_REFRESH": "1",
    }
    org = json.loads(run_cli(["orgs", "create", "Acme Corp"], env).stdout)
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
                "--filters",
                '[{"path":"role","op":"equals","value":"admin"}]',
                "--threshold",
                "2",
                "--window",
                "30d",
            ],
            env,
        ).stdout
    )
    followed = json.loads(
        run_cli(
            [
                "streams",
                "create",
                "--org",
                o,
                "--name",
                "Acme watch",
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
        ["follows", "add", "--org", o, "--entity-type", "account", "--entity-id", "acme", "--stream", followed["id"]],
        env,
    )
    pricing = json.loads(
        run_cli(
            [
                "streams",
                "create",
                "--org",
                o,
                "--name",
                "Pricing",
                "--type",
                "event_type",
                "--visibility",
                "team",
                "--selectors",
                '[{"kind":"Page","filters":[{"path":"path","op":"starts_with","value":"/pricing"}]}]',
            ],
            env,
        ).stdout
    )
    api = start_api(env, tmp_path / "api.log")
    pipeline = start_pipeline(env, tmp_path / "pipeline.log")
    try:
        yield {
            "env": env,
            "org": org,
            "connection": connection,
            "milestone": milestone,
            "followed": followed,
            "pricing": pricing,
            "api": api,
            "pipeline": pipeline,
            "lake": Path(env["VARIANCE_DATA_DIR"]) / "lake",
        }
    finally:
        pipeline.stop()
        api.stop()


def send(stack, redeliver: bool = False) -> list[str]:
    client = Client(write_key=stack["connection"]["secret"], host=stack["api"].url, sync_mode=True)
    sent = []
    calls = [
        ("group", {"user_id": "u1", "group_id": "acme", "traits": {"name": "Acme Inc"}}),
        ("identify", {"user_id": "u1", "traits": {"email": "Ada@Acme.com", "name": "Ada"}}),
        ("track", {"user_id": "u1", "event": "Invited User", "properties": {"role": "admin"}}),
        ("track", {"user_id": "u1", "event": "Invited User", "properties": {"role": "member"}}),
        ("track", {"user_id": "u1", "event": "Invited User", "properties": {"role": "admin"}}),
        ("page", {"user_id": "u2", "name": "Pricing", "properties": {"path": "/pricing/enterprise"}}),
        ("page", {"user_id": "u2", "name": "Docs", "properties": {"path": "/docs"}}),
    ]
    for i, (method, kwargs) in enumerate(calls):
        message_id = f"e2e-{i}"
        getattr(client, method)(message_id=message_id, **kwargs)
        sent.append(message_id)
    client.flush()
    return sent


def test_segment_events_become_warehouse_rows_serving_rows_and_slack_posts(stack):
    sent = send(stack)
    lake = LakeReader(stack["lake"])
    events = wait_for(lambda: len(lake.current("events")) == len(sent) and lake.current("events"), what="events")
    assert sorted(e["message_id"] for e in events) == sorted(sent)
    assert {e["message_id"]: e["account_id"] for e in events}["e2e-2"] == "acme"
    changes = wait_for(lambda: lake.current("milestone_changes"), what="a milestone change")
    assert [(c["entity_id"], c["kind"], c["count"], c["status"]) for c in changes] == [
        ("acme", "achieved", 2, "current")
    ]
    matches = wait_for(
        lambda: len(lake.current("stream_matches")) >= 6 and lake.current("stream_matches"), what="matches"
    )
    by_stream = {}
    for m in matches:
        by_stream.setdefault(m["stream_id"], set()).add(m["message_id"])
    assert by_stream[stack["pricing"]["id"]] == {"e2e-5"}
    assert {"e2e-0", "e2e-1", "e2e-2", "e2e-3", "e2e-4"} <= by_stream[stack["followed"]["id"]]

    headers = {"Authorization": f"Bearer {stack['org']['admin_token']}"}
    account = wait_for(
        lambda: (
            (r := httpx.get(f"{stack['api'].url}/v1/accounts/acme", headers=headers)).status_code == 200
            and r.json()["milestones"]
            and r.json()
        ),
        what="the account in the serving tables",
    )
    assert (account["name"], account["milestones"][0]["name"]) == ("Acme Inc", "PQL")
    contact = httpx.get(f"{stack['api'].url}/v1/contacts/u1", headers=headers).json()
    assert (contact["email"], contact["account_id"]) == ("ada@acme.com", "acme")
    catalog = httpx.get(f"{stack['api'].url}/v1/event-types", headers=headers).json()["items"]
    assert {(i["kind"], i["name"]) for i in catalog} >= {("Action", "Invited User"), ("Page", None), ("Group", None)}

    outbox = Path(stack["env"]["VARIANCE_DATA_DIR"]) / "slack-outbox.jsonl"
    lines = wait_for(
        lambda: outbox.exists() and len(outbox.read_text().splitlines()) >= 6 and outbox.read_text().splitlines(),
        what="the outbox",
    )
    assert all(json.loads(line)["channel_id"] == "C0ACME" for line in lines)
    assert "Milestone: PQL" in "\n".join(json.loads(line)["text"] for line in lines)


def test_every_message_published_twice_changes_nothing(stack):
    send(stack)
    lake = LakeReader(stack["lake"])
    outbox = Path(stack["env"]["VARIANCE_DATA_DIR"]) / "slack-outbox.jsonl"
    wait_for(lambda: len(lake.current("events")) == 7 and lake.current("milestone_changes"), what="first delivery")
    time.sleep(2)
    before = {t: lake.counts()[t] for t in ("events", "milestone_changes", "stream_matches")}
    posts_before = len(outbox.read_text().splitlines())
    # Re-publish every stored event as Pub/Sub would redeliver it: same data, same attributes.
    settings = Settings(**stack["env"])
    publisher = publisher_client(settings)
    futures = []
    for row in lake.current("events"):
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
    wait_for(lambda: "events in 14" in stack["pipeline"].log(), what="the duplicates to be read", timeout=60)
    time.sleep(3)
    assert {t: lake.counts()[t] for t in ("events", "milestone_changes", "stream_matches")} == before
    assert len(outbox.read_text().splitlines()) == posts_before
    assert [c["count"] for c in lake.current("milestone_changes")] == [2]
