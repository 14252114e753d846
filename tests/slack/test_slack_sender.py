"""The sender posts what the outbox holds: Block Kit with the contact, the account, the
properties and links into Variance, once per match, at the channel's rate, as digests
under a burst; without a token, into the local outbox file, exactly the payload."""

from __future__ import annotations

import json

from sqlalchemy import select

from tests.slack.conftest import entry
from tests.support.builders import account, contact
from variance.appdb.models import SlackOutboxRow
from variance.core.vocabulary import SlackDelivery


def states(setup) -> dict[str, str]:
    with setup.sessions() as session:
        return {r.message_id: r.state for r in session.scalars(select(SlackOutboxRow))}


def test_a_match_is_posted_as_block_kit_with_who_account_properties_and_links(slack_setup, fake_slack):
    with slack_setup.sessions() as session, session.begin():
        org = slack_setup.workspace.org_id
        session.add(contact(org, "u1", name="Ada <!channel>", email="ada@acme.com", account_id="acme"))
        session.add(account(org, "acme", name="Acme & Co"))
    assert slack_setup.record(entry(slack_setup, "m1", properties={"role": "<!here>", "seats": 3})) == 1

    report = slack_setup.sender().drain()

    assert (report.posted, report.rows_done) == (1, 1)
    (message,) = fake_slack.posted_to("C0SIGNALS")
    assert message["text"] == "[Acme watch] Action: Invited User — Ada &lt;!channel&gt; / Acme &amp; Co"
    header, facts, properties, actions = message["blocks"]
    assert header["text"]["text"] == "Action: Invited User"
    assert [f["text"] for f in facts["fields"]] == [
        "*Who*\n<https://variance.example/contacts/u1|Ada &lt;!channel&gt;>",
        "*Account*\n<https://variance.example/accounts/acme|Acme &amp; Co>",
        "*When*\n<!date^1714521600^{date_short_pretty} at {time}|2024-05-01T00:00:00.000Z>",
        f"*Stream*\n<https://variance.example/streams/{slack_setup.stream_id}|Acme watch>",
    ]
    assert [f["text"] for f in properties["fields"]] == ["*role*\n&lt;!here&gt;", "*seats*\n3"]
    assert [(b["text"]["text"], b["url"]) for b in actions["elements"]] == [
        ("Open contact in Variance", "https://variance.example/contacts/u1"),
        ("Open account in Variance", "https://variance.example/accounts/acme"),
    ]
    assert message["metadata"]["event_type"] == "variance_post"
    assert states(slack_setup) == {"m1": SlackDelivery.sent}


def test_a_redelivered_or_re_recorded_match_is_never_posted_twice(slack_setup, fake_slack):
    assert slack_setup.record(entry(slack_setup, "m1"), entry(slack_setup, "m1")) == 1
    slack_setup.sender().drain()
    assert slack_setup.record(entry(slack_setup, "m1")) == 0  # a redelivery after the post
    slack_setup.sender().drain()  # a restarted sender
    assert len(fake_slack.posted_to("C0SIGNALS")) == 1


def test_without_a_token_the_outbox_file_holds_exactly_the_payload(make_setup):
    setup = make_setup()  # no token at all
    setup.record(entry(setup, "m1"), entry(setup, "m2"))
    report = setup.sender().drain()
    assert (report.posted, report.rows_done) == (2, 2)
    lines = [json.loads(line) for line in setup.settings.outbox_path.read_text().splitlines()]
    assert [(r["message_id"], r["channel_id"], r["via"]) for r in lines] == [
        ("m1", "C0SIGNALS", "outbox"),
        ("m2", "C0SIGNALS", "outbox"),
    ]
    first = lines[0]
    assert first["payload"]["channel"] == "C0SIGNALS"
    assert first["text"] == first["payload"]["text"] == "[Acme watch] Action: Invited User — u1 / acme"
    assert set(first["payload"]) == {"channel", "text", "blocks", "unfurl_links", "unfurl_media"}
    assert states(setup) == {"m1": SlackDelivery.sent, "m2": SlackDelivery.sent}


def test_without_a_token_a_burst_past_the_digest_threshold_is_one_digest_line(make_setup):
    setup = make_setup(VARIANCE_SLACK_DIGEST_AFTER="3")
    setup.record(*(entry(setup, f"m{i}") for i in range(5)))
    report = setup.sender().drain()
    assert (report.posted, report.rows_done) == (1, 5)
    [line] = [json.loads(line) for line in setup.settings.outbox_path.read_text().splitlines()]
    assert line["message_ids"] == [f"m{i}" for i in range(5)]
    assert line["text"] == line["payload"]["text"]
    assert "5" in line["text"]
    assert states(setup) == {f"m{i}": SlackDelivery.digested for i in range(5)}
    # at or under the threshold, one line per match
    setup.record(*(entry(setup, f"n{i}") for i in range(3)))
    setup.sender().drain()
    lines = [json.loads(line) for line in setup.settings.outbox_path.read_text().splitlines()]
    assert [x["message_ids"] for x in lines[1:]] == [["n0"], ["n1"], ["n2"]]


def test_the_single_team_token_posts_only_for_the_organisation_named_beside_it(make_setup, fake_slack):
    setup = make_setup(
        VARIANCE_SLACK_TOKEN="xoxb-fake-token",
        VARIANCE_SLACK_TOKEN_ORG="org_other",
        VARIANCE_SLACK_API_URL=fake_slack.url,
    )
    setup.record(entry(setup, "m1"))
    setup.sender().drain()
    assert fake_slack.messages == []
    assert len(setup.settings.outbox_path.read_text().splitlines()) == 1


def test_a_burst_of_500_matches_for_one_channel_arrives_as_digests_and_loses_nothing(slack_setup, fake_slack):
    with slack_setup.sessions() as session, session.begin():
        session.add(account(slack_setup.workspace.org_id, "acme", name="Acme"))
    burst = [
        entry(
            slack_setup, f"m{i:03d}", account_id=("acme", "globex", None)[i % 3], event_time=1_714_521_600_000_000 + i
        )
        for i in range(500)
    ]
    slack_setup.record(*burst)

    report = slack_setup.sender().drain()

    posted = fake_slack.posted_to("C0SIGNALS")
    assert (report.posted, report.rows_done, fake_slack.rate_limited) == (1, 500, 0)
    (digest,) = posted
    assert digest["text"] == "[Acme watch] 500 matches across 2 accounts"
    header, by_account, newest, more, actions = digest["blocks"]
    assert header["text"]["text"] == "500 new in Acme watch"
    assert by_account["text"]["text"] == (
        "*By account*\n<https://variance.example/accounts/acme|Acme>: 167\n"
        "<https://variance.example/accounts/globex|globex>: 167\nno account: 166"
    )
    assert newest["text"]["text"].count("\n• ") == 10  # the ten newest, one a line
    assert newest["text"]["text"].startswith("*Newest*\n• *Action: Invited User* — ")
    assert more["elements"][0]["text"].startswith("490 more in the stream.")
    assert actions["elements"][0]["url"] == f"https://variance.example/streams/{slack_setup.stream_id}"
    assert set(states(slack_setup).values()) == {SlackDelivery.digested}


def test_a_few_matches_go_one_message_each_within_the_channels_rate(slack_setup, fake_slack):
    slack_setup.record(*(entry(slack_setup, f"m{i}") for i in range(5)))
    sender = slack_setup.sender()
    first = sender.step()
    assert (first.posted, len(fake_slack.posted_to("C0SIGNALS"))) == (1, 1)  # one per channel per step
    report = sender.drain()
    assert report.posted == 4 and fake_slack.rate_limited == 0
    assert len(fake_slack.posted_to("C0SIGNALS")) == 5


def test_the_channel_rate_holds_after_the_burst_allowance(slack_setup, fake_slack):
    now = [0.0]
    sender = slack_setup.sender(clock=lambda: now[0])
    slack_setup.record(*(entry(slack_setup, f"m{i}") for i in range(6)))
    for _ in range(10):
        sender.step()
    assert len(fake_slack.posted_to("C0SIGNALS")) == 3  # the burst, then the clock must move
    now[0] += 1.0
    sender.step()
    assert len(fake_slack.posted_to("C0SIGNALS")) == 3  # a tenth under 1/s: not yet
    now[0] += 0.2
    sender.step()
    sender.step()
    assert len(fake_slack.posted_to("C0SIGNALS")) == 4  # one more after 1/0.9 s


def test_an_installed_workspace_gets_follow_buttons_and_the_account_owner_mentioned(make_setup, fake_slack):
    from cryptography.fernet import Fernet

    from variance.appdb.models import SlackInstallation
    from variance.slack.tokens import TokenCipher

    key = Fernet.generate_key().decode()
    setup = make_setup(VARIANCE_SLACK_API_URL=fake_slack.url, VARIANCE_TOKEN_ENCRYPTION_KEY=key)
    org = setup.workspace.org_id
    fake_slack.users_by_email = {"olga@acme.com": "UOLGA"}
    with setup.sessions() as session, session.begin():
        session.add(
            SlackInstallation(
                org_id=org,
                team_id="T0FAKE",
                bot_token_encrypted=TokenCipher(key).encrypt("xoxb-fake-token"),
                owner_email_trait="owner.email",
            )
        )
        session.add(account(org, "acme", name="Acme", traits={"owner": {"email": "Olga@acme.com"}}))
    setup.record(entry(setup, "m1"), entry(setup, "m2"))
    setup.sender().drain()

    first, second = fake_slack.posted_to("C0SIGNALS")
    fields = [f["text"] for f in first["blocks"][1]["fields"]]
    assert "*Owner*\n<@UOLGA>" in fields
    follow = first["blocks"][-1]
    assert follow["block_id"] == "variance_follow"
    assert [(b["action_id"], b["value"]) for b in follow["elements"]] == [
        ("follow_contact", "u1"),
        ("unfollow_contact", "u1"),
        ("follow_account", "acme"),
        ("unfollow_account", "acme"),
    ]
    assert "*Owner*\n<@UOLGA>" in [f["text"] for f in second["blocks"][1]["fields"]]
    assert [m for m, _ in fake_slack.calls].count("users.lookupByEmail") == 1  # cached


def test_a_milestone_match_has_the_milestone_layout(slack_setup, fake_slack):
    change = {
        "milestone_id": "ms_missing",
        "milestone_name": "PQL",
        "entity_type": "account",
        "entity_id": "acme",
        "kind": "achieved",
        "changed_at": 1_714_521_600_000_000,
        "count": 3,
    }
    with slack_setup.sessions() as session, session.begin():
        session.add(account(slack_setup.workspace.org_id, "acme", name="Acme"))
    row = entry(slack_setup, "chg_1", kind="Milestone", name="PQL", contact_id=None)
    slack_setup.record(
        type(row)(row.org_id, row.stream_id, row.message_id, row.channel_id, {**row.payload, "milestone": change})
    )
    slack_setup.sender().drain()
    (message,) = fake_slack.posted_to("C0SIGNALS")
    assert message["text"] == "[Acme watch] Milestone: PQL achieved — Acme (3 events all time)"
    assert message["blocks"][0]["text"]["text"] == "Milestone achieved: PQL"
