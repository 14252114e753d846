"""Segment's own Python library, pointed at our API, reaches Pub/Sub intact."""

from __future__ import annotations

import json

import pytest
from segment.analytics import Client

from variance.clients.pubsub import ensure_subscription, ensure_topic, publisher_client, subscriber_client
from variance.core import bus
from variance.core.settings import Settings

pytestmark = pytest.mark.slow


def _subscribe(env: dict[str, str]):
    settings = Settings(**{**env, "VARIANCE_EVENTS_SUBSCRIPTION": "check-" + env["VARIANCE_EVENTS_TOPIC"]})
    ensure_topic(publisher_client(settings), settings.topic_path)
    subscriber = subscriber_client(settings)
    ensure_subscription(subscriber, settings.subscription_path, settings.topic_path)
    return subscriber, settings.subscription_path


def _pull_all(subscriber, subscription: str, expected: int) -> list:
    import time

    out, deadline = [], time.monotonic() + 20
    while len(out) < expected and time.monotonic() < deadline:
        response = subscriber.pull(subscription=subscription, max_messages=100, timeout=5)
        if response.received_messages:
            subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in response.received_messages])
            out.extend(m.message for m in response.received_messages)
    return out


@pytest.mark.parametrize("gzip", [False, True])
def test_every_call_type_from_segments_client(stack_env, api_process, org_and_connection, gzip):
    subscriber, subscription = _subscribe(stack_env)
    connection = org_and_connection["connection"]
    errors = []
    client = Client(
        write_key=connection["secret"],
        host=api_process.url,
        gzip=gzip,
        sync_mode=True,
        on_error=lambda error, batch: errors.append(error),
    )
    client.identify(user_id="u1", traits={"email": "ada@acme.com", "company": {"id": "acme"}}, message_id="m-identify")
    client.group(user_id="u1", group_id="acme", traits={"name": "Acme"}, message_id="m-group")
    client.track(user_id="u1", event="Invited User", properties={"role": "admin"}, message_id="m-track")
    client.page(user_id="u1", category="Docs", name="Pricing", properties={"path": "/pricing"}, message_id="m-page")
    client.screen(anonymous_id="anon-1", name="Home", message_id="m-screen")
    client.alias(previous_id="anon-1", user_id="u1", message_id="m-alias")
    client.flush()
    assert errors == []

    messages = {m.attributes[bus.MESSAGE_ID]: m for m in _pull_all(subscriber, subscription, 6)}
    assert set(messages) == {"m-identify", "m-group", "m-track", "m-page", "m-screen", "m-alias"}
    for message_id, message in messages.items():
        data = json.loads(message.data)
        attributes = dict(message.attributes)
        assert attributes == {
            bus.ORG_ID: org_and_connection["org"]["org_id"],
            bus.CONNECTION_ID: connection["id"],
            bus.CONNECTION_NAME: "web",
            bus.MESSAGE_ID: message_id,
            bus.TYPE: message_id.removeprefix("m-"),
            bus.EVENT_TIME: data["timestamp"],
        }
        assert data["messageId"] == message_id
        assert data["context"]["library"]["name"] == "analytics-python"
        assert data["receivedAt"] >= data["timestamp"][:19]
        assert "writeKey" not in data
    assert json.loads(messages["m-track"].data)["properties"] == {"role": "admin"}
    assert json.loads(messages["m-track"].data)["event"] == "Invited User"
    assert json.loads(messages["m-group"].data)["groupId"] == "acme"
    assert json.loads(messages["m-alias"].data)["previousId"] == "anon-1"
    assert json.loads(messages["m-page"].data)["name"] == "Pricing"
    assert json.loads(messages["m-identify"].data)["traits"]["company"] == {"id": "acme"}
