"""Segment's Tracking API on our server: auth, rules, limits, hostile input, and the
messages that reach Pub/Sub (the real emulator)."""

from __future__ import annotations

import base64
import gzip
import json
import zlib

import orjson
import pytest

from variance.core import bus


def basic(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{secret}:".encode()).decode()}


@pytest.fixture
def conn(api):
    return api.create_connection(name="web")


def test_track_is_published_with_the_contract_attributes(api, conn):
    response = api.client.post(
        "/v1/track",
        json={"userId": "u1", "event": "Invited User", "properties": {"role": "admin"}, "messageId": "m-1"},
        headers=basic(conn["secret"]),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "accepted": 1, "rejected": []}
    [message] = api.pull(1)
    assert dict(message.attributes) == {
        bus.ORG_ID: api.org_id,
        bus.CONNECTION_ID: conn["id"],
        bus.CONNECTION_NAME: "web",
        bus.MESSAGE_ID: "m-1",
        bus.TYPE: "track",
        bus.EVENT_TIME: json.loads(message.data)["timestamp"],
    }
    data = json.loads(message.data)
    assert data["event"] == "Invited User" and data["type"] == "track" and data["properties"] == {"role": "admin"}
    assert data["receivedAt"].endswith("Z")


def test_each_single_endpoint_sets_its_type(api, conn):
    calls = {
        "identify": {"userId": "u1", "traits": {"email": "a@acme.com"}},
        "page": {"userId": "u1", "name": "Pricing"},
        "screen": {"anonymousId": "a1", "name": "Home"},
        "group": {"userId": "u1", "groupId": "acme"},
        "alias": {"previousId": "a1", "userId": "u1"},
    }
    for call_type, call in calls.items():
        response = api.client.post(f"/v1/{call_type}", json=call, headers=basic(conn["secret"]))
        assert response.status_code == 200, (call_type, response.text)
    types = sorted(m.attributes[bus.TYPE] for m in api.pull(5))
    assert types == sorted(calls)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, {"userId": "u", "event": "E"}),
        (basic("vsec_wrong"), {"userId": "u", "event": "E"}),
        ({"Authorization": "Basic !!!"}, {"userId": "u", "event": "E"}),
        ({}, {"userId": "u", "event": "E", "writeKey": "nope"}),
    ],
)
def test_missing_or_wrong_key_is_401(api, conn, headers, body):
    response = api.client.post("/v1/track", json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_write_key_in_the_body_authenticates_and_is_not_published(api, conn):
    response = api.client.post(
        "/v1/batch", json={"writeKey": conn["secret"], "batch": [{"type": "identify", "userId": "u"}]}
    )
    assert response.status_code == 200
    [message] = api.pull(1)
    assert conn["secret"].encode() not in message.data


def test_spec_violation_is_400_naming_field_and_rule(api, conn):
    response = api.client.post("/v1/group", json={"userId": "u"}, headers=basic(conn["secret"]))
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "invalid", "message": "groupId: is required", "field": "groupId", "rule": "is required"}
    }


def test_malformed_json_is_400(api, conn):
    response = api.client.post("/v1/track", content=b'{"userId": ', headers=basic(conn["secret"]))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "body"
    assert response.json()["error"]["rule"].startswith("must be valid JSON")


def test_call_over_32_kb_is_413(api, conn):
    body = {"userId": "u", "event": "E", "properties": {"blob": "x" * (33 * 1024)}}
    response = api.client.post("/v1/track", json=body, headers=basic(conn["secret"]))
    assert response.status_code == 413
    assert response.json()["error"]["message"] == "call exceeds 32 KB: Segment's limit is 32 KB per call"


def test_batch_over_500_kb_is_413(api, conn):
    calls = [{"type": "track", "userId": "u", "event": "E", "properties": {"blob": "x" * 20000}} for _ in range(30)]
    response = api.client.post("/v1/batch", json={"batch": calls}, headers=basic(conn["secret"]))
    assert response.status_code == 413
    assert response.json()["error"]["message"] == "batch exceeds 500 KB: Segment's limit is 500 KB per batch"


def test_gzip_body_is_accepted(api, conn):
    body = gzip.compress(orjson.dumps({"batch": [{"type": "track", "userId": "u", "event": "E"}] * 3}))
    headers = {**basic(conn["secret"]), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    response = api.client.post("/v1/batch", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["accepted"] == 3


def test_compression_bomb_is_413_without_inflating_it(api, conn):
    bomb = gzip.compress(b"[" + b" " * (200 * 1024 * 1024) + b"]", compresslevel=9)
    assert len(bomb) < 500 * 1024
    headers = {**basic(conn["secret"]), "Content-Encoding": "gzip"}
    response = api.client.post("/v1/batch", content=bomb, headers=headers)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("body", "encoding", "status"),
    [
        (b"not gzip at all", "gzip", 400),
        (gzip.compress(b'{"batch": []}', mtime=0)[:-6], "gzip", 400),  # mtime=0: the same id in every process
        (zlib.compress(b'{"batch": [{"type":"identify","userId":"u"}]}'), "deflate", 200),
        (b"{}", "br", 400),
        (b'{"batch": [' + b"[" * 100 + b"]" * 100 + b"]}", None, 400),
        (b'{"userId": "\xc3\x28"}', None, 400),
        (b'{"batch": "nope"}', None, 400),
        (b"[1, 2]", None, 400),
        (b'{"batch": []}', None, 400),
    ],
)
def test_hostile_bodies_get_a_4xx(api, conn, body, encoding, status):
    headers = basic(conn["secret"])
    if encoding:
        headers["Content-Encoding"] = encoding
    response = api.client.post("/v1/batch", content=body, headers=headers)
    assert response.status_code == status, response.text
    if status >= 400:
        assert set(response.json()["error"]) >= {"code", "message"}


def test_batch_with_some_bad_calls_accepts_the_good_ones(api, conn):
    batch = [
        {"type": "track", "userId": "u", "event": "Good", "messageId": "ok-1"},
        {"type": "track", "userId": "u", "messageId": "bad-1"},
        {"type": "identify", "userId": "u", "messageId": "ok-2"},
    ]
    response = api.client.post("/v1/batch", json={"batch": batch}, headers=basic(conn["secret"]))
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "accepted": 2,
        "rejected": [
            {
                "index": 1,
                "messageId": "bad-1",
                "field": "batch[1].event",
                "rule": "is required for track calls and must be a non-empty string",
                "message": "batch[1].event: is required for track calls and must be a non-empty string",
            }
        ],
    }
    messages = {m.attributes[bus.MESSAGE_ID]: m for m in api.pull(3)}
    assert set(messages) == {"ok-1", "bad-1", "ok-2"}
    # the bad call travels only to be recorded in dead letters, with its reason
    assert messages["bad-1"].attributes[bus.TYPE] == "rejected"
    assert messages["bad-1"].attributes[bus.REJECTED].startswith("batch[1].event:")


def test_batch_where_every_call_is_bad_is_400(api, conn):
    batch = [{"type": "track", "userId": "u"}, {"type": "nope", "userId": "u"}]
    response = api.client.post("/v1/batch", json={"batch": batch}, headers=basic(conn["secret"]))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "batch[0].event: is required for track calls and must be a non-empty string "
        "(and 1 more invalid calls; none was valid)"
    )


def test_connection_name_travels_with_every_event(api):
    a = api.create_connection(name="ios app")
    api.client.post("/v1/identify", json={"userId": "u"}, headers=basic(a["secret"]))
    [message] = api.pull(1)
    assert message.attributes[bus.CONNECTION_NAME] == "ios app"


class TestWebhook:
    def test_basic_or_bearer_secret_of_that_connection(self, api, conn):
        event = {
            "type": "track",
            "userId": "u",
            "event": "E",
            "timestamp": "2024-01-01T00:00:00Z",
            "sentAt": "2030-01-01T00:00:00Z",
        }
        url = f"/v1/webhooks/{conn['id']}"
        assert api.client.post(url, json=event, headers=basic(conn["secret"])).status_code == 200
        assert (
            api.client.post(url, json=event, headers={"Authorization": f"Bearer {conn['secret']}"}).status_code == 200
        )
        assert api.client.post(url, json=event, headers={"Authorization": "Bearer vsec_wrong"}).status_code == 401
        other = api.create_connection(name="other")
        assert api.client.post(url, json=event, headers=basic(other["secret"])).status_code == 401
        messages = api.pull(2)
        # Segment already corrected the timestamp: it is kept as delivered
        assert {m.attributes[bus.EVENT_TIME] for m in messages} == {"2024-01-01T00:00:00.000Z"}

    def test_batch_delivery_and_bad_type(self, api, conn):
        url = f"/v1/webhooks/{conn['id']}"
        body = {"batch": [{"type": "identify", "userId": "u"}, {"type": "page", "userId": "u"}]}
        assert api.client.post(url, json=body, headers=basic(conn["secret"])).json()["accepted"] == 2
        response = api.client.post(url, json={"type": "weird", "userId": "u"}, headers=basic(conn["secret"]))
        assert response.status_code == 400 and response.json()["error"]["field"] == "type"


def test_rotated_secret_stops_working_at_once(api, conn):
    headers = basic(conn["secret"])
    assert api.client.post("/v1/identify", json={"userId": "u"}, headers=headers).status_code == 200
    rotated = api.client.post(f"/v1/connections/{conn['id']}/rotate-secret", headers=api.admin).json()
    assert api.client.post("/v1/identify", json={"userId": "u"}, headers=headers).status_code == 401
    assert api.client.post("/v1/identify", json={"userId": "u"}, headers=basic(rotated["secret"])).status_code == 200
