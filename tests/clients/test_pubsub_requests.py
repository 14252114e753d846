"""The Publish requests EventPublisher sends: encoded by hand, they must parse as the same
messages the protobuf library builds; they stay within Pub/Sub's limits per request however
many messages one caller brings; and while an RPC is out, later callers share the next one."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from google.pubsub_v1 import types as pubsub_types

from tests.support.aio import run
from variance.clients.pubsub import (
    EventPublisher,
    encode_message,
    ensure_subscription,
    ensure_topic,
    publisher_client,
    subscriber_client,
)
from variance.core.bus import BusMessage

_MESSAGE = pubsub_types.PubsubMessage.pb()
_REQUEST = pubsub_types.PublishRequest.pb()


@pytest.fixture
def settings(emulator, settings_for):
    return settings_for(PUBSUB_EMULATOR_HOST=emulator.emulator_host, VARIANCE_PUBLISH_TIMEOUT="5")


def subscribed(settings) -> None:
    ensure_topic(publisher_client(settings), settings.topic_path)
    ensure_subscription(subscriber_client(settings), settings.subscription_path, settings.topic_path)


def pull_all(settings, expected: int, timeout_s: float = 60.0) -> list:
    subscriber = subscriber_client(settings)
    got: list = []
    deadline = time.monotonic() + timeout_s
    while len(got) < expected and time.monotonic() < deadline:
        response = subscriber.pull(subscription=settings.subscription_path, max_messages=1000, timeout=10)
        if response.received_messages:
            subscriber.acknowledge(
                subscription=settings.subscription_path, ack_ids=[m.ack_id for m in response.received_messages]
            )
            got.extend(m.message for m in response.received_messages)
    return got


def recording_sends(publisher: EventPublisher, gate: threading.Event | None = None) -> list[int]:
    """Messages per Publish request, parsed from the bytes sent; the first send waits for ``gate``."""
    sizes: list[int] = []
    send = publisher._send

    def recorded(request: bytes) -> None:
        parsed = _REQUEST.FromString(request)
        assert parsed.topic == publisher.topic_path
        sizes.append(len(parsed.messages))
        if gate is not None and len(sizes) == 1:
            assert gate.wait(10)
        send(request)

    publisher._send = recorded  # type: ignore[method-assign]
    return sizes


@pytest.mark.parametrize(
    ("data", "attributes"),
    [
        (b'{"type":"track"}', {"org_id": "org_a", "message_id": "m1", "type": "track"}),
        (b"", {}),
        (b"\x00\xff" * 9000, {"k" * 200: "é" * 10000, "": "", "ключ": "значение ✓"}),
    ],
    ids=["ascii", "empty", "long-and-unicode"],
)
def test_an_encoded_message_parses_as_the_protobuf_librarys_message(data, attributes):
    request = b"\x0a\x03t/1" + encode_message(data, attributes) + encode_message(b"second", {"a": "b"})
    parsed = _REQUEST.FromString(request)
    assert parsed.topic == "t/1"
    assert list(parsed.messages) == [
        _MESSAGE(data=data, attributes=attributes),
        _MESSAGE(data=b"second", attributes={"a": "b"}),
    ]
    assert _MESSAGE.FromString(_MESSAGE(data=data, attributes=attributes).SerializeToString()) == parsed.messages[0]


def test_one_call_with_more_messages_than_a_request_may_carry_is_split_and_all_delivered(settings):
    subscribed(settings)
    messages = [BusMessage(f"call {i}".encode(), {"message_id": f"m{i}"}) for i in range(2500)]
    publisher = EventPublisher(settings)
    sizes = recording_sends(publisher)
    try:
        run(publisher.publish(messages))
    finally:
        publisher.close()
    assert sizes == [1000, 1000, 500]  # Pub/Sub's limit is 1,000 messages per request
    got = pull_all(settings, len(messages))
    assert sorted(m.data for m in got) == sorted(m.data for m in messages)


def test_callers_arriving_while_an_rpc_is_out_share_the_next_one(settings):
    subscribed(settings)
    publisher = EventPublisher(settings, max_latency_s=0.001, max_in_flight=1)
    gate = threading.Event()
    sizes = recording_sends(publisher, gate)

    async def scenario() -> None:
        first = asyncio.ensure_future(publisher.publish([BusMessage(b"first", {"message_id": "m0"})]))
        await asyncio.sleep(0.05)  # the first RPC is out (held at the gate)
        later = []
        for i in range(1, 6):
            later.append(asyncio.ensure_future(publisher.publish([BusMessage(b"later", {"message_id": f"m{i}"})])))
            await asyncio.sleep(0.01)  # each caller's own max_latency has long passed
        assert sizes == [1] and not any(task.done() for task in later)
        gate.set()
        await asyncio.gather(first, *later)

    try:
        run(scenario())
    finally:
        publisher.close()
    assert sizes == [1, 5]
    assert sorted(m.attributes["message_id"] for m in pull_all(settings, 6)) == [f"m{i}" for i in range(6)]
