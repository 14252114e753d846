"""The Pub/Sub emulator stopped and restarted empty while Segment's Python and Node
libraries send: the API answers 503 within seconds, both libraries retry on their own,
and every call arrives in the warehouse once.

The issue's outage is about 30 s; here it is about 12 s, which is still several retries
of each library (their backoffs start under a second and double), so what is shown is
the same: the retries, not the length, matter.

The libraries' own limits (read from their installed source):

- ``segment-analytics-python`` 2.4.0, default (asynchronous) mode: calls wait in an
  in-memory queue of ``max_queue_size`` = 10,000 (a call beyond it is dropped with a
  warning). Our 503 carries ``Retry-After: 1``, which the library treats as rate
  limiting: the batch is put back and retried after a second, uncounted, for at most
  ``max_rate_limit_duration`` = 1,800 s, then dropped. Errors without ``Retry-After``
  (connection refused, a timeout) get ``max_retries`` = 10 counted retries with backoff
  0, 0.5, 1, 2 ... s capped at 60 s (about 4 minutes in all), then the batch is dropped.
  ``sync_mode`` does not retry at all.
- ``@segment/analytics-node`` 3.1.0: a 5xx is retried ``maxRetries`` = 10 times with
  backoff 0.5 s x 2^n x (1 to 2), capped at 60 s (about 6 to 10 minutes in all;
  ``Retry-After`` is honoured on 429 only), then the batch is dropped and an ``error``
  event emitted.

So an outage longer than about 4 minutes loses connection-level failures of the Python
library and, after 6 to 10 minutes, the Node library's batches; beyond 30 minutes the
Python library drops what got 503. Both keep the calls in memory only: a sender that
exits during the outage loses what it had queued.

The emulator keeps messages in memory: what it held unpulled when it stopped is gone with
it (Google's Pub/Sub keeps it). So the emulator is stopped when the pipeline has drained
what came before, and what is asserted is that nothing sent during and after the outage,
which the API confirmed only once topic and subscription existed again, is lost.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from segment.analytics import Client

from tests.reliability.lake_counts import duplicated_rows
from tests.support.waiting import wait_for
from variance.core.vocabulary import WarehouseTable
from variance.samples.workspace import Workspace
from variance.stack.local import LocalStack
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow
EVENTS = WarehouseTable.events.value
ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / ".venv" / "npm" / "node_modules"
NODE_SENDER = Path(__file__).with_name("segment_node_send.js")
RESTART_AFTER_S = 8  # then the JVM takes a few seconds to listen: about 12 s down in all


def _node_sender(host: str, write_key: str, prefix: str, count: int, per_second: float) -> subprocess.Popen:
    if not (NODE_MODULES / "@segment" / "analytics-node").is_dir():
        pytest.fail("Segment's Node library is missing: `make test` installs it into .venv/npm (needs npm)")
    return subprocess.Popen(
        ["node", str(NODE_SENDER), host, write_key, prefix, str(count), str(per_second)],
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class PythonSender(threading.Thread):
    """Segment's Python library in its default asynchronous mode, sending ``count`` calls."""

    def __init__(self, client: Client, prefix: str, count: int, per_second: float):
        super().__init__(daemon=True)
        self.client, self.prefix, self.count, self.every = client, prefix, count, 1 / per_second
        self.sent: list[str] = []

    def run(self) -> None:
        started = time.monotonic()
        for n in range(self.count):
            message_id = f"{self.prefix}-{n}"
            self.client.track(
                user_id=f"py-user-{n % 5}", event="Invited User", properties={"n": n}, message_id=message_id
            )
            self.sent.append(message_id)
            time.sleep(max(0.0, started + (n + 1) * self.every - time.monotonic()))


def test_emulator_restarted_empty_while_python_and_node_libraries_send(tmp_path, figures):
    env = {"VARIANCE_PUBLISH_TIMEOUT": "2", "VARIANCE_ACK_DEADLINE": "10"}
    started = time.monotonic()
    with LocalStack(tmp_path, env=env) as stack:
        emulator = stack.start_emulator()
        workspace = Workspace.create(stack.env, "Acme")
        secret = workspace.add_connection("web", mapping="group")["secret"]
        api = stack.start_api()
        pipeline = stack.start_pipeline()
        ready_s = time.monotonic() - started
        dropped: list[str] = []
        client = Client(
            write_key=secret,
            host=api.url,
            upload_size=10,
            upload_interval=0.2,
            on_error=lambda _error, batch: dropped.extend(m["messageId"] for m in batch),
        )

        before = PythonSender(client, "py-before", 20, 20)
        before.run()
        client.flush()
        reader = LakeReader(stack.lake_dir)
        wait_for(lambda: len(reader.current(EVENTS)) >= 20, timeout=60, what="the calls before the outage", every=0.5)
        pipeline.wait_until_drained()

        emulator.stop()
        down_at = time.monotonic()
        auth = {"Authorization": "Basic " + base64.b64encode(f"{secret}:".encode()).decode()}
        probe_started = time.monotonic()
        probe = httpx.post(
            api.url + "/v1/track",
            json={"userId": "probe", "event": "E", "messageId": "probe-during-outage"},
            headers=auth,
            timeout=30,
        )
        probe_s = time.monotonic() - probe_started
        # Both libraries send all through the outage; their calls get 503 and are retried.
        node = _node_sender(api.url, secret, "node", count=32, per_second=4)
        during = PythonSender(client, "py-during", 32, 4)
        during.start()
        time.sleep(max(0.0, down_at + RESTART_AFTER_S - time.monotonic()))
        stack.start_emulator(emulator.port)  # the same port, empty: no topic, no subscription
        outage_s = time.monotonic() - down_at
        up_at = time.monotonic()
        during.join()
        after = PythonSender(client, "py-after", 10, 10)
        after.run()
        client.flush()
        out, err = node.communicate(timeout=180)
        assert node.returncode == 0, err
        node_report = json.loads(out.strip().splitlines()[-1])
        sent = set(before.sent + during.sent + after.sent + node_report["sent"])
        wait_for(
            lambda: {e["message_id"] for e in reader.current(EVENTS)} >= sent,
            timeout=90,
            what="every call sent around the outage",
            every=1.0,
        )
        pipeline.wait_until_drained()
        caught_up_s = time.monotonic() - up_at
        stored = {e["message_id"] for e in reader.current(EVENTS)}
        api_log = api.log()

    duplicated = duplicated_rows(stack.lake_dir, EVENTS)
    figures(
        outage_s=f"{outage_s:.0f}",
        sent=len(sent),
        python=len(before.sent + during.sent + after.sent),
        node=len(node_report["sent"]),
        stored=len(stored & sent),
        duplicated=duplicated,
        lost=len(sent - stored),
        dropped_by_libraries=len(dropped) + len(node_report["failed"]),
        first_503_s=f"{probe_s:.1f}",
        stack_up_s=f"{ready_s:.0f}",
        caught_up_after_restart_s=f"{caught_up_s:.0f}",
    )
    assert (probe.status_code, probe.headers.get("retry-after")) == (503, "1"), probe.text
    assert probe_s < 6, f"the API took {probe_s:.1f} s to answer 503"
    assert dropped == [] and node_report["failed"] == [], node_report["errors"]
    assert sent - stored == set()
    assert stored == sent  # the probe got 503: it was never confirmed, and never stored
    assert duplicated == 0
    assert "Traceback" not in api_log
