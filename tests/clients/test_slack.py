"""The Slack client module: a WebClient with slack-sdk's retry handlers (429 with
Retry-After waited out, 5xx retried) against the fake Slack over real HTTP, failures
classified by Slack's error code, and the local outbox file."""

from __future__ import annotations

import json
import socket

import pytest
from slack_sdk.errors import SlackApiError

from tests.support.fake_slack import TOKEN, FakeSlack
from variance.clients.slack import FailureScope, OutboxFile, failure_of, message_text, web_client

MATCH = {
    "org_id": "org_1",
    "stream_id": "str_1",
    "message_id": "m1",
    "kind": "Action",
    "name": "Invited <!here> User",
    "contact_id": "<!channel>",
    "account_id": "acme & <@U1>",
    "status": "current",
}


def test_message_text_escapes_every_value_from_events():
    assert message_text(MATCH, "Acme <watch>") == (
        "[Acme &lt;watch&gt;] Action: Invited &lt;!here&gt; User — &lt;!channel&gt; / acme &amp; &lt;@U1&gt;"
    )


def test_the_client_waits_out_a_429_with_the_rate_limit_handler():
    with FakeSlack(per_channel_rate=2.0, per_channel_burst=1) as fake:
        client = web_client(TOKEN, fake.url)
        client.chat_postMessage(channel="C0GENERAL", text="one")
        client.chat_postMessage(channel="C0GENERAL", text="two")  # 429 first, then accepted
        assert fake.rate_limited == 1
        assert [m["text"] for m in fake.posted_to("C0GENERAL")] == ["one", "two"]


def test_the_client_retries_a_server_error():
    with FakeSlack() as fake:
        fake.fail("internal_error", status=503, times=1)
        web_client(TOKEN, fake.url).chat_postMessage(channel="C0GENERAL", text="after a 503")
        assert len(fake.messages) == 1


@pytest.mark.parametrize(
    ("error", "status", "scope"),
    [
        ("channel_not_found", 200, FailureScope.stream),
        ("not_in_channel", 200, FailureScope.stream),
        ("token_revoked", 200, FailureScope.stream),
        ("missing_scope", 200, FailureScope.stream),
        ("invalid_blocks", 200, FailureScope.message),
        ("internal_error", 500, FailureScope.transient),
        ("fatal_error", 200, FailureScope.transient),
    ],
)
def test_failures_are_classified_by_slacks_error_code(error, status, scope):
    with FakeSlack() as fake:
        fake.fail(error, status=status)
        with pytest.raises(SlackApiError) as raised:
            web_client(TOKEN, fake.url, retries=0).chat_postMessage(channel="C0GENERAL", text="x")
    failure = failure_of(raised.value)
    assert (failure.code, failure.scope) == (error, scope)


def test_an_unreachable_slack_is_a_transient_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(Exception) as raised:
        web_client(TOKEN, f"http://127.0.0.1:{port}/api/", retries=0).chat_postMessage(channel="C1", text="x")
    assert failure_of(raised.value).scope == FailureScope.transient


def test_the_outbox_file_appends_lines_and_finds_recent_claims(tmp_path):
    outbox = OutboxFile(tmp_path / "slack-outbox.jsonl")
    outbox.append({"claim": "a", "text": "first"})
    outbox.append({"claim": "b", "text": "<!channel> stays text"})
    lines = [json.loads(line) for line in (tmp_path / "slack-outbox.jsonl").read_text().splitlines()]
    assert [line["claim"] for line in lines] == ["a", "b"]
    assert outbox.holds(["b", "c"]) == {"b"}
    assert OutboxFile(tmp_path / "none.jsonl").holds(["a"]) == set()
