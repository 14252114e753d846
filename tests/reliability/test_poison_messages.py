"""Poison and malformed messages published straight onto the topic (google-cloud-pubsub's
publisher against the emulator, not through the API, as another publisher or a bug
would): each becomes a dead letter with its stage and reason, is acknowledged once that
is durable, and the valid calls published around them are stored once. The pipeline keeps
going: the last valid call is published after all the poison."""

from __future__ import annotations

import time

import orjson
import pytest

from tests.reliability.lake_counts import duplicated_rows
from tests.support.waiting import wait_for
from variance.clients.pubsub import publisher_client
from variance.core import bus
from variance.core.settings import Settings
from variance.core.vocabulary import WarehouseTable
from variance.samples.workspace import Workspace
from variance.stack.local import LocalStack
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow
EVENTS = WarehouseTable.events.value
DEAD_LETTERS = WarehouseTable.dead_letters.value
NOW = "2026-01-05T10:00:00Z"


def _call(message_id: str, **fields) -> dict:
    return {
        "type": "track",
        "userId": "u1",
        "event": "Invited User",
        "messageId": message_id,
        "timestamp": NOW,
    } | fields


def test_poison_messages_become_dead_letters_with_reasons_and_the_pipeline_goes_on(emulator, tmp_path, figures):
    started = time.monotonic()
    with LocalStack(tmp_path, emulator=emulator) as stack:
        workspace = Workspace.create(stack.env, "Acme")
        connection = workspace.add_connection("web", mapping="group")
        stack.start_api()  # ensures the topic and the pipeline's subscription
        pipeline = stack.start_pipeline()
        settings = Settings(**stack.env)
        publisher = publisher_client(settings)

        def attributes(message_id: str, **changes: str) -> dict[str, str]:
            base = {
                bus.ORG_ID: workspace.org_id,
                bus.CONNECTION_ID: connection["id"],
                bus.CONNECTION_NAME: "web",
                bus.MESSAGE_ID: message_id,
                bus.TYPE: "track",
                bus.EVENT_TIME: NOW,
            }
            return {k: v for k, v in (base | changes).items() if v is not None}

        def publish(data: bytes, attrs: dict[str, str]) -> None:
            publisher.publish(settings.topic_path, data, **attrs).result(timeout=30)

        valid: list[str] = []

        def publish_valid() -> None:
            message_id = f"valid-{len(valid)}"
            publish(orjson.dumps(_call(message_id)), attributes(message_id))
            valid.append(message_id)

        # (message id, data, attributes, what the reason must say)
        poison = [
            ("not-json", b"\xff{not json", attributes("not-json"), "data is not JSON"),
            ("a-list", b"[1, 2, 3]", attributes("a-list"), "data must be a JSON object"),
            (
                "no-type",
                orjson.dumps({"hello": "world", "messageId": "no-type"}),
                attributes("no-type"),
                "type: must be",
            ),
            (
                "no-user",
                orjson.dumps({"type": "track", "event": "E", "messageId": "no-user"}),
                attributes("no-user"),
                "userId",
            ),
            ("bad-time", orjson.dumps(_call("bad-time", timestamp="yesterday")), attributes("bad-time"), "timestamp"),
            (
                "bad-event-time",
                orjson.dumps(_call("bad-event-time")),
                attributes("bad-event-time", event_time="soon"),
                "attribute event_time: must be an ISO-8601 date-time",
            ),
            ("no-org", orjson.dumps(_call("no-org")), attributes("no-org", org_id=None), "org_id"),
            (
                "mismatched-id",
                orjson.dumps(_call("something-else")),
                attributes("mismatched-id"),
                "message_id does not match",
            ),
            (
                "unknown-org",
                orjson.dumps(_call("unknown-org")),
                attributes("unknown-org", org_id="org_nope"),
                "organisation 'org_nope' has no connection",
            ),
            (
                "unknown-connection",
                orjson.dumps(_call("unknown-connection")),
                attributes("unknown-connection", connection_id="con_nope"),
                "has no connection 'con_nope'",
            ),
            (
                "oversized",
                orjson.dumps(_call("oversized", properties={"blob": "x" * 100_000})),
                attributes("oversized"),
                "more than Segment's limit of 32 KB per call",
            ),
        ]
        for _message_id, data, attrs, _reason in poison:
            publish_valid()
            publish(data, attrs)
        publish_valid()

        reader = LakeReader(stack.lake_dir)
        wait_for(
            lambda: {e["message_id"] for e in reader.current(EVENTS)} >= set(valid),
            timeout=60,
            what="the valid calls around the poison",
        )
        pipeline.wait_until_drained()
        state = pipeline.state()
        assert pipeline.alive()
        events = reader.current(EVENTS)
        letters = reader.current(DEAD_LETTERS)

    stored = [e["message_id"] for e in events]
    by_id = {letter["message_id"]: letter for letter in letters}
    missing = [m for m, *_ in poison if m not in by_id]
    figures(
        sent=len(valid) + len(poison),
        valid=len(valid),
        poison=len(poison),
        stored=len(set(stored) & set(valid)),
        dead_letters=len(letters),
        not_dead_lettered=len(missing),
        duplicated=duplicated_rows(stack.lake_dir, EVENTS),
        lost=len(set(valid) - set(stored)),
        seconds=f"{time.monotonic() - started:.0f}",
    )
    assert sorted(m for m in stored if m.startswith("valid-")) == sorted(valid)
    assert state.acked == state.received == len(valid) + len(poison)
    for message_id, _data, _attrs, reason in poison:
        if message_id in by_id:
            assert by_id[message_id]["stage"] == "parse", by_id[message_id]
            assert reason in by_id[message_id]["reason"], by_id[message_id]
    assert missing == []
    assert sorted(stored) == sorted(valid)
