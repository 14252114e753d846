"""Google Pub/Sub, through the real ``google-cloud-pubsub`` client, for the emulator
and for Google Cloud alike. The rest of the code depends on this module only.

Publishing is tuned for an HTTP API that must answer quickly and truthfully:
- the client's batching gathers messages from concurrent requests into shared RPCs;
- every publish carries a ``Retry`` with a short deadline, because the default keeps
  retrying for 600 s when Pub/Sub is down, and we would rather answer 503 in seconds;
- gRPC's reconnect backoff is capped, so after an outage publishing resumes within
  about a second instead of after a backoff that grows toward two minutes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

import grpc
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from variance.core.bus import BusMessage
from variance.core.settings import Settings

log = logging.getLogger(__name__)

_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.max_send_message_length", 20 * 1024 * 1024),
    ("grpc.max_receive_message_length", 20 * 1024 * 1024),
]
_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.Aborted,
    gexc.ResourceExhausted,
    gexc.Unknown,
)


# Admin calls (create topic/subscription) give up within seconds instead of the
# client's default of a minute, so a caller can report an unreachable Pub/Sub.
_ADMIN_RETRY = Retry(predicate=if_exception_type(*_TRANSIENT), initial=0.1, maximum=1.0, timeout=5.0)


class PublishUnavailable(RuntimeError):
    """Pub/Sub did not confirm in time; the caller should answer 503 so the sender retries."""


def _channel(settings: Settings, transport_cls: type) -> grpc.Channel:
    if settings.pubsub_emulator_host:
        return grpc.insecure_channel(settings.pubsub_emulator_host, options=_CHANNEL_OPTIONS)
    return transport_cls.create_channel(options=_CHANNEL_OPTIONS)


def publisher_client(settings: Settings, batch_settings: pubsub_v1.types.BatchSettings | None = None):
    transport = PublisherGrpcTransport(channel=_channel(settings, PublisherGrpcTransport))
    kwargs = {"transport": transport}
    return pubsub_v1.PublisherClient(batch_settings or pubsub_v1.types.BatchSettings(), **kwargs)


def subscriber_client(settings: Settings) -> pubsub_v1.SubscriberClient:
    transport = SubscriberGrpcTransport(channel=_channel(settings, SubscriberGrpcTransport))
    return pubsub_v1.SubscriberClient(transport=transport)


def ensure_topic(client: pubsub_v1.PublisherClient, topic_path: str) -> bool:
    """Create the topic if missing; True when it was created."""
    try:
        client.create_topic(name=topic_path, retry=_ADMIN_RETRY, timeout=5)
        return True
    except gexc.AlreadyExists:
        return False


def ensure_subscription(
    client: pubsub_v1.SubscriberClient, subscription_path: str, topic_path: str, ack_deadline_s: int = 60
) -> bool:
    """Create the subscription if missing; True when it was created."""
    try:
        client.create_subscription(
            name=subscription_path,
            topic=topic_path,
            ack_deadline_seconds=ack_deadline_s,
            retry=_ADMIN_RETRY,
            timeout=5,
        )
        return True
    except gexc.AlreadyExists:
        return False


class EventPublisher:
    """Publishes bus messages and reports success only once Pub/Sub confirmed all of them."""

    def __init__(self, settings: Settings, *, timeout_s: float | None = None, max_latency_s: float = 0.005):
        self._settings = settings
        self._timeout = timeout_s or settings.publish_timeout_s
        self._topic = settings.topic_path
        # Up to 5 ms of waiting lets concurrent requests share one RPC; a batch of up
        # to 1000 messages or 4 MB goes out at once.
        self._client = publisher_client(
            settings,
            pubsub_v1.types.BatchSettings(max_messages=1000, max_bytes=4 * 1024 * 1024, max_latency=max_latency_s),
        )
        self._retry = Retry(
            predicate=if_exception_type(*_TRANSIENT), initial=0.1, maximum=1.0, multiplier=2.0, timeout=self._timeout
        )

    @property
    def topic_path(self) -> str:
        return self._topic

    def ensure_topic(self) -> bool:
        created = ensure_topic(self._client, self._topic)
        if created:
            log.info("created Pub/Sub topic %s", self._topic)
        return created

    async def publish(self, messages: Sequence[BusMessage]) -> None:
        """Publish all messages; raise PublishUnavailable unless every one is confirmed."""
        if not messages:
            return
        try:
            await self._publish_once(messages)
        except gexc.NotFound:
            # The emulator keeps topics in memory: after a restart it comes back empty.
            # On Google Cloud the topic is Terraform's, and a missing one is an outage.
            if not self._settings.uses_emulator:
                raise PublishUnavailable(f"Pub/Sub topic {self._topic} does not exist") from None
            await asyncio.to_thread(self.ensure_topic)
            await self._publish_once(messages)

    async def _publish_once(self, messages: Sequence[BusMessage]) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[BaseException | None] = loop.create_future()
        remaining = len(messages)
        lock = threading.Lock()

        # One asyncio wake-up per request, not one per message: the client's futures
        # complete on its own threads, and the last one (or the first failure) hands
        # the outcome to the event loop.
        def settle(outcome: BaseException | None) -> None:
            if not done.done():
                done.set_result(outcome)

        def on_done(future) -> None:
            nonlocal remaining
            error = future.exception()
            with lock:
                remaining -= 1
                last = remaining == 0
            if error is not None or last:
                loop.call_soon_threadsafe(settle, error)

        futures = []
        for m in messages:
            future = self._client.publish(self._topic, m.data, retry=self._retry, timeout=self._timeout, **m.attributes)
            futures.append(future)
            future.add_done_callback(on_done)
        try:
            error = await asyncio.wait_for(done, timeout=self._timeout + 1)
        except (TimeoutError, asyncio.TimeoutError):
            error = TimeoutError("no confirmation in time")
        if error is None:
            return
        for future in futures:
            future.cancel()
        if isinstance(error, gexc.NotFound):
            raise error
        raise PublishUnavailable(f"Pub/Sub did not confirm the publish: {type(error).__name__}")

    def close(self) -> None:
        try:
            self._client.stop()
        except Exception:
            log.debug("publisher stop failed", exc_info=True)
