"""When Slack fails: the stream's status says why and since when, transient errors are
retried with backoff and then become dead letters (stage slack), and dead letters are
posted again once the status recovers. A kill between claim and post never posts twice."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.slack.conftest import entry
from variance.appdb.models import SlackOutboxRow, SlackStreamStatus
from variance.appdb.types import utcnow
from variance.core.vocabulary import SlackDelivery
from variance.slack import outbox
from variance.slack.sender import StepReport


def rows(setup) -> dict[str, tuple[str, str | None]]:
    with setup.sessions() as session:
        return {r.message_id: (r.state, r.last_error) for r in session.scalars(select(SlackOutboxRow))}


def status(setup) -> SlackStreamStatus | None:
    with setup.sessions() as session:
        return session.get(SlackStreamStatus, setup.stream_id)


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "token_revoked", "missing_scope"])
def test_an_error_of_the_stream_sets_its_status_and_dead_letters_what_waits(slack_setup, fake_slack, error):
    letters = []
    fake_slack.fail(error)
    slack_setup.record(entry(slack_setup, "m1"), entry(slack_setup, "m2"))
    report = slack_setup.sender(on_dead=letters.extend).drain()

    assert report.dead == 2 and fake_slack.messages == []
    assert rows(slack_setup) == {"m1": ("dead", error), "m2": ("dead", error)}
    now = status(slack_setup)
    assert (now.status, now.error) == ("error", error)
    assert utcnow() - now.since < timedelta(seconds=30)
    assert sorted((letter["message_id"], letter["reason"]) for letter in letters) == [("m1", error), ("m2", error)]
    assert [m for m, _ in fake_slack.calls].count("chat.postMessage") == 1  # the rest waited, not hammered


def test_dead_letters_are_posted_again_when_the_status_recovers(slack_setup, fake_slack):
    fake_slack.fail("not_in_channel")
    slack_setup.record(entry(slack_setup, "m1"), entry(slack_setup, "m2"))
    now = [0.0]
    sender = slack_setup.sender(clock=lambda: now[0], probe_every_s=60)
    sender.drain()
    since = status(slack_setup).since
    sender.step()  # no probe yet: nothing tried
    assert [m for m, _ in fake_slack.calls].count("chat.postMessage") == 1

    fake_slack.recover()  # someone invited the bot
    now[0] += 61
    sender.step()  # the probe retries the oldest dead letter; success requeues the others
    now[0] += 5
    sender.drain()
    assert [m["text"].split(" — ")[0] for m in fake_slack.posted_to("C0SIGNALS")] == [
        "[Acme watch] Action: Invited User"
    ] * 2
    assert rows(slack_setup) == {"m1": ("sent", None), "m2": ("sent", None)}
    recovered = status(slack_setup)
    assert (recovered.status, recovered.error) == ("ok", None) and recovered.since > since


def attempt(setup, sender) -> tuple[StepReport, SlackOutboxRow]:
    """One step of ``sender`` as soon as the outbox's only row is due, and that row after it.

    A backoff ends at a time of the wall clock, so the wait is for that condition (bounded
    generously for a busy machine), never for a fixed time: however slowly the machine
    runs, each call is exactly one attempt."""
    deadline = time.monotonic() + 120
    while True:
        with setup.sessions() as session:
            if outbox.due(session, utcnow(), limit=1):
                break
        assert time.monotonic() < deadline, "the outbox row never became due"
        time.sleep(0.01)
    report = sender.step()
    with setup.sessions() as session:
        row = session.scalars(select(SlackOutboxRow).order_by(SlackOutboxRow.created_at.desc())).first()
        session.expunge(row)
    return report, row


def backed_off(setup, sender, delay_s: float) -> SlackOutboxRow:
    """One failing attempt; the row must be pending again ``delay_s`` after it."""
    before = utcnow()
    report, row = attempt(setup, sender)
    after = utcnow()
    assert (report.retried, report.posted, report.dead) == (1, 0, 0)
    assert (row.state, row.last_error) == ("pending", "internal_error")
    assert before + timedelta(seconds=delay_s) <= row.next_attempt_at <= after + timedelta(seconds=delay_s)
    return row


def test_transient_errors_are_retried_with_backoff_then_become_dead_letters(make_setup, fake_slack):
    setup = make_setup(
        VARIANCE_SLACK_TOKEN="xoxb-fake-token",
        VARIANCE_SLACK_TOKEN_ORG="{org}",
        VARIANCE_SLACK_API_URL=fake_slack.url,
        VARIANCE_SLACK_MAX_ATTEMPTS="3",
    )
    # The sender's own clock stands still: its channel bucket (a burst of 3) lets exactly
    # the three attempts through and no probe starts, whatever the machine's speed.
    still = lambda: 0.0  # noqa: E731

    def posts() -> int:
        return [m for m, _ in fake_slack.calls].count("chat.postMessage")

    fake_slack.fail("internal_error", status=500, times=2)
    setup.record(entry(setup, "m1"))
    sender = setup.sender(backoff_s=0.05, client_retries=0, clock=still)
    assert backed_off(setup, sender, 0.05).attempts == 1  # the backoff doubles after each failure
    assert backed_off(setup, sender, 0.10).attempts == 2
    report, row = attempt(setup, sender)
    assert (report.retried, report.posted, report.dead) == (0, 1, 0)  # two failures, backed off, then posted
    assert (row.state, row.attempts) == ("sent", 2)
    assert posts() == 3 and len(fake_slack.messages) == 1
    assert rows(setup) == {"m1": ("sent", None)}

    letters = []
    fake_slack.fail("internal_error", status=503)
    setup.record(entry(setup, "m2"))
    sender = setup.sender(backoff_s=0.05, client_retries=0, on_dead=letters.extend, clock=still)
    backed_off(setup, sender, 0.05)
    backed_off(setup, sender, 0.10)
    assert letters == []
    report, row = attempt(setup, sender)
    assert (report.retried, report.posted, report.dead) == (0, 0, 1)
    assert row.state == "dead"
    assert posts() == 6  # the third attempt was the last
    assert rows(setup)["m2"] == ("dead", "internal_error after 3 attempts")
    assert [letter["reason"] for letter in letters] == ["internal_error after 3 attempts"]
    failed = status(setup)
    assert (failed.status, failed.error) == ("error", "internal_error")
    with setup.sessions() as session:  # nothing is left to try, now or later
        assert outbox.due(session, utcnow() + timedelta(days=1)) == []
    assert sender.step() == StepReport() and posts() == 6


def test_a_message_slack_refuses_is_a_dead_letter_and_the_stream_stays_ok(slack_setup, fake_slack):
    slack_setup.record(entry(slack_setup, "m0"))
    slack_setup.sender().drain()
    fake_slack.fail("invalid_blocks", times=1)
    slack_setup.record(entry(slack_setup, "m1"))
    slack_setup.sender().drain()
    assert rows(slack_setup)["m1"] == ("dead", "invalid_blocks")
    assert status(slack_setup).status == "ok"


def test_a_kill_after_slack_accepted_a_post_does_not_post_it_again(slack_setup, fake_slack):
    slack_setup.record(entry(slack_setup, "m1"))
    sender = slack_setup.sender()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("kill -9 between the post and its record")

    sender._finish = killed  # the process dies right after Slack answered
    with pytest.raises(KeyboardInterrupt):
        sender.step()
    assert rows(slack_setup)["m1"][0] == SlackDelivery.sending
    assert len(fake_slack.messages) == 1

    restarted = slack_setup.sender()
    assert restarted.recover() == 1  # found in the channel's history by its claim id
    restarted.drain()
    assert len(fake_slack.messages) == 1
    assert rows(slack_setup)["m1"][0] == SlackDelivery.sent


def test_a_kill_before_the_post_went_out_posts_it_after_the_restart(slack_setup, fake_slack):
    slack_setup.record(entry(slack_setup, "m1"))
    with slack_setup.sessions() as session, session.begin():
        row = session.scalars(select(SlackOutboxRow)).one()
        row.state, row.claim_id, row.claimed_at = SlackDelivery.sending.value, "c" * 32, utcnow()
    restarted = slack_setup.sender()
    assert restarted.recover() == 0
    restarted.drain()
    assert len(fake_slack.messages) == 1 and rows(slack_setup)["m1"][0] == SlackDelivery.sent


def test_without_a_token_a_kill_after_the_outbox_line_was_written_writes_it_once(make_setup):
    setup = make_setup()
    setup.record(entry(setup, "m1"))
    sender = setup.sender()
    sender._finish = lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        sender.step()
    restarted = setup.sender()
    assert restarted.recover() == 1
    restarted.drain()
    lines = setup.settings.outbox_path.read_text().splitlines()
    assert [json.loads(line)["message_id"] for line in lines] == ["m1"]


def test_the_sent_log_is_pruned_after_its_retention(slack_setup, fake_slack):
    slack_setup.record(entry(slack_setup, "old"), entry(slack_setup, "recent"))
    slack_setup.sender().drain()
    with slack_setup.sessions() as session, session.begin():
        old = session.scalars(select(SlackOutboxRow).where(SlackOutboxRow.message_id == "old")).one()
        old.done_at = utcnow() - timedelta(days=3, minutes=1)
    with slack_setup.sessions() as session, session.begin():
        assert outbox.prune(session, utcnow(), slack_setup.settings.slack_sent_retention) == 1
    assert set(rows(slack_setup)) == {"recent"}
    slack_setup.sender().step()  # a step prunes too, and finds nothing more to do
    assert set(rows(slack_setup)) == {"recent"}
