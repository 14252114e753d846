"""``make demo``: the local stack end to end on sample data.

Starts Google's Pub/Sub emulator and the API on free ports, creates an organisation
and a connection with the CLI's own functions, sends sample events with Segment's
Python library, shows what reached Pub/Sub, and stops everything it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def main() -> int:
    from segment.analytics import Client

    from variance.core.settings import Settings
    from variance.emulator import EmulatorError, free_port, start_emulator
    from variance.pubsub import ensure_subscription, ensure_topic, publisher_client, subscriber_client
    from variance.samples import sample_calls

    workdir = Path(tempfile.mkdtemp(prefix="variance-demo-"))
    step(f"Starting Google's Pub/Sub emulator (logs in {workdir})")
    try:
        emulator = start_emulator(free_port(), log_path=workdir / "emulator.log")
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    env = {
        **os.environ,
        "PUBSUB_EMULATOR_HOST": emulator.emulator_host,
        "VARIANCE_DATA_DIR": str(workdir / "data"),
    }
    api = None
    try:
        print(f"    emulator pid {emulator.pid} on {emulator.emulator_host}")
        settings = Settings(**{k: v for k, v in env.items() if k.startswith(("VARIANCE_", "PUBSUB_"))})
        ensure_topic(publisher_client(settings), settings.topic_path)
        subscriber = subscriber_client(settings)
        ensure_subscription(subscriber, settings.subscription_path, settings.topic_path)

        step("Creating an organisation and a Segment connection (variance orgs/connections create)")
        cli = [sys.executable, "-m", "variance"]
        org = json.loads(
            subprocess.run(
                [*cli, "orgs", "create", "Demo Co"], env=env, check=True, capture_output=True, text=True
            ).stdout
        )
        connection = json.loads(
            subprocess.run(
                [*cli, "connections", "create", "--org", org["org_id"], "--name", "web app", "--mapping", "group"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        print(f"    org {org['org_id']}, connection {connection['id']} ({connection['name']})")

        step("Starting the API (variance api)")
        port = free_port()
        api_log = open(workdir / "api.log", "wb")  # noqa: SIM115 - handed to the child
        api = subprocess.Popen(
            [*cli, "api", "--port", str(port)],
            env=env,
            stdout=api_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(f"    API pid {api.pid} on {url}")

        calls = sample_calls()
        step(f"Sending {len(calls)} sample calls with Segment's Python library (host={url})")
        errors: list = []
        client = Client(
            write_key=connection["secret"], host=url, sync_mode=True, on_error=lambda e, b: errors.append(e)
        )
        for call in calls:
            kind = call.pop("type")
            common = {
                "timestamp": _parse(call.pop("timestamp")),
                "message_id": call.pop("messageId"),
                "context": call.pop("context", None),
            }
            if kind == "identify":
                client.identify(user_id=call["userId"], traits=call["traits"], **common)
            elif kind == "group":
                client.group(user_id=call["userId"], group_id=call["groupId"], traits=call["traits"], **common)
            elif kind == "track":
                client.track(user_id=call["userId"], event=call["event"], properties=call["properties"], **common)
            else:
                client.page(user_id=call["userId"], name=call["name"], properties=call["properties"], **common)
        client.flush()
        if errors:
            print(f"error: the API refused calls: {errors[0]}", file=sys.stderr)
            return 1

        step("Reading what arrived on Pub/Sub")
        received = []
        deadline = time.monotonic() + 30
        while len(received) < len(calls) and time.monotonic() < deadline:
            response = subscriber.pull(subscription=settings.subscription_path, max_messages=100, timeout=5)
            if response.received_messages:
                subscriber.acknowledge(
                    subscription=settings.subscription_path, ack_ids=[m.ack_id for m in response.received_messages]
                )
                received.extend(m.message for m in response.received_messages)
        by_type = Counter(m.attributes["type"] for m in received)
        print(
            f"    {len(received)} of {len(calls)} messages: "
            + ", ".join(f"{n} {t}" for t, n in sorted(by_type.items()))
        )
        example = next(m for m in received if m.attributes["type"] == "track")
        print("    one message's attributes: " + json.dumps(dict(example.attributes), sort_keys=True))
        print("    and its data: " + example.data.decode()[:300])
        return 0 if len(received) == len(calls) else 1
    finally:
        step("Stopping the local stack")
        if api is not None and api.poll() is None:
            os.killpg(api.pid, signal.SIGTERM)
            api.wait(15)
        emulator.stop()
        print("    stopped the API and the emulator")


def _parse(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


if __name__ == "__main__":
    sys.exit(main())
