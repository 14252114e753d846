"""The Slack part of the API over a real database (SQLite and PostgreSQL) and the fake
Slack over real HTTP: the install flow end to end, Slack's signed events and buttons,
channel autocomplete, a stream's channel and its Slack status."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from tests.slack.conftest import entry
from tests.support.fake_slack import Channel, FakeSlack
from variance.api.app import DiscardingPublisher, create_app
from variance.appdb.models import Follow, SlackInstallation, SlackOAuthState
from variance.appdb.types import utcnow
from variance.slack.install import BOT_SCOPES
from variance.slack.tokens import TokenCipher

SIGNING_SECRET = "fake-signing-secret"
KEY = Fernet.generate_key().decode()


@pytest.fixture
def api(make_setup, fake_slack):
    setup = make_setup(
        VARIANCE_SLACK_API_URL=fake_slack.url,
        VARIANCE_SLACK_CLIENT_ID=fake_slack.client_id,
        VARIANCE_SLACK_CLIENT_SECRET=fake_slack.client_secret,
        VARIANCE_SLACK_SIGNING_SECRET=SIGNING_SECRET,
        VARIANCE_TOKEN_ENCRYPTION_KEY=KEY,
    )
    with TestClient(create_app(setup.settings, DiscardingPublisher())) as client:
        client.setup = setup
        client.admin = {"Authorization": f"Bearer {setup.workspace.admin_token}"}
        yield client


def install(client, fake: FakeSlack, headers, code: str, token: str, team: str) -> dict:
    url = client.post("/v1/slack/install", headers=headers).json()["authorize_url"]
    state = parse_qs(urlsplit(url).query)["state"][0]
    fake.grant(code, token, team, f"Team {team}")
    answer = client.get("/v1/slack/oauth/callback", params={"code": code, "state": state})
    assert answer.status_code == 200, answer.text
    return {"state": state, "url": url, **answer.json()}


def signed(body: bytes, at: int | None = None) -> dict[str, str]:
    timestamp = str(at or int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def test_the_install_flow_stores_the_token_encrypted_and_the_state_works_once(api, fake_slack):
    setup = api.setup
    done = install(api, fake_slack, api.admin, "code-1", "xoxb-team-a", "TA")
    query = parse_qs(urlsplit(done["url"]).query)
    assert query["client_id"] == [fake_slack.client_id]
    assert query["scope"] == [",".join(BOT_SCOPES)]
    assert query["redirect_uri"] == ["https://variance.example/v1/slack/oauth/callback"]
    assert (done["org_id"], done["team_id"], done["team_name"]) == (setup.workspace.org_id, "TA", "Team TA")

    with setup.sessions() as session:
        stored = session.get(SlackInstallation, setup.workspace.org_id)
        assert "xoxb-team-a" not in stored.bot_token_encrypted
        assert TokenCipher(KEY).decrypt(stored.bot_token_encrypted) == "xoxb-team-a"
        assert stored.installed_by == setup.workspace.org["admin_user_id"]
    shown = api.get("/v1/slack", headers=api.admin)
    assert shown.json()["connected"] is True and shown.json()["team_id"] == "TA"
    assert "xoxb" not in shown.text

    fake_slack.grant("code-2", "xoxb-other", "TA")
    replayed = api.get("/v1/slack/oauth/callback", params={"code": "code-2", "state": done["state"]})
    assert (replayed.status_code, replayed.json()["error"]["rule"]) == (400, "already used: start again from Variance")
    unknown = api.get("/v1/slack/oauth/callback", params={"code": "code-2", "state": "forged"})
    assert unknown.status_code == 400


def test_a_member_cannot_start_an_install_and_an_expired_state_is_refused(api, fake_slack):
    member = api.setup.workspace.add_user("Mia", "mia@acme.com")
    member_headers = {"Authorization": f"Bearer {member['token']}"}
    assert api.post("/v1/slack/install", headers=member_headers).status_code == 403
    url = api.post("/v1/slack/install", headers=api.admin).json()["authorize_url"]
    state = parse_qs(urlsplit(url).query)["state"][0]
    with api.setup.sessions() as session, session.begin():
        for row in session.scalars(select(SlackOAuthState)):
            row.expires_at = utcnow() - timedelta(seconds=1)
    fake_slack.grant("code-x", "xoxb-x", "TX")
    answer = api.get("/v1/slack/oauth/callback", params={"code": "code-x", "state": state})
    assert (answer.status_code, answer.json()["error"]["rule"]) == (400, "expired: start again from Variance")


def test_two_organisations_with_two_workspaces_never_cross_post(api, fake_slack, make_setup):
    setup_a = api.setup
    install(api, fake_slack, api.admin, "code-a", "xoxb-team-a", "TA")
    from variance.samples.workspace import Workspace

    other = Workspace.create(setup_a.workspace.env, "Globex")
    other_stream = other.add_stream("Globex watch", slack_channel=("C0SIGNALS", "#signals"))
    install(api, fake_slack, {"Authorization": f"Bearer {other.admin_token}"}, "code-b", "xoxb-team-b", "TB")

    setup_a.record(entry(setup_a, "a1"), entry(setup_a, "a2"))
    from tests.slack.conftest import match
    from variance.slack.outbox import OutboxEntry

    row = match("b1", stream_id=other_stream["id"], org_id=other.org_id)
    setup_a.record(OutboxEntry(other.org_id, other_stream["id"], "b1", "C0SIGNALS", {"match": row, "milestone": None}))
    setup_a.sender().drain()

    by_team = sorted((m["team"], m["text"].split("]")[0]) for m in fake_slack.messages)
    assert by_team == [("TA", "[Acme watch"), ("TA", "[Acme watch"), ("TB", "[Globex watch")]


def test_installing_one_slack_workspace_into_a_second_organisation_is_refused(api, fake_slack):
    install(api, fake_slack, api.admin, "code-a", "xoxb-team-a", "TA")
    from variance.samples.workspace import Workspace

    other = Workspace.create(api.setup.workspace.env, "Globex")
    url = api.post("/v1/slack/install", headers={"Authorization": f"Bearer {other.admin_token}"}).json()
    state = parse_qs(urlsplit(url["authorize_url"]).query)["state"][0]
    fake_slack.grant("code-b", "xoxb-team-a-again", "TA")
    assert api.get("/v1/slack/oauth/callback", params={"code": "code-b", "state": state}).status_code == 409


def test_events_must_be_signed_and_recent_and_tokens_revoked_disconnects(api, fake_slack):
    setup = api.setup
    install(api, fake_slack, api.admin, "code-a", "xoxb-team-a", "TA")
    body = json.dumps({"type": "event_callback", "team_id": "TA", "event": {"type": "tokens_revoked"}}).encode()
    assert api.post("/v1/slack/events", content=body).status_code == 401  # unsigned
    old = signed(body, int(time.time()) - 6 * 60)
    assert api.post("/v1/slack/events", content=body, headers=old).status_code == 401  # replayed later
    forged = signed(body) | {"X-Slack-Signature": "v0=" + "0" * 64}
    assert api.post("/v1/slack/events", content=body, headers=forged).status_code == 401
    challenge = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()
    assert api.post("/v1/slack/events", content=challenge, headers=signed(challenge)).json()["challenge"] == "abc"
    assert api.get("/v1/slack", headers=api.admin).json()["connected"] is True

    answer = api.post("/v1/slack/events", content=body, headers=signed(body))
    assert answer.status_code == 200
    assert api.get("/v1/slack", headers=api.admin).json()["connected"] is False
    setup.record(entry(setup, "m1"))
    setup.sender().drain()
    assert fake_slack.messages == []
    status = api.get(f"/v1/streams/{setup.stream_id}/slack", headers=api.admin).json()
    assert (status["status"], status["error"], status["dead_lettered"]) == ("error", "token_revoked", 1)


def button(action_id: str, value: str, user: str, response_url: str) -> bytes:
    payload = {
        "type": "block_actions",
        "team": {"id": "TA"},
        "user": {"id": user},
        "actions": [{"action_id": action_id, "value": value}],
        "response_url": response_url,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_a_follow_button_follows_into_the_clicking_users_default_stream(api, fake_slack):
    setup = api.setup
    install(api, fake_slack, api.admin, "code-a", "xoxb-team-a", "TA")
    mia = setup.workspace.add_user("Mia", "mia@acme.com")
    fake_slack.users_by_email = {"mia@acme.com": "UMIA", "stranger@else.com": "USTRANGER"}
    response_url = fake_slack.url.replace("/api/", "/respond/") + "hook-1"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    body = button("follow_account", "acme", "UMIA", response_url)
    assert api.post("/v1/slack/interactivity", content=body, headers=headers).status_code == 401
    answer = api.post("/v1/slack/interactivity", content=body, headers=headers | signed(body))
    assert answer.status_code == 200
    with setup.sessions() as session:
        follows = [(f.entity_type, f.entity_id, f.stream_id) for f in session.scalars(select(Follow))]
    streams = api.get("/v1/streams", headers={"Authorization": f"Bearer {mia['token']}"}).json()["items"]
    mia_default = next(s["id"] for s in streams if s["name"] == "Mia's Stream")
    assert ("account", "acme", mia_default) in follows
    replies = [params for method, params in fake_slack.calls if method == "hook-1"]
    assert replies[-1]["text"] == "Following this account in your stream."

    stranger = button("follow_account", "acme", "USTRANGER", response_url)
    api.post("/v1/slack/interactivity", content=stranger, headers=headers | signed(stranger))
    replies = [params for method, params in fake_slack.calls if method == "hook-1"]
    assert replies[-1]["text"].startswith("No Variance user of this organisation has your Slack email")

    unfollow = button("unfollow_account", "acme", "UMIA", response_url)
    api.post("/v1/slack/interactivity", content=unfollow, headers=headers | signed(unfollow))
    with setup.sessions() as session:
        assert ("account", "acme", mia_default) not in [
            (f.entity_type, f.entity_id, f.stream_id) for f in session.scalars(select(Follow))
        ]


def test_channel_autocomplete_pages_through_conversations_list_and_caches(api, fake_slack):
    fake_slack.channels = [Channel(f"C{i:04d}", f"team-{i:03d}") for i in range(450)] + [
        Channel("C0SIGNALS", "signals"),
        Channel("C0SECRET", "sig-private", is_private=True),
    ]
    assert api.get("/v1/slack/channels", params={"q": "sig"}, headers=api.admin).status_code == 409  # not connected
    install(api, fake_slack, api.admin, "code-a", "xoxb-team-a", "TA")
    found = api.get("/v1/slack/channels", params={"q": "#sig"}, headers=api.admin).json()["items"]
    assert [(c["id"], c["name"], c["is_private"]) for c in found] == [
        ("C0SECRET", "sig-private", True),
        ("C0SIGNALS", "signals", False),
    ]
    listed = [m for m, _ in fake_slack.calls if m == "conversations.list"]
    assert len(listed) == 3  # 452 channels, 200 a page
    for q in ("t", "te", "tea", "team-4"):
        api.get("/v1/slack/channels", params={"q": q}, headers=api.admin)
    assert len([m for m, _ in fake_slack.calls if m == "conversations.list"]) == 3  # typing hits the cache
    page = api.get("/v1/slack/channels", params={"q": "team-4", "limit": 5}, headers=api.admin).json()["items"]
    assert [c["name"] for c in page] == ["team-400", "team-401", "team-402", "team-403", "team-404"]


def test_channel_errors_are_explained(api, fake_slack):
    install(api, fake_slack, api.admin, "code-a", "xoxb-team-a", "TA")
    fake_slack.fail("missing_scope", method="conversations.list")
    answer = api.get("/v1/slack/channels", params={"q": "x"}, headers=api.admin)
    assert answer.status_code == 503
    assert answer.json()["error"]["message"] == (
        "Slack answered missing_scope: reinstall Slack: Variance needs the channels:read and groups:read scopes"
    )


def test_setting_a_streams_channel_validates_it_and_stores_id_and_name(api, fake_slack):
    setup = api.setup
    url = f"/v1/streams/{setup.stream_id}/slack"
    without = api.put(url, json={"channel": "C0ANY", "channel_name": "#any"}, headers=api.admin)
    assert without.json()["slack_channel"] == {"id": "C0ANY", "name": "#any"}  # no Slack: as given
    assert api.get(url, headers=api.admin).json()["status"] == "outbox"

    install(api, fake_slack, api.admin, "code-a", "xoxb-team-a", "TA")
    stored = api.put(url, json={"channel": "#general"}, headers=api.admin)
    assert stored.json()["slack_channel"] == {"id": "C0GENERAL", "name": "#general"}
    unknown = api.put(url, json={"channel": "#nowhere"}, headers=api.admin)
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (400, "channel")
    removed = api.put(url, json={"channel": None}, headers=api.admin)
    assert removed.json()["slack_channel"] is None


def test_the_stream_status_shows_slacks_error_and_since_when(api, fake_slack):
    setup = api.setup
    install(api, fake_slack, api.admin, "code-a", "xoxb-team-a", "TA")
    url = f"/v1/streams/{setup.stream_id}/slack"
    assert api.get(url, headers=api.admin).json()["status"] == "ok"
    fake_slack.fail("channel_not_found")
    setup.record(entry(setup, "m1"))
    setup.sender().drain()
    status = api.get(url, headers=api.admin).json()
    assert (status["status"], status["error"], status["dead_lettered"], status["waiting"]) == (
        "error",
        "channel_not_found",
        1,
        0,
    )
    assert status["since"] is not None
    assert api.get("/v1/streams/str_nope/slack", headers=api.admin).status_code == 404


def test_an_admin_names_the_owner_trait_of_the_installation(api, fake_slack):
    assert api.patch("/v1/slack", json={"owner_email_trait": "owner.email"}, headers=api.admin).status_code == 404
    install(api, fake_slack, api.admin, "code-a", "xoxb-team-a", "TA")
    answer = api.patch("/v1/slack", json={"owner_email_trait": "owner.email"}, headers=api.admin)
    assert answer.json()["owner_email_trait"] == "owner.email"
    assert api.patch("/v1/slack", json={"owner_email_trait": "owner..email"}, headers=api.admin).status_code == 400
    member = api.setup.workspace.add_user("Mia", "mia@acme.com")
    member_headers = {"Authorization": f"Bearer {member['token']}"}
    assert api.patch("/v1/slack", json={"owner_email_trait": None}, headers=member_headers).status_code == 403


def test_rotating_the_key_re_encrypts_every_token_with_the_first_key(api, fake_slack):

    from variance.slack.tokens import rotate_all

    install(api, fake_slack, api.admin, "code-a", "xoxb-team-a", "TA")
    new_key = Fernet.generate_key().decode()
    rotated = api.setup.settings.model_copy(update={"token_encryption_key": f"{new_key},{KEY}"})
    with api.setup.sessions() as session, session.begin():
        assert rotate_all(session, rotated) == 1
    with api.setup.sessions() as session:
        stored = session.get(SlackInstallation, api.setup.workspace.org_id).bot_token_encrypted
    assert TokenCipher(new_key).decrypt(stored) == "xoxb-team-a"  # the old key is no longer needed
