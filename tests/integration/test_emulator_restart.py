"""When the emulator restarts empty, the pipeline recreates its subscription, says in its
log what that means, and carries on."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from segment.analytics import Client

from variance.clients.emulator import free_port, start_emulator
from variance.stack.processes import run_cli, start_api, start_pipeline
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow


def wait_for(check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def test_pipeline_recreates_its_subscription_after_the_emulator_restarts(tmp_path):
    port = free_port()
    emulator = start_emulator(port, log_path=tmp_path / "emulator.log")
    env = {
        "PUBSUB_EMULATOR_HOST": emulator.emulator_host,
        "VARIANCE_DATA_DIR": str(tmp_path / "data"),
        "VARIANCE_EVENTS_TOPIC": f"events-{uuid.uuid4().hex[:8]}",
        "VARIANCE_EVENTS_SUBSCRIPTION": f"pipeline-{uuid.uuid4().hex[:8]}",
        "VARIANCE_PUBLISH_TIMEOUT": "2",
    }
    org = json.loads(run_cli(["orgs", "create", "Acme"], env).stdout)
    connection = json.loads(
        run_cli(["connections", "create", "--org", org["org_id"], "--name", "web", "--mapping", "group"], env).stdout
    )
    api = start_api(env, tmp_path / "api.log")
    pipeline = start_pipeline(env, tmp_path / "pipeline.log")
    reader = LakeReader(Path(env["VARIANCE_DATA_DIR"]) / "lake")
    try:
        client = Client(write_key=connection["secret"], host=api.url, sync_mode=True, max_retries=30)
        client.identify(user_id="u1", message_id="before")
        assert wait_for(lambda: len(reader.current("events")) == 1)

        warning = "anything published while no subscription existed is gone"
        assert pipeline.log().count(warning) == 1  # the subscription it created at start
        emulator.stop()
        emulator = start_emulator(port, log_path=tmp_path / "emulator-2.log")
        assert wait_for(lambda: pipeline.log().count(warning) == 2)

        client.identify(user_id="u1", message_id="after")
        assert wait_for(lambda: len(reader.current("events")) == 2)
    finally:
        pipeline.stop()
        api.stop()
        emulator.stop()
    assert sorted(e["message_id"] for e in reader.current("events")) == ["after", "before"]
