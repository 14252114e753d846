"""A rotated or deleted write key stops working at once in the API that made the change, and
within two seconds in every other process (here: the CLI changes it, a running API notices).

Every way a write key is presented is tried: Basic auth, a batch's ``writeKey`` and the
destination webhook's Bearer token.
"""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from variance.stack.processes import run_cli, start_api

pytestmark = pytest.mark.slow

CALL = {"type": "track", "userId": "u1", "event": "Invited User"}


def basic(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{secret}:".encode()).decode()}


def statuses(client: httpx.Client, connection_id: str, secret: str) -> tuple[int, int, int]:
    """What Basic auth, a batch's writeKey and the webhook's Bearer token are answered."""
    return (
        client.post("/v1/track", json=CALL, headers=basic(secret)).status_code,
        client.post("/v1/batch", json={"batch": [CALL], "writeKey": secret}).status_code,
        client.post(
            f"/v1/webhooks/{connection_id}", json=CALL, headers={"Authorization": f"Bearer {secret}"}
        ).status_code,
    )


@pytest.fixture
def api(tmp_path):
    env = {"VARIANCE_DATA_DIR": str(tmp_path / "data")}
    org = json.loads(run_cli(["orgs", "create", "Acme"], env).stdout)
    process = start_api(env, tmp_path / "api.log", ["--discard-events"])
    try:
        yield process, env, org
    finally:
        process.stop()


def create_connection(env: dict, org_id: str, name: str) -> dict:
    args = ["connections", "create", "--org", org_id, "--name", name, "--mapping", "group"]
    return json.loads(run_cli(args, env).stdout)


def seconds_until_refused(client: httpx.Client, connection_id: str, secret: str, limit: float = 10) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if statuses(client, connection_id, secret) == (401, 401, 401):
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"the old write key still works {limit} s after the change")


def test_rotation_and_deletion_through_the_api_take_effect_at_once(api):
    process, env, org = api
    admin = {"Authorization": f"Bearer {org['admin_token']}"}
    with httpx.Client(base_url=process.url, timeout=10) as client:
        for attempt in range(10):
            conn = create_connection(env, org["org_id"], f"web-{attempt}")
            assert statuses(client, conn["id"], conn["secret"]) == (200, 200, 200)  # now cached
            rotated = client.post(f"/v1/connections/{conn['id']}/rotate-secret", headers=admin)
            assert rotated.status_code == 200, rotated.text
            assert statuses(client, conn["id"], conn["secret"]) == (401, 401, 401)
            assert statuses(client, conn["id"], rotated.json()["secret"]) == (200, 200, 200)
            deleted = client.delete(f"/v1/connections/{conn['id']}", headers=admin)
            assert deleted.status_code == 204
            assert statuses(client, conn["id"], rotated.json()["secret"]) == (401, 401, 401)


def test_rotation_and_deletion_by_another_process_take_effect_within_two_seconds(api):
    process, env, org = api
    with httpx.Client(base_url=process.url, timeout=10) as client:
        conn = create_connection(env, org["org_id"], "web")
        assert statuses(client, conn["id"], conn["secret"]) == (200, 200, 200)  # now cached
        rotated = json.loads(run_cli(["connections", "rotate-secret", conn["id"], "--org", org["org_id"]], env).stdout)
        assert seconds_until_refused(client, conn["id"], conn["secret"]) < 2
        assert statuses(client, conn["id"], rotated["secret"]) == (200, 200, 200)

        run_cli(["connections", "delete", conn["id"], "--org", org["org_id"]], env)
        assert seconds_until_refused(client, conn["id"], rotated["secret"]) < 2
