"""A resource the API answered 201 for is visible to the very next request.

Over a real ``variance api`` process and one keep-alive connection, so the next request
arrives as soon as the response has been read: a transaction committed after the response
was sent loses that race about once in a hundred pairs.
"""

from __future__ import annotations

import json

import httpx
import pytest

from variance.stack.processes import run_cli

pytestmark = pytest.mark.slow

PAIRS = 500
PRO = {"type": "trait", "filter": {"path": "plan", "op": "equals", "value": "pro"}}


def test_every_create_is_visible_to_the_next_request(api_process, stack_env):
    org = json.loads(run_cli(["orgs", "create", "Acme"], stack_env).stdout)
    headers = {"Authorization": f"Bearer {org['admin_token']}"}
    invisible = []
    with httpx.Client(base_url=api_process.url, headers=headers, timeout=10) as client:
        for index in range(PAIRS):
            path = ("/v1/views", "/v1/streams", "/v1/tags")[index % 3]
            name = f"{path.rsplit('/', 1)[1]}-{index}"
            body: dict = {"name": name, "visibility": "team"}
            if path != "/v1/streams":
                body = {
                    "name": name,
                    "entity": "account",
                    "definition": {"type": "group", "match": "all", "conditions": [PRO]},
                }
                if path == "/v1/views":
                    body["visibility"] = "team"
            created = client.post(path, json=body)
            assert created.status_code == 201, created.text
            read = client.patch(f"{path}/{created.json()['id']}", json={"name": f"{name}-renamed"})
            if read.status_code != 200:
                invisible.append((path, read.status_code, read.text))
    assert invisible == [], f"{len(invisible)} of {PAIRS} creates were invisible to the next request: {invisible[:3]}"
