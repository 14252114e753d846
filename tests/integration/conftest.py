"""Real processes: the emulator, ``variance api``, and the ``variance`` CLI."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from variance.stack.processes import ApiProcess, run_cli, start_api


@pytest.fixture
def stack_env(emulator, tmp_path) -> dict[str, str]:
    return {
        "PUBSUB_EMULATOR_HOST": emulator.emulator_host,
        "VARIANCE_DATA_DIR": str(tmp_path / "data"),
        "VARIANCE_EVENTS_TOPIC": f"events-{uuid.uuid4().hex[:8]}",
        "VARIANCE_PUBLISH_TIMEOUT": "2",
    }


@pytest.fixture
def api_process(stack_env, tmp_path) -> Iterator[ApiProcess]:
    api = start_api(stack_env, tmp_path / "api.log")
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def org_and_connection(stack_env) -> dict:
    org = json.loads(run_cli(["orgs", "create", "Acme"], stack_env).stdout)
    conn = json.loads(
        run_cli(
            ["connections", "create", "--org", org["org_id"], "--name", "web", "--mapping", "group"], stack_env
        ).stdout
    )
    return {"org": org, "connection": conn}
