"""Each connection's recent calls on the Integrations page: Segment calls through the real
ingestion routes (published to the emulator) are counted in memory and written per
minute; the page shows the last call, accepted and rejected counts for the last hour and
day, and the latest rejections with their field and rule."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from variance.api.schemas.ingest import CALL_MODELS
from variance.appdb.models import ConnectionCalls, ConnectionRejection
from variance.appdb.session import make_engine, migrate, session_factory
from variance.core import bus
from variance.workspace import connection_calls, connections
from variance.workspace.orgs import create_org
from variance.workspace.schemas.connections import ConnectionCreate

T0 = datetime(2026, 5, 1, 12, 0, 30, tzinfo=timezone.utc)


def _connection(web, name: str = "web") -> tuple[str, str]:
    with web.sessions() as session, session.begin():
        made = connections.create_connection(
            session, web.org_id, ConnectionCreate(name=name, mapping="group"), "http://testserver"
        )
        return made.id, made.secret


def _basic(secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{secret}:".encode()).decode()}


def test_the_page_shows_each_connections_last_call_counts_and_latest_rejections(web):
    _, secret = _connection(web)
    _connection(web, "quiet")
    api = web.client()
    batch = [
        {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "m-1"},
        {"type": "track", "userId": "u1", "messageId": "m-bad"},
        {"type": "identify", "userId": "u1", "traits": {"plan": "trial"}},
    ]
    assert api.post("/v1/batch", json={"batch": batch}, headers=_basic(secret)).json()["accepted"] == 2
    assert (
        api.post("/v1/track", json={"userId": "u2", "event": "Invited User"}, headers=_basic(secret)).status_code == 200
    )
    client, _ = web.signed_in()
    page = client.get("/integrations")
    assert page.status_code == 200
    row = page.text.split('data-testid="connection-web"', 1)[1].split("</tr>", 1)[0]
    assert row.count("3 accepted, 1 rejected") == 2  # last hour and last 24 hours
    assert " UTC</td>" in row and "never" not in row
    quiet = page.text.split('data-testid="connection-quiet"', 1)[1].split("</tr>", 1)[0]
    assert "never" in quiet and quiet.count("—") == 2
    assert "Latest rejected calls of web" in page.text
    assert "messageId <code>m-bad</code> · batch[1].event: is required for track calls" in page.text

    polled = client.get("/integrations/health", headers={"HX-Request": "true"})
    assert polled.status_code == 200 and "<html" not in polled.text and "3 accepted, 1 rejected" in polled.text
    assert 'hx-get="/integrations/health" hx-trigger="every 5s"' in page.text


def test_the_api_answers_a_connections_calls_inside_its_organisation(web):
    connection_id, secret = _connection(web)
    idle_id, _ = _connection(web, "idle")
    api = web.client()
    batch = [{"type": "track", "userId": "u1", "event": "E"}, {"type": "track", "userId": "u1", "messageId": "m-x"}]
    api.post("/v1/batch", json={"batch": batch}, headers=_basic(secret))
    admin = {"Authorization": f"Bearer {web.admin_token}"}
    calls = api.get(f"/v1/connections/{connection_id}/calls", headers=admin)
    assert calls.status_code == 200
    body = calls.json()
    assert body["last_received_at"] is not None
    assert {k: v for k, v in body.items() if k not in ("last_received_at", "rejections")} == {
        "connection_id": connection_id,
        "accepted_last_hour": 1,
        "rejected_last_hour": 1,
        "accepted_last_day": 1,
        "rejected_last_day": 1,
    }
    assert [(r["message_id"], r["reason"][:12]) for r in body["rejections"]] == [("m-x", "batch[1].eve")]
    idle = api.get(f"/v1/connections/{idle_id}/calls", headers=admin).json()
    assert (idle["last_received_at"], idle["accepted_last_day"], idle["rejections"]) == (None, 0, [])
    with web.sessions() as session, session.begin():
        theirs = create_org(session, "Theirs").token
    assert (
        api.get(f"/v1/connections/{connection_id}/calls", headers={"Authorization": f"Bearer {theirs}"}).status_code
        == 404
    )


def test_members_cannot_read_connection_health(web):
    client, _ = web.signed_in(web.new_user("Max"))
    assert client.get("/integrations/health").status_code == 403


def test_another_organisations_calls_are_not_shown(web):
    _, secret = _connection(web)
    web.client().post("/v1/track", json={"userId": "u", "event": "E"}, headers=_basic(secret))
    _, other_admin = web.new_org()
    client, _ = web.signed_in(other_admin)
    assert "accepted" not in client.get("/integrations").text.split("Connections</h2>", 1)[1]


def _messages(org_id: str, connection_id: str) -> list[bus.BusMessage]:
    return [bus.BusMessage(b"{}", {bus.ORG_ID: org_id, bus.CONNECTION_ID: connection_id})]


class _Rejected:
    def __init__(self, n: int):
        self.message_id, self.message = f"m-{n}", f"event: rule {n}"


def test_two_api_processes_add_into_the_same_minute_and_old_rows_are_pruned(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    try:
        with sessions() as session, session.begin():
            org = create_org(session, "Acme").org.id
            conn = connections.create_connection(
                session, org, ConnectionCreate(name="web", mapping="group"), "http://x"
            ).id
        now = [T0.timestamp()]
        first, second = (connection_calls.CallTally(sessions, clock=lambda: now[0]) for _ in range(2))
        first.note(_messages(org, conn), accepted=5, rejections=[_Rejected(1)])
        second.note(_messages(org, conn), accepted=2)
        now[0] = T0.timestamp() + 20
        second.note(_messages(org, conn), accepted=1, rejections=[_Rejected(2)])
        assert first.flush() == 1 and second.flush() == 1 and first.flush() == 0
        with sessions() as session:
            health = connection_calls.health(session, org, now=T0 + timedelta(minutes=5))[conn]
        assert (health.accepted_hour, health.rejected_hour, health.accepted_day, health.rejected_day) == (8, 2, 8, 2)
        assert health.last_received_at == T0 + timedelta(seconds=20)
        assert [r.reason for r in health.rejections] == ["event: rule 2", "event: rule 1"]  # newest first
        with sessions() as session:
            later = connection_calls.health(session, org, now=T0 + timedelta(hours=3))[conn]
        assert (later.accepted_hour, later.accepted_day) == (0, 8)

        now[0] = (T0 + timedelta(days=3)).timestamp()  # past the two days kept
        first.note(_messages(org, conn), accepted=1, rejections=[_Rejected(n) for n in range(100, 130)])
        first.flush()
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(ConnectionCalls)) == 1
            assert (
                session.scalar(select(func.count()).select_from(ConnectionRejection))
                == connection_calls.KEEP_REJECTIONS
            )
            kept = connection_calls.health(session, org, now=T0 + timedelta(days=3), rejections=50)[conn].rejections
        assert [r.message_id for r in kept] == [f"m-{n}" for n in range(129, 109, -1)]
    finally:
        engine.dispose()


def test_counting_a_call_costs_microseconds_on_the_request_path(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    tally = connection_calls.CallTally(session_factory(engine))
    messages = _messages("org_1", "con_1")
    calls = 20_000
    started = time.perf_counter()
    for _ in range(calls):
        tally.note(messages, accepted=1)
    per_call_us = (time.perf_counter() - started) / calls * 1e6
    engine.dispose()
    assert per_call_us < 50, f"{per_call_us:.1f} µs per request"


def test_the_writer_thread_ends_once_its_app_is_gone(tmp_path):
    import gc

    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    tally = connection_calls.CallTally(session_factory(engine))
    tally.start(every_s=0.05)
    thread = tally._thread
    del tally
    gc.collect()
    thread.join(timeout=10)
    engine.dispose()
    assert not thread.is_alive()


def _calls(api, web, connection_id: str) -> dict:
    admin = {"Authorization": f"Bearer {web.admin_token}"}
    body = api.get(f"/v1/connections/{connection_id}/calls", headers=admin).json()
    with web.sessions() as session:  # every rejection kept, not only the latest five the API answers
        reasons = session.scalars(
            select(ConnectionRejection.reason)
            .where(ConnectionRejection.connection_id == connection_id)
            .order_by(ConnectionRejection.id)
        ).all()
        ids = session.scalars(
            select(ConnectionRejection.message_id)
            .where(ConnectionRejection.connection_id == connection_id)
            .order_by(ConnectionRejection.id)
        ).all()
    return {
        "accepted": body["accepted_last_hour"],
        "rejected": body["rejected_last_hour"],
        "reasons": reasons,
        "ids": ids,
    }


def test_calls_refused_whole_count_as_rejected_calls_of_the_connection_they_name(web):
    connection_id, secret = _connection(web)
    other_id, _ = _connection(web, "other")
    api = web.client()
    hook = f"/v1/webhooks/{connection_id}"
    answers = [
        api.post(hook, json={"type": "track", "userId": "u", "event": "E"}, headers={"Authorization": "Bearer nope"}),
        api.post(hook, json={"type": "track", "userId": "u", "event": "E"}),
        api.post(hook, content=b"{not json", headers={"Authorization": f"Bearer {secret}"}),
        api.post(hook, json={"type": "bogus"}, headers={"Authorization": f"Bearer {secret}"}),
        api.post("/v1/track", content=b"x" * (33 * 1024), headers=_basic(secret)),
        api.post("/v1/track", json={"userId": "u", "messageId": "m-no-event"}, headers=_basic(secret)),
        api.post("/v1/batch", json={"writeKey": secret, "batch": []}),
    ]
    assert [a.status_code for a in answers] == [401, 401, 400, 400, 413, 400, 400]
    found = _calls(api, web, connection_id)
    assert (found["accepted"], found["rejected"]) == (0, 7)
    assert found["reasons"] == [
        "Authorization: the write key is not valid for this endpoint",
        "Authorization: a write key is required: send it as the Basic auth user name",
        "body: must be valid JSON in UTF-8 (unexpected character, expected a string key)",
        "type: must be one of " + ", ".join(CALL_MODELS),
        "call exceeds 32 KB: Segment's limit is 32 KB per call",
        "event: is required for track calls and must be a non-empty string",
        "batch: must contain at least one call",
    ]
    assert found["ids"] == [None, None, None, None, None, "m-no-event", None]
    assert _calls(api, web, other_id)["rejected"] == 0  # a refusal is its own connection's only

    client, _ = web.signed_in()
    row = client.get("/integrations").text.split('data-testid="connection-web"', 1)[1].split("</tr>", 1)[0]
    assert row.count("0 accepted, 7 rejected") == 2  # last hour and last 24 hours


def test_refusals_that_name_no_connection_are_counted_nowhere(web):
    connection_id, secret = _connection(web)
    api = web.client()
    answers = [
        api.post("/v1/track", json={"userId": "u", "event": "E"}, headers=_basic("wrong-key")),  # no such key
        api.post("/v1/batch", content=b"{not json"),  # the key would be in the body that did not parse
        api.post("/v1/webhooks/con_nobody", json={"type": "track"}, headers={"Authorization": f"Bearer {secret}"}),
    ]
    assert [a.status_code for a in answers] == [401, 400, 401]
    connection_calls.flush_pending(web.app.state)
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ConnectionRejection)) == 0
        assert session.scalar(select(func.count()).select_from(ConnectionCalls)) == 0
    # a valid secret sent to another connection's webhook URL counts against the URL's connection
    second_id, _ = _connection(web, "second")
    refused = api.post(
        f"/v1/webhooks/{second_id}", json={"type": "track"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert refused.status_code == 401
    assert (_calls(api, web, second_id)["rejected"], _calls(api, web, connection_id)["rejected"]) == (1, 0)
