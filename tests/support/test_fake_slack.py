"""The fake Slack answers the real ``slack_sdk.WebClient`` the way Slack does: accepted posts are
recorded, every failure arrives as the SlackApiError (or timeout) code a caller must handle, and
slack-sdk's own retry handlers work against its rate limit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from tests.support.fake_slack import TOKEN, Channel, FakeSlack, running

HEADER = {"type": "header", "text": {"type": "plain_text", "text": "Hello"}}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    yield from running(users_by_email={"ada@acme.test": "U0ADA"})


def client_for(slack: FakeSlack, token: str = TOKEN, **options) -> WebClient:
    return WebClient(token=token, base_url=slack.url, **options)


def error_of(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


def test_an_accepted_post_is_recorded_with_its_blocks(slack):
    response = client_for(slack).chat_postMessage(channel="C0SIGNALS", text="hi", blocks=[HEADER], unfurl_links=False)
    assert response["ok"] and response["channel"] == "C0SIGNALS"
    (message,) = slack.posted_to("C0SIGNALS")
    assert message["text"] == "hi" and message["blocks"] == [HEADER] and message["team"] == "T0FAKE"
    assert message["unfurl_links"] is False
    assert client_for(slack).chat_postMessage(channel="#general", text="by name")["channel"] == "C0GENERAL"


@pytest.mark.parametrize(
    ("token", "error"), [("xoxb-wrong", "invalid_auth"), ("", "not_authed")], ids=["wrong", "missing"]
)
def test_a_wrong_or_missing_token_is_refused(slack, token, error):
    failure = error_of(lambda: client_for(slack, token).chat_postMessage(channel="C0SIGNALS", text="hi"))
    assert failure.response["error"] == error
    assert slack.messages == []


def test_a_revoked_token_is_refused(slack):
    slack.revoked.add(TOKEN)
    failure = error_of(lambda: client_for(slack).chat_postMessage(channel="C0SIGNALS", text="hi"))
    assert failure.response["error"] == "token_revoked"


def test_unknown_channels_and_channels_the_bot_is_not_in_are_refused():
    with FakeSlack(channels=[Channel("C1", "outside", is_member=False)]) as slack:
        client = client_for(slack)
        assert error_of(lambda: client.chat_postMessage(channel="C404", text="hi")).response["error"] == (
            "channel_not_found"
        )
        assert error_of(lambda: client.chat_postMessage(channel="C1", text="hi")).response["error"] == "not_in_channel"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("channel_not_found", 200),
        ("not_in_channel", 200),
        ("token_revoked", 200),
        ("missing_scope", 200),
        ("internal_error", 500),
        ("service_unavailable", 503),
    ],
)
def test_each_failure_switch_gives_slacks_error(slack, error, status):
    slack.fail(error, status=status)
    failure = error_of(lambda: client_for(slack).chat_postMessage(channel="C0SIGNALS", text="hi"))
    assert (failure.response.status_code, failure.response["error"]) == (status, error)
    if error == "missing_scope":
        assert failure.response["needed"] == "chat:write"
    slack.recover()
    assert client_for(slack).chat_postMessage(channel="C0SIGNALS", text="hi")["ok"]
    assert len(slack.messages) == 1


def test_a_failure_for_a_few_calls_then_slack_recovers_and_the_server_error_handler_retries(slack):
    slack.fail("service_unavailable", status=503, times=1)
    client = client_for(slack, retry_handlers=[ServerErrorRetryHandler(1, FixedValueRetryIntervalCalculator(0.01))])
    assert client.chat_postMessage(channel="C0SIGNALS", text="hi")["ok"]
    assert len(slack.calls) == 2 and len(slack.messages) == 1


def test_a_slow_slack_times_the_client_out_and_a_patient_client_gets_its_answer(slack):
    slack.delay = 0.5
    with pytest.raises(TimeoutError):
        client_for(slack, timeout=0.1, retry_handlers=[]).chat_postMessage(channel="C0SIGNALS", text="hi")
    started = time.monotonic()
    assert client_for(slack, timeout=5).chat_postMessage(channel="C0SIGNALS", text="hi")["ok"]
    assert time.monotonic() - started >= 0.5


@pytest.mark.parametrize(
    ("blocks", "reason"),
    [
        ([{"type": "sectoin", "text": {"type": "mrkdwn", "text": "x"}}], "unsupported type"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}], "must be a plain_text object"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}], "less than 151 characters"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "less than 3001 characters"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}], "1 to 10 fields"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}], "less than 2001 characters"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "more than 0 characters"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "colour": "red"}], "unexpected property"),
        ([{"type": "divider"}] * 51, "at most 50 items"),
        (
            [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x" * 76}}]}],
            "less than 76 characters",
        ),
    ],
)
def test_block_kit_mistakes_are_invalid_blocks_with_a_reason(slack, blocks, reason):
    failure = error_of(lambda: client_for(slack).chat_postMessage(channel="C0SIGNALS", text="hi", blocks=blocks))
    assert failure.response["error"] == "invalid_blocks"
    assert any(reason in line and "json-pointer:/blocks" in line for line in failure.response["errors"])
    assert slack.messages == []


def test_blocks_over_13k_of_json_are_too_long_even_within_the_documented_limits(slack):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}] * 5
    failure = error_of(lambda: client_for(slack).chat_postMessage(channel="C0SIGNALS", text="hi", blocks=blocks))
    assert failure.response["error"] == "msg_blocks_too_long"
    with pytest.warns(UserWarning, match="text"):  # slack-sdk warns too, as it should
        assert error_of(lambda: client_for(slack).chat_postMessage(channel="C0SIGNALS")).response["error"] == "no_text"
    too_long = "x" * 40_001
    assert error_of(lambda: client_for(slack).chat_postMessage(channel="C0SIGNALS", text=too_long)).response[
        "error"
    ] == ("msg_too_long")


def test_a_burst_on_one_channel_gets_429_with_retry_after_and_the_rate_limit_handler_retries():
    with FakeSlack(per_channel_rate=1.0, per_channel_burst=2) as slack:
        plain = client_for(slack, retry_handlers=[])
        for _ in range(2):
            plain.chat_postMessage(channel="C0SIGNALS", text="burst")
        limited = error_of(lambda: plain.chat_postMessage(channel="C0SIGNALS", text="one too many"))
        assert limited.response.status_code == 429 and limited.response["error"] == "ratelimited"
        assert limited.response.headers["Retry-After"] == "1"
        # another channel has its own rate
        assert plain.chat_postMessage(channel="C0GENERAL", text="elsewhere")["ok"]

        patient = client_for(slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
        assert patient.chat_postMessage(channel="C0SIGNALS", text="after waiting")["ok"]
        assert [m["text"] for m in slack.posted_to("C0SIGNALS")] == ["burst", "burst", "after waiting"]
        assert slack.rate_limited == 2


def test_conversations_list_pages_with_a_cursor():
    channels = [Channel(f"C{i:03}", f"chan-{i}", is_private=i % 3 == 0) for i in range(25)]
    with FakeSlack(channels=channels) as slack:
        client = client_for(slack)
        seen, cursor, pages = [], None, 0
        while True:
            page = client.conversations_list(types="public_channel,private_channel", limit=10, cursor=cursor)
            seen += [c["id"] for c in page["channels"]]
            pages += 1
            cursor = page["response_metadata"]["next_cursor"]
            if not cursor:
                break
        assert seen == [c.id for c in channels] and pages == 3
        public = client.conversations_list(limit=100)
        assert [c["id"] for c in public["channels"]] == [c.id for c in channels if not c.is_private]
        assert [m for m, _ in slack.calls].count("conversations.list") == 4


def test_users_lookup_by_email(slack):
    user = client_for(slack).users_lookupByEmail(email="Ada@acme.test")["user"]
    assert user["id"] == "U0ADA"
    missing = error_of(lambda: client_for(slack).users_lookupByEmail(email="bob@acme.test"))
    assert missing.response["error"] == "users_not_found"


def test_history_returns_metadata_only_when_asked_and_an_oauth_code_works_once():
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from tests.support.fake_slack import TOKEN, FakeSlack

    with FakeSlack() as fake:
        client = WebClient(token=TOKEN, base_url=fake.url)
        client.chat_postMessage(channel="C0GENERAL", text="hi", metadata={"event_type": "t", "event_payload": {"a": 1}})
        plain = client.conversations_history(channel="C0GENERAL")["messages"]
        full = client.conversations_history(channel="C0GENERAL", include_all_metadata=True)["messages"]
        assert "metadata" not in plain[0] and full[0]["metadata"] == {"event_type": "t", "event_payload": {"a": 1}}

        fake.grant("code-1", "xoxb-new", "T9", "Nine")
        anonymous = WebClient(base_url=fake.url)
        answer = anonymous.oauth_v2_access(client_id=fake.client_id, client_secret=fake.client_secret, code="code-1")
        assert (answer["access_token"], answer["team"]) == ("xoxb-new", {"id": "T9", "name": "Nine"})
        try:
            anonymous.oauth_v2_access(client_id=fake.client_id, client_secret=fake.client_secret, code="code-1")
        except SlackApiError as exc:
            assert exc.response["error"] == "invalid_code"
        else:
            raise AssertionError("a code works once")
