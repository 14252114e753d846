"""What reaches Slack (or the outbox) from event data is inert: no broadcast, mention or link."""

from __future__ import annotations

import json

from variance.clients.slack import SlackSender, message_text

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


def test_the_outbox_records_the_escaped_text(tmp_path):
    outbox = tmp_path / "slack-outbox.jsonl"
    assert SlackSender(outbox).send(MATCH, "C1", "#signals", "Acme watch") is True
    (record,) = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert "<!" not in record["text"] and "<@" not in record["text"]
    assert record["text"].endswith("&lt;!channel&gt; / acme &amp; &lt;@U1&gt;")
