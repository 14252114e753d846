"""The Pub/Sub client against Google's Pub/Sub emulator: topics and subscriptions made
once, publishes confirmed (gathered from concurrent callers), a topic the emulator forgot
recreated, and an unreachable Pub/Sub reported within the publish timeout."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from tests.support.aio import run
from variance.clients.pubsub import (
    EventPublisher,
    PublishUnavailable,
    ensure_subscription,
    ensure_topic,
    publisher_client,
    subscriber_client,
)
from variance.core.bus import BusMessage


@pytest.fixture
def settings(emulator, settings_for):
    return settings_for(PUBSUB_EMULATOR_HOST=emulator.emulator_host, VARIANCE_PUBLISH_TIMEOUT="2")


def pull_all(settings, expected: int, timeout_s: float = 30.0) -> list:
    """Pull (and acknowledge) until ``expected`` messages arrived."""
    subscriber = subscriber_client(settings)
    got: list = []
    deadline = time.monotonic() + timeout_s
    while len(got) < expected and time.monotonic() < deadline:
        response = subscriber.pull(subscription=settings.subscription_path, max_messages=100, timeout=10)
        if response.received_messages:
            subscriber.acknowledge(
                subscription=settings.subscription_path, ack_ids=[m.ack_id for m in response.received_messages]
            )
            got.extend(m.message for m in response.received_messages)
    return got


def subscribed(settings) -> None:
    ensure_topic(publisher_client(settings), settings.topic_path)
    ensure_subscription(subscriber_client(settings), settings.subscription_path, settings.topic_path)


def test_topics_and_subscriptions_are_created_once(settings):
    publisher, subscriber = publisher_client(settings), subscriber_client(settings)
    assert ensure_topic(publisher, settings.topic_path) is True
    assert ensure_topic(publisher, settings.topic_path) is False
    assert ensure_subscription(subscriber, settings.subscription_path, settings.topic_path, 30) is True
    assert ensure_subscription(subscriber, settings.subscription_path, settings.topic_path, 30) is False
    found = subscriber.get_subscription(subscription=settings.subscription_path)
    assert (found.topic, found.ack_deadline_seconds) == (settings.topic_path, 30)


def test_concurrent_publishes_are_all_confirmed_and_delivered_with_their_attributes(settings):
    subscribed(settings)
    messages = [BusMessage(f"call {i}".encode(), {"org_id": "org_a", "message_id": f"m{i}"}) for i in range(60)]
    publisher = EventPublisher(settings, max_latency_s=0.02)

    async def publish_concurrently():
        await asyncio.gather(*(publisher.publish(messages[i : i + 3]) for i in range(0, len(messages), 3)))

    try:
        run(publish_concurrently())
    finally:
        publisher.close()
    got = pull_all(settings, len(messages))
    assert sorted((m.data, dict(m.attributes)) for m in got) == sorted((m.data, dict(m.attributes)) for m in messages)


def test_a_topic_and_subscription_the_emulator_forgot_are_created_before_a_publish_is_confirmed(settings):
    """Locally a confirmed publish always has the pipeline's subscription to land in."""
    publisher = EventPublisher(settings)
    try:
        run(publisher.publish([BusMessage(b"first", {"message_id": "m1"})]))  # no topic yet
        ensure_subscription(subscriber_client(settings), settings.subscription_path, settings.topic_path)
        run(publisher.publish([BusMessage(b"second", {"message_id": "m2"})]))
    finally:
        publisher.close()
    assert sorted(m.data for m in pull_all(settings, 2)) == [b"first", b"second"]


def test_an_unreachable_pubsub_is_reported_within_the_publish_timeout(settings_for):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    settings = settings_for(PUBSUB_EMULATOR_HOST=f"127.0.0.1:{port}", VARIANCE_PUBLISH_TIMEOUT="1")
    publisher = EventPublisher(settings)
    started = time.monotonic()
    try:
        with pytest.raises(PublishUnavailable):
            run(publisher.publish([BusMessage(b"lost?", {"message_id": "m1"})]))
    finally:
        publisher.close()
    assert time.monotonic() - started < 10  # not the client's default of 600 s
