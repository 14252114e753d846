"""The local runner's durable Pub/Sub read, against Google's Pub/Sub emulator: messages come
with their ack ids and event times and stay unacknowledged (in flight, their deadlines
extended) until the sink acknowledges them; a subscription the emulator forgot is made again."""

from __future__ import annotations

import threading
import time
import uuid

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from tests.support.waiting import wait_for
from variance.clients.pubsub import ensure_subscription, ensure_topic, publisher_client, subscriber_client
from variance.core import bus
from variance.core.timeutil import parse_timestamp, to_micros
from variance.pipelines.sources.local_pubsub import Lease, ReadDurablyFromPubSub


@pytest.fixture
def settings(emulator, settings_for):
    made = settings_for(PUBSUB_EMULATOR_HOST=emulator.emulator_host, VARIANCE_ACK_DEADLINE="10")
    yield made
    Lease.of(made).close()


def publish(settings, *messages: tuple[bytes, dict]) -> None:
    publisher = publisher_client(settings)
    for data, attributes in messages:
        publisher.publish(settings.topic_path, data, **attributes).result(timeout=30)


def test_a_lease_creates_what_is_missing_and_holds_messages_until_acknowledged(settings):
    lease = Lease.of(settings)
    assert Lease.of(settings) is lease  # one per subscription per process
    assert lease.pull(10) == []  # no subscription yet: made, nothing to read
    publish(settings, (b"one", {bus.MESSAGE_ID: "m1"}), (b"two", {bus.MESSAGE_ID: "m2"}))
    received: list = []
    wait_for(lambda: received.extend(lease.pull(10)) or len(received) == 2, what="both published messages")
    assert sorted(r.message.data for r in received) == [b"one", b"two"]
    assert lease.in_flight() == 2
    lease.acknowledge([r.ack_id for r in received])
    assert lease.in_flight() == 0
    assert lease.pull(10) == []  # acknowledged: gone


def test_messages_in_flight_keep_their_lease_past_the_ack_deadline(settings):
    lease = Lease.of(settings)
    lease.ensure_subscription()
    publish(settings, (b"slow", {bus.MESSAGE_ID: "m1"}))
    [received] = wait_for(lambda: lease.pull(10), what="the message")
    # Past the 10 s deadline, the lease has extended it: no redelivery to another reader.
    other = subscriber_client(settings)
    deadline = time.monotonic() + 13
    while time.monotonic() < deadline:
        redelivered = other.pull(subscription=settings.subscription_path, max_messages=10, timeout=5)
        assert list(redelivered.received_messages) == []
        time.sleep(1)
    lease.acknowledge([received.ack_id])


def test_a_released_lease_hands_its_messages_back_at_once(settings):
    lease = Lease.of(settings)
    lease.ensure_subscription()
    publish(settings, (b"one", {bus.MESSAGE_ID: "m1"}), (b"two", {bus.MESSAGE_ID: "m2"}))
    received: list = []
    wait_for(lambda: received.extend(lease.pull(10)) or len(received) == 2, what="both published messages")
    lease.acknowledge([received[0].ack_id])
    released_at = time.monotonic()
    assert lease.release() == 1
    assert lease.in_flight() == 0
    other = subscriber_client(settings)
    [again] = wait_for(
        lambda: list(other.pull(subscription=settings.subscription_path, max_messages=10, timeout=5).received_messages),
        timeout=6,  # the last extension set 10 s, at most 2.5 s ago: handed back, not expired
        what="the unacknowledged message, redelivered",
    )
    assert time.monotonic() - released_at < 6
    assert again.message.data == received[1].message.data
    other.acknowledge(subscription=settings.subscription_path, ack_ids=[again.ack_id])


_COLLECTED: dict[str, list] = {}
_GUARD = threading.Lock()


class _Collect(beam.DoFn):
    def __init__(self, token: str):
        self.token = token

    def process(self, message, timestamp=beam.DoFn.TimestampParam):
        with _GUARD:
            _COLLECTED.setdefault(self.token, []).append((message, timestamp.micros))


def test_the_read_emits_messages_with_ack_ids_at_their_event_time_and_does_not_ack(settings):
    ensure_topic(publisher_client(settings), settings.topic_path)
    ensure_subscription(subscriber_client(settings), settings.subscription_path, settings.topic_path)
    stamp = "2024-05-01T10:00:00.000Z"
    publish(
        settings,
        (b'{"n":1}', {bus.MESSAGE_ID: "m1", bus.EVENT_TIME: stamp}),
        (b'{"n":2}', {bus.MESSAGE_ID: "m2", bus.EVENT_TIME: "not a time"}),
    )
    token = uuid.uuid4().hex
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    p = beam.Pipeline(runner="BundleBasedDirectRunner", options=options)
    p | ReadDurablyFromPubSub(settings) | beam.ParDo(_Collect(token))
    started = time.time()
    result = p.run()
    try:
        collected = wait_for(lambda: len(_COLLECTED.get(token, [])) >= 2 and _COLLECTED[token], what="two messages")
    finally:
        result.cancel()
    by_id = {message.attributes[bus.MESSAGE_ID]: (message, micros) for message, micros in collected}
    first, first_time = by_id["m1"]
    assert (first.data, first.attributes[bus.EVENT_TIME]) == (b'{"n":1}', stamp)
    assert first.ack_id and first_time == to_micros(parse_timestamp(stamp))
    second, second_time = by_id["m2"]
    assert second_time >= int(started * 1_000_000)  # no event time: parse dead-letters it, any time will do
    # Not acknowledged by the read: the lake writer does that once the rows are durable.
    assert Lease.of(settings).in_flight() == 2
    Lease.of(settings).acknowledge([first.ack_id, second.ack_id])


class _BundleSizes(beam.DoFn):
    def __init__(self, token: str):
        self.token = token

    def start_bundle(self):
        self.size = 0

    def process(self, message):
        self.size += 1

    def finish_bundle(self):
        if self.size:
            with _GUARD:
                _COLLECTED.setdefault(self.token, []).append(self.size)


def test_a_backlog_is_read_into_bundles_as_large_as_max_messages(settings):
    """The emulator answers a pull with part of a backlog (a hundred messages here); it is read by
    pulling again until the bundle holds ``max_messages`` or nothing is left, because every
    bundle costs each step a fixed start."""
    lease = Lease.of(settings)
    lease.ensure_subscription()
    publisher = publisher_client(settings)
    futures = [publisher.publish(settings.topic_path, b"{}", **{bus.MESSAGE_ID: f"m{i}"}) for i in range(350)]
    for future in futures:
        future.result(timeout=30)
    token = uuid.uuid4().hex
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    p = beam.Pipeline(runner="BundleBasedDirectRunner", options=options)
    p | ReadDurablyFromPubSub(settings, max_messages=300) | beam.ParDo(_BundleSizes(token))
    result = p.run()
    try:
        sizes = wait_for(lambda: sum(_COLLECTED.get(token, [])) >= 350 and _COLLECTED[token], what="350 messages")
    finally:
        result.cancel()
    assert sizes[0] == 300 and sum(sizes) == 350
