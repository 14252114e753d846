"""Google Pub/Sub, through the real ``google-cloud-pubsub`` client, for the emulator
and for Google Cloud alike. The rest of the code depends on this module only.

Publishing is tuned for an HTTP API that must answer quickly and truthfully:
- messages from concurrent requests are gathered into shared Publish RPCs (see EventPublisher);
- every publish carries a ``Retry`` with a short deadline, because the default keeps
  retrying for 600 s when Pub/Sub is down, and we would rather answer 503 in seconds;
- gRPC's reconnect backoff is capped, so after an outage publishing resumes within
  about a second instead of after a backoff that grows toward two minutes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import grpc
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.cloud import pubsub_v1
from google.pubsub_v1 import types as pubsub_types
from google.pubsub_v1.services.publisher.client import PublisherClient as GapicPublisherClient
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
    """Publishes bus messages and reports success only once Pub/Sub confirmed all of them.

    Messages from concurrent requests are gathered for up to ``max_latency_s`` (or 1,000
    messages) and sent in one Publish RPC, so no request waits for a round trip of its
    own. We batch here rather than through ``PublisherClient.publish``: that path spends
    about 100 µs of Python per message (proto-plus wrappers, a future and a lock each),
    which capped ingestion at a fifth of what the API can accept; building the protobufs
    ourselves and calling the client's Publish RPC costs a few µs per message.
    """

    def __init__(self, settings: Settings, *, timeout_s: float | None = None, max_latency_s: float = 0.005):
        self._settings = settings
        self._timeout = timeout_s or settings.publish_timeout_s
        self._topic = settings.topic_path
        self._client = publisher_client(settings)
        self._retry = Retry(
            predicate=if_exception_type(*_TRANSIENT), initial=0.1, maximum=1.0, multiplier=2.0, timeout=self._timeout
        )
        self._max_latency = max_latency_s
        self._max_messages = 1000
        self._pending: list = []
        self._waiters: asyncio.Future | None = None
        self._flush_handle: asyncio.TimerHandle | None = None

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
        if self._waiters is None:
            self._waiters = loop.create_future()
            self._flush_handle = loop.call_later(self._max_latency, self._flush)
        batch = self._waiters
        self._pending.extend(_PB_MESSAGE(data=m.data, attributes=m.attributes) for m in messages)
        if len(self._pending) >= self._max_messages:
            self._flush()
        try:
            await asyncio.wait_for(asyncio.shield(batch), timeout=self._timeout + 1)
        except (TimeoutError, asyncio.TimeoutError):
            raise PublishUnavailable("Pub/Sub did not confirm the publish in time") from None

    def _flush(self) -> None:
        """Send what is pending as one Publish RPC (on a thread) and settle its waiters."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        pending, waiters = self._pending, self._waiters
        self._pending, self._waiters, self._flush_handle = [], None, None
        if waiters is None:
            return
        request = _PB_REQUEST(topic=self._topic, messages=pending)
        task = asyncio.ensure_future(asyncio.to_thread(self._send, request))

        def settle(done: asyncio.Future) -> None:
            if waiters.done():
                return
            error = done.exception()
            if error is None:
                waiters.set_result(None)
            elif isinstance(error, gexc.NotFound):
                waiters.set_exception(error)
            else:
                waiters.set_exception(
                    PublishUnavailable(f"Pub/Sub did not confirm the publish: {type(error).__name__}")
                )

        task.add_done_callback(settle)

    def _send(self, request) -> None:
        _GAPIC_PUBLISH(self._client, request=_WRAP_REQUEST(request), retry=self._retry, timeout=self._timeout)

    def close(self) -> None:
        try:
            self._client.stop()
        except Exception:
            log.debug("publisher stop failed", exc_info=True)


# The raw protobuf types and the client's Publish RPC (what its own batches call).
_PB_MESSAGE = pubsub_types.PubsubMessage.pb()
_PB_REQUEST = pubsub_types.PublishRequest.pb()
_WRAP_REQUEST = pubsub_types.PublishRequest.wrap
_GAPIC_PUBLISH = GapicPublisherClient.publish
