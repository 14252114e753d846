"""A durable Pub/Sub read for Beam's local streaming runner.

Beam's own local ``ReadFromPubSub`` acknowledges messages when it pulls them, before
they are processed, so a crash loses what was in flight. This source does not ack: it
hands each message's ack id downstream, and the warehouse sink acknowledges only once
the message's rows are durable. While messages are in flight their ack deadlines are
extended, so Pub/Sub does not redeliver work that is merely slow.

It plugs into the local runner as a native evaluator (the mechanism the runner uses for
its own Pub/Sub read; splittable DoFns and PeriodicImpulse do not work on that runner
in Beam 2.77). The watermark is the wall clock at each pull, as with Beam's read.
"""

from __future__ import annotations

import logging
import threading
import time

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.runners.direct.transform_evaluator import TransformEvaluatorRegistry, _TransformEvaluator
from apache_beam.runners.direct.util import TransformResult
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.timestamp import Timestamp
from google.api_core import exceptions as gexc

from variance.clients.pubsub import ensure_subscription, ensure_topic, publisher_client, subscriber_client
from variance.core import bus
from variance.core.settings import Settings
from variance.core.timeutil import TimestampError, parse_timestamp, to_micros
from variance.pipelines import progress
from variance.transforms.messages import ReceivedMessage

log = logging.getLogger(__name__)


class Lease:
    """The subscription's client and the ack ids in flight, shared by the source (which
    adds them) and the sink (which acknowledges them). One per subscription per process."""

    # The source's evaluator and the lake writer's acknowledgements are separate objects on
    # the local runner that must share the ack ids in flight: one lease per subscription.
    _instances: dict[str, Lease] = {}
    _lock = threading.Lock()

    def __init__(self, settings: Settings):
        self.settings = settings
        self.subscription = settings.subscription_path
        self.client = subscriber_client(settings)
        self._in_flight: dict[str, float] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._extend_forever, name="pubsub-lease", daemon=True)
        self._thread.start()

    @classmethod
    def of(cls, settings: Settings) -> Lease:
        with cls._lock:
            lease = cls._instances.get(settings.subscription_path)
            if lease is None:
                lease = cls._instances[settings.subscription_path] = cls(settings)
            return lease

    def ensure_subscription(self) -> None:
        """Create the topic and subscription if missing (the emulator forgets them on restart)."""
        created_topic = ensure_topic(publisher_client(self.settings), self.settings.topic_path)
        created = ensure_subscription(
            self.client, self.subscription, self.settings.topic_path, self.settings.ack_deadline_s
        )
        if created and self.settings.uses_emulator:
            log.warning(
                "created subscription %s%s; anything published while no subscription existed is gone "
                "(the emulator keeps no messages for a topic without subscriptions)",
                self.subscription,
                " and its topic" if created_topic else "",
            )

    def pull(self, max_messages: int):
        try:
            response = self.client.pull(
                subscription=self.subscription, max_messages=max_messages, return_immediately=True, timeout=10
            )
        except gexc.NotFound:
            self.ensure_subscription()
            return []
        except (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.RetryError) as exc:
            log.warning("Pub/Sub pull failed (%s); retrying", type(exc).__name__)
            time.sleep(1)
            return []
        # The protobuf messages themselves, not proto-plus's wrappers: reading a field
        # through a wrapper converts it on every access (about 6% of the local pipeline's CPU).
        received = list(type(response).pb(response).received_messages)
        now = time.monotonic()
        with self._guard:
            for item in received:
                self._in_flight[item.ack_id] = now
        return received

    def acknowledge(self, ack_ids: list[str]) -> None:
        if not ack_ids:
            return
        for start in range(0, len(ack_ids), 1000):
            chunk = ack_ids[start : start + 1000]
            try:
                self.client.acknowledge(subscription=self.subscription, ack_ids=chunk)
            except gexc.GoogleAPICallError as exc:
                # Not acknowledged means redelivered: the rows are durable and keyed, so
                # the redelivery is recognised and skipped.
                log.warning("acknowledging %d messages failed (%s); they will be redelivered", len(chunk), exc)
        with self._guard:
            for ack_id in ack_ids:
                self._in_flight.pop(ack_id, None)
        progress.add("acked", len(ack_ids))

    def in_flight(self) -> int:
        with self._guard:
            return len(self._in_flight)

    def _extend_forever(self) -> None:
        while not self._stop.wait(self.settings.ack_deadline_s / 4):
            with self._guard:
                ack_ids = list(self._in_flight)
            for start in range(0, len(ack_ids), 1000):
                try:
                    self.client.modify_ack_deadline(
                        subscription=self.subscription,
                        ack_ids=ack_ids[start : start + 1000],
                        ack_deadline_seconds=self.settings.ack_deadline_s,
                    )
                except gexc.GoogleAPICallError as exc:
                    log.warning("extending ack deadlines failed (%s)", exc)

    def close(self) -> None:
        self._stop.set()

    def release(self) -> int:
        """Hand back every message still in flight (ack deadline 0), for a stop that has
        flushed what it could: Pub/Sub redelivers them at once instead of after the
        deadline its last extension set. Their rows are not all durable, or they would
        have been acknowledged; any that are, the next start recognises and skips."""
        self.close()
        with self._guard:
            ack_ids = list(self._in_flight)
            self._in_flight.clear()
        for start in range(0, len(ack_ids), 1000):
            chunk = ack_ids[start : start + 1000]
            try:
                self.client.modify_ack_deadline(subscription=self.subscription, ack_ids=chunk, ack_deadline_seconds=0)
            except gexc.GoogleAPICallError as exc:
                log.warning("handing back %d messages failed (%s); they return after their deadline", len(chunk), exc)
        return len(ack_ids)


@beam.typehints.with_output_types(ReceivedMessage)
class ReadDurablyFromPubSub(beam.PTransform):
    """Unbounded ReceivedMessage elements (with ack ids), timestamped by ``event_time``."""

    def __init__(self, settings: Settings, max_messages: int = 500, idle_sleep_s: float = 0.05):
        super().__init__()
        self.settings = settings
        self.max_messages = max_messages
        self.idle_sleep_s = idle_sleep_s

    def get_windowing(self, unused_inputs):
        return beam.Windowing(GlobalWindows())

    def expand(self, pbegin):
        return pvalue.PCollection(pbegin.pipeline, is_bounded=False)


def _timestamp(attributes: dict) -> Timestamp:
    try:
        return Timestamp(micros=to_micros(parse_timestamp(attributes.get(bus.EVENT_TIME, ""))))
    except TimestampError:
        return Timestamp.now()  # parse sends it to dead letters; any time will do


class _DurablePullEvaluator(_TransformEvaluator):
    def start_bundle(self):
        pass

    def process_element(self, element):
        pass

    def finish_bundle(self):
        source = self._applied_ptransform.transform
        if not isinstance(source, ReadDurablyFromPubSub):  # registered for that transform only
            raise TypeError(f"{type(self).__name__} evaluates ReadDurablyFromPubSub, not {source!r}")
        lease = Lease.of(source.settings)
        received = lease.pull(source.max_messages)
        # Pub/Sub answers a pull with at most one publish batch or so (100 messages from
        # the emulator), and every bundle costs each step a fixed start (measured: about
        # half the pipeline's CPU at 100 messages a bundle). What is already waiting is
        # read into this bundle, so a backlog makes big bundles; a quiet subscription
        # answers the second pull with nothing, so latency does not change.
        while received and len(received) < source.max_messages:
            more = lease.pull(source.max_messages - len(received))
            if not more:
                break
            received += more
        bundles = []
        if received:
            bundle = self._evaluation_context.create_bundle(next(iter(self._outputs)))
            for item in received:
                attributes = dict(item.message.attributes)
                message = ReceivedMessage(item.message.data, attributes, item.ack_id)
                bundle.output(GlobalWindows.windowed_value(message, timestamp=_timestamp(attributes)))
            bundles.append(bundle)
            progress.add("received", len(received))
        else:
            time.sleep(source.idle_sleep_s)
        if source.pipeline is None:  # set when the transform was applied
            raise RuntimeError("ReadDurablyFromPubSub runs only once applied to a pipeline")
        again = self._evaluation_context.create_bundle(pvalue.PBegin(source.pipeline))
        return TransformResult(self, bundles, [again], None, {None: Timestamp.now()})


TransformEvaluatorRegistry._test_evaluators_overrides[ReadDurablyFromPubSub] = _DurablePullEvaluator
