"""A smart tag entered or left has its own Slack layout: who entered or left which tag,
and the sender posts it for an outbox entry carrying a ``tag``."""

from __future__ import annotations

from tests.slack.conftest import entry
from tests.support.builders import account
from variance.clients.slack_messages import TagChangeMessage, VarianceLinks, tag_message
from variance.core.vocabulary import EntityType

LINKS = VarianceLinks("https://variance.example/")
T = 1_714_557_600_000_000  # 2024-05-01T10:00:00Z
WHEN = "<!date^1714557600^{date_short_pretty} at {time}|2024-05-01T10:00:00.000Z>"
TAG = {
    "tag_id": "tag_hot",
    "tag_name": "Hot Trial",
    "entered": True,
    "entity_type": "account",
    "entity_id": "acme",
    "changed_at": T,
}


def test_an_account_entering_a_tag_is_this_exact_message():
    message = TagChangeMessage.from_tag(TAG, stream_id="str_1", stream_name="Hot trials", entity_name="Acme & Co")
    assert tag_message(message, LINKS) == {
        "text": "[Hot trials] Acme &amp; Co entered Hot Trial",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": "Acme &amp; Co entered Hot Trial", "emoji": True},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Tag*\nHot Trial"},
                    {"type": "mrkdwn", "text": "*Account*\n<https://variance.example/accounts/acme|Acme &amp; Co>"},
                    {"type": "mrkdwn", "text": f"*When*\n{WHEN}"},
                    {"type": "mrkdwn", "text": "*Stream*\n<https://variance.example/streams/str_1|Hot trials>"},
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


def test_a_contact_leaving_a_tag_links_the_contact_and_falls_back_to_its_id():
    message = TagChangeMessage(
        stream_id="str_1",
        stream_name="VIPs",
        tag_name="<!channel> VIP",
        entered=False,
        changed_at=T,
        entity_type=EntityType.contact,
        entity_id="user 1",
    )
    payload = tag_message(message, LINKS)
    assert payload["text"] == "[VIPs] user 1 left &lt;!channel&gt; VIP"
    assert payload["blocks"][0]["text"]["text"] == "user 1 left &lt;!channel&gt; VIP"
    assert payload["blocks"][1]["fields"][1] == {
        "type": "mrkdwn",
        "text": "*Contact*\n<https://variance.example/contacts/user%201|user 1>",
    }
    assert payload["blocks"][2]["elements"][0]["action_id"] == "open_contact"


def test_the_sender_posts_a_tag_entry_in_the_tag_layout(slack_setup, fake_slack):
    with slack_setup.sessions() as session, session.begin():
        session.add(account(slack_setup.workspace.org_id, "acme", name="Acme"))
    row = entry(slack_setup, "tag:tag_hot:acme:1", kind="Tag", name="Hot Trial", contact_id=None)
    slack_setup.record(
        type(row)(row.org_id, row.stream_id, row.message_id, row.channel_id, {**row.payload, "tag": TAG})
    )
    slack_setup.sender().drain()
    (message,) = fake_slack.posted_to("C0SIGNALS")
    assert message["text"] == "[Acme watch] Acme entered Hot Trial"
    assert message["blocks"][0]["text"]["text"] == "Acme entered Hot Trial"
