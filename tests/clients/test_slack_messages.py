"""Block Kit messages: their exact shape, what events can never do through them (ping, mention,
forge a link), and that the biggest one we can build still fits every limit Slack enforces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from slack_sdk import WebClient

from tests.support.fake_slack import TOKEN, FakeSlack, block_kit_errors, running
from variance.clients.slack_messages import (
    PAYLOAD_BUDGET,
    MilestoneChangeMessage,
    StreamMatchMessage,
    VarianceLinks,
    match_message,
    milestone_message,
    payload_size,
)
from variance.core.vocabulary import ChangeKind, EntityType

LINKS = VarianceLinks("https://variance.example/")
T = 1_714_557_600_000_000  # 2024-05-01T10:00:00Z in microseconds
WHEN = "<!date^1714557600^{date_short_pretty} at {time}|2024-05-01T10:00:00.000Z>"


def a_match(**overrides) -> dict:
    """A stream match as the pipeline has it, with what it knows of the contact and account."""
    match = {
        "org_id": "org_1",
        "stream_id": "str_1",
        "message_id": "m1",
        "event_time": T,
        "kind": "Action",
        "name": "Invited User",
        "contact_id": "user-1",
        "contact_name": "Ada Lovelace",
        "contact_email": "ada@acme.test",
        "account_id": "acme",
        "account_name": "Acme & Co",
        "matched_by": "follow:account",
        "status": "current",
        "properties": {"role": "admin", "seats": 12, "plan": {"name": "pro", "trial": False}},
    }
    return match | overrides


def a_change(**overrides) -> MilestoneChangeMessage:
    change = {
        "milestone_name": "Power user",
        "kind": "achieved",
        "count": 12,
        "changed_at": T,
        "entity_type": "account",
        "entity_id": "acme",
    }
    return MilestoneChangeMessage.from_change(
        change | overrides, stream_id="str_1", stream_name="Acme watch", window=timedelta(days=30), entity_name="Acme"
    )


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    yield from running()


def test_a_typical_match_is_this_exact_message():
    message = StreamMatchMessage.from_match(a_match(), "Acme watch")
    assert match_message(message, LINKS, ["role", "plan.name", "missing.path"]) == {
        "text": "[Acme watch] Action: Invited User — Ada Lovelace / Acme &amp; Co",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Action: Invited User", "emoji": True}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Who*\n<https://variance.example/contacts/user-1|Ada Lovelace>"},
                    {"type": "mrkdwn", "text": "*Account*\n<https://variance.example/accounts/acme|Acme &amp; Co>"},
                    {"type": "mrkdwn", "text": f"*When*\n{WHEN}"},
                    {"type": "mrkdwn", "text": "*Stream*\n<https://variance.example/streams/str_1|Acme watch>"},
                ],
            },
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": "*role*\nadmin"}, {"type": "mrkdwn", "text": "*plan.name*\npro"}],
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open contact in Variance", "emoji": True},
                        "url": "https://variance.example/contacts/user-1",
                        "action_id": "open_contact",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open account in Variance", "emoji": True},
                        "url": "https://variance.example/accounts/acme",
                        "action_id": "open_account",
                    },
                ],
            },
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def test_without_paths_every_top_level_property_is_shown_as_text_or_json():
    payload = match_message(StreamMatchMessage.from_match(a_match(), "Acme watch"), LINKS)
    assert [f["text"] for f in payload["blocks"][2]["fields"]] == [
        "*role*\nadmin",
        "*seats*\n12",
        '*plan*\n{"name":"pro","trial":false}',
    ]


def test_who_falls_back_to_the_email_then_the_id_and_properties_may_be_json_text():
    by_email = StreamMatchMessage.from_match(a_match(contact_name=None, properties='{"a": 1}'), "S")
    assert by_email.properties == {"a": 1}
    assert "|ada@acme.test>" in match_message(by_email, LINKS)["blocks"][1]["fields"][0]["text"]
    anonymous = StreamMatchMessage.from_match(
        a_match(contact_name=None, contact_email=None, account_id=None, account_name=None, properties=None), "S"
    )
    payload = match_message(anonymous, LINKS)
    assert payload["text"] == "[S] Action: Invited User — user-1"
    assert [f["text"].split("\n")[0] for f in payload["blocks"][1]["fields"]] == ["*Who*", "*When*", "*Stream*"]
    assert [b["action_id"] for b in payload["blocks"][-1]["elements"]] == ["open_contact"]


def test_ids_are_url_quoted_in_links_and_buttons():
    assert LINKS.contact("a/b c?&>") == "https://variance.example/contacts/a%2Fb%20c%3F%26%3E"
    payload = match_message(StreamMatchMessage.from_match(a_match(account_id="x|y>z"), "S"), LINKS)
    assert payload["blocks"][-1]["elements"][1]["url"] == "https://variance.example/accounts/x%7Cy%3Ez"


def test_a_milestone_change_is_this_exact_message():
    assert milestone_message(a_change(), LINKS) == {
        "text": "[Acme watch] Milestone: Power user achieved — Acme (12 events within 30d)",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": "Milestone achieved: Power user", "emoji": True},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Milestone*\nPower user"},
                    {"type": "mrkdwn", "text": "*Account*\n<https://variance.example/accounts/acme|Acme>"},
                    {"type": "mrkdwn", "text": "*Count*\n12 events within 30d"},
                    {"type": "mrkdwn", "text": f"*When*\n{WHEN}"},
                    {"type": "mrkdwn", "text": "*Stream*\n<https://variance.example/streams/str_1|Acme watch>"},
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open account in Variance", "emoji": True},
                        "url": "https://variance.example/accounts/acme",
                        "action_id": "open_account",
                    }
                ],
            },
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def test_a_lost_contact_milestone_without_window_says_so():
    lost = replace(a_change(kind="lost", count=3, entity_type="contact"), window=None, entity_name=None)
    assert lost.change is ChangeKind.lost and lost.entity_type is EntityType.contact
    payload = milestone_message(lost, LINKS)
    assert payload["text"] == "[Acme watch] Milestone: Power user lost — acme (3 events all time)"
    assert payload["blocks"][1]["fields"][1]["text"] == "*Contact*\n<https://variance.example/contacts/acme|acme>"
    assert payload["blocks"][2]["elements"][0]["action_id"] == "open_contact"


BROADCASTS = ("<!channel>", "<!here>", "<@U1>", "<https://evil.test|click me>")


def _texts(payload: dict) -> Iterator[str]:
    """Every string Slack would display or parse in a payload."""
    yield payload["text"]

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") in ("plain_text", "mrkdwn"):
                yield node["text"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    yield from walk(payload["blocks"])


def test_broadcasts_mentions_and_links_from_events_arrive_inert(slack):
    hostile = " ".join(BROADCASTS)
    match = a_match(
        name=hostile, contact_name=hostile, account_name="<@U1>", properties={"note": "<!channel>", "<@U1>": "x"}
    )
    payloads = [
        match_message(StreamMatchMessage.from_match(match, "<!here> watch"), LINKS),
        milestone_message(replace(a_change(), milestone_name=hostile, entity_name="<!channel>"), LINKS),
    ]
    client = WebClient(token=TOKEN, base_url=slack.url)
    for payload in payloads:
        for text in _texts(payload):
            for raw in BROADCASTS:
                assert raw not in text
        assert "&lt;!channel&gt;" in json.dumps(payload)
        client.chat_postMessage(channel="C0SIGNALS", **payload)
    # what Slack received is what we built: nothing was reinterpreted on the way
    assert [m["blocks"] for m in slack.messages] == [p["blocks"] for p in payloads]


def test_the_largest_message_fits_every_limit_and_slack_accepts_it(slack):
    huge = "&<🎉" * 2_000  # each character escapes or encodes to the most JSON it can
    match = a_match(
        name=huge,
        contact_name=huge,
        account_name=huge,
        contact_id="c" * 300,
        account_id="a" * 3000,  # too long to link: shown, not linked, no button
        properties={f"{i}{huge}": huge for i in range(1000)},
    )
    payload = match_message(StreamMatchMessage.from_match(match, huge), LINKS)
    assert payload_size(payload) <= PAYLOAD_BUDGET
    assert block_kit_errors(payload["blocks"]) == []
    assert len(payload["text"]) <= 40_000 and len(payload["blocks"]) <= 50
    assert "more properties not shown" in payload["blocks"][-2]["elements"][0]["text"]
    assert [b["action_id"] for b in payload["blocks"][-1]["elements"]] == ["open_contact"]
    shown = sum(len(b["fields"]) for b in payload["blocks"][2:] if b["type"] == "section")
    left_out = int(payload["blocks"][-2]["elements"][0]["text"].split()[0])
    assert shown + left_out == 1000 and shown >= 1
    for text in _texts(payload):
        assert "&am…" not in text and "&l…" not in text  # never cut inside an entity

    milestone = milestone_message(
        replace(a_change(), milestone_name=huge, entity_name=huge, stream_name=huge, entity_id="e" * 400), LINKS
    )
    assert payload_size(milestone) <= PAYLOAD_BUDGET and block_kit_errors(milestone["blocks"]) == []

    client = WebClient(token=TOKEN, base_url=slack.url)
    assert client.chat_postMessage(channel="C0SIGNALS", **payload)["ok"]
    assert client.chat_postMessage(channel="C0SIGNALS", **milestone)["ok"]
    assert len(slack.messages) == 2


def test_a_few_long_properties_are_cut_not_dropped():
    payload = match_message(StreamMatchMessage.from_match(a_match(properties={"long": "x" * 5000}), "S"), LINKS)
    (field,) = payload["blocks"][2]["fields"]
    assert field["text"] == "*long*\n" + "x" * 299 + "…"
    assert all(b["type"] != "context" for b in payload["blocks"])


def test_the_fallback_text_is_plain_and_escaped():
    message = StreamMatchMessage.from_match(a_match(name="A > B", contact_name="<b>Ada</b>"), "Ops & sales")
    assert match_message(message, LINKS)["text"] == (
        "[Ops &amp; sales] Action: A &gt; B — &lt;b&gt;Ada&lt;/b&gt; / Acme &amp; Co"
    )
