"""When Pub/Sub is down the API says so (503) within seconds, and nothing it accepted
is lost; when the emulator comes back empty, the API recreates its topic and the
pipeline's subscription before it confirms a publish (locally only: on Google Cloud
Terraform owns both), so nothing it confirmed falls into a topic without subscription."""

from __future__ import annotations

import base64
import time
import uuid

import httpx
import pytest

from variance.clients.pubsub import ensure_subscription, ensure_topic, publisher_client, subscriber_client
from variance.core.settings import Settings
from variance.samples.workspace import Workspace
from variance.stack.local import LocalStack

pytestmark = pytest.mark.slow


def _subscribe(settings: Settings):
    ensure_topic(publisher_client(settings), settings.topic_path)
    subscriber = subscriber_client(settings)
    ensure_subscription(subscriber, settings.subscription_path, settings.topic_path)
    return subscriber


def _drain(subscriber, settings: Settings, expected: int) -> set[str]:
    ids: set[str] = set()
    deadline = time.monotonic() + 20
    while len(ids) < expected and time.monotonic() < deadline:
        response = subscriber.pull(subscription=settings.subscription_path, max_messages=100, timeout=5)
        if response.received_messages:
            subscriber.acknowledge(
                subscription=settings.subscription_path, ack_ids=[m.ack_id for m in response.received_messages]
            )
            ids.update(m.message.attributes["message_id"] for m in response.received_messages)
    return ids


def test_outage_gives_503_fast_and_loses_nothing_accepted(tmp_path, figures):
    env = {"VARIANCE_EVENTS_SUBSCRIPTION": f"check-{uuid.uuid4().hex[:8]}", "VARIANCE_PUBLISH_TIMEOUT": "2"}
    with LocalStack(tmp_path, env=env) as stack:
        emulator = stack.start_emulator()
        settings = Settings(**stack.env)
        api = stack.start_api()
        conn = Workspace.create(stack.env, "Acme").add_connection("web", mapping="group")
        auth = {"Authorization": "Basic " + base64.b64encode(f"{conn['secret']}:".encode()).decode()}
        subscriber = _subscribe(settings)

        def send(message_id: str) -> httpx.Response:
            body = {"batch": [{"type": "track", "userId": "u", "event": "E", "messageId": message_id}]}
            return httpx.post(api.url + "/v1/batch", json=body, headers=auth, timeout=30)

        accepted = {f"before-{i}" for i in range(20) if send(f"before-{i}").status_code == 200}
        assert len(accepted) == 20
        assert _drain(subscriber, settings, 20) == accepted

        emulator.stop()
        started = time.monotonic()
        response = send("during-outage")
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "unavailable"
        assert elapsed < 6, f"the API took {elapsed:.1f} s to give up"

        # The emulator restarts empty: no topic, no subscription. Someone else (the
        # pipeline, whose first step is the topic) recreates the topic only: a publish
        # that merely finds the topic would land where no subscription keeps it.
        stack.start_emulator(emulator.port)  # the same port, empty
        ensure_topic(publisher_client(settings), settings.topic_path)
        deadline = time.monotonic() + 15
        first_after = None
        while time.monotonic() < deadline:
            first_after = send("first-after-restart")
            if first_after.status_code == 200:
                break
            time.sleep(0.5)
        assert first_after is not None and first_after.status_code == 200, first_after.text
        subscriber = subscriber_client(settings)
        subscriptions = [
            s.name for s in subscriber.list_subscriptions(project=f"projects/{settings.google_cloud_project}")
        ]
        assert settings.subscription_path in subscriptions, "the API confirmed before the subscription existed"

        after = {f"after-{i}" for i in range(20) if send(f"after-{i}").status_code == 200}
        assert len(after) == 20
        received = _drain(subscriber, settings, 21)
        confirmed = accepted | after | {"first-after-restart"}
        figures(
            sent=len(confirmed) + 1,
            confirmed=len(confirmed),
            first_503_s=f"{elapsed:.1f}",
            lost=len(confirmed - received - accepted),
        )
        assert received == after | {"first-after-restart"}

        # Empty again, and no request sees it go: the next publish finds the topic gone
        # (or the channel broken) and recreates topic and subscription before confirming.
        stack.emulator.stop()
        stack.start_emulator(emulator.port)
        response = wait_for_ok(lambda: send("after-second-restart"))
        assert response.status_code == 200, response.text
        assert _drain(subscriber_client(settings), settings, 1) == {"after-second-restart"}
    assert "Traceback" not in api.log()


def wait_for_ok(send, timeout: float = 15) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = send()
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)
