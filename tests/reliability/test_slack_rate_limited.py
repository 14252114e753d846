"""Slack rate-limiting and slow while matches keep coming: the Slack sender's own loop
(``Sender.run``, as ``variance slack sender`` runs it) drains an outbox that the test fills
at 15 matches a second, against the fake Slack that answers each call only after 0.4 s and
allows one message a second per channel (burst 1), while the sender is told it may post
three a second, so Slack answers 429 with ``Retry-After`` again and again. Every match ends
in exactly one message, alone or in a digest; no message is posted twice.

Time is compressed: the issue's "minutes" of a slow, rate-limited Slack become about ten
seconds, with the digest threshold (``VARIANCE_SLACK_DIGEST_AFTER``) at 4 instead of 10 so
that the backlog a slow Slack builds in seconds is already digest-sized."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from tests.slack.conftest import entry, make_setup  # noqa: F401 - the Slack workspace harness, as a fixture here
from tests.support.fake_slack import TOKEN, Channel, FakeSlack
from tests.support.waiting import wait_for
from variance.appdb.models import SlackOutboxRow
from variance.core.vocabulary import SlackDelivery
from variance.slack.sender import Sender

MATCHES = 120
PER_SECOND = 15


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite only: the sender's behaviour under a slow Slack does not depend on the database."""
    return f"sqlite:///{tmp_path / 'app.db'}"


def test_a_slow_rate_limited_slack_loses_and_doubles_nothing_and_sends_digests(make_setup, figures):  # noqa: F811
    started = time.monotonic()
    with FakeSlack(channels=[Channel("C0SIGNALS", "signals")], per_channel_rate=1.0, per_channel_burst=1) as slack:
        slack.delay = 0.4
        setup = make_setup(
            VARIANCE_SLACK_TOKEN=TOKEN,
            VARIANCE_SLACK_TOKEN_ORG="{org}",
            VARIANCE_SLACK_API_URL=slack.url,
            VARIANCE_SLACK_CHANNEL_RATE="3",
            VARIANCE_SLACK_DIGEST_AFTER="4",
        )
        sender = Sender(setup.settings, setup.sessions, backoff_s=0.2)
        stop = threading.Event()
        loop = threading.Thread(target=sender.run, args=(stop,), name="slack-sender", daemon=True)
        loop.start()
        try:
            for n in range(MATCHES):
                setup.record(entry(setup, f"m{n:03d}", event_time=1_714_521_600_000_000 + n))
                time.sleep(max(0.0, started + (n + 1) / PER_SECOND - time.monotonic()))

            def finished() -> list[SlackOutboxRow] | None:
                with setup.sessions() as session:
                    rows = list(session.scalars(select(SlackOutboxRow)))
                done = (SlackDelivery.sent.value, SlackDelivery.digested.value, SlackDelivery.dead.value)
                return rows if len(rows) == MATCHES and all(r.state in done for r in rows) else None

            rows = wait_for(finished, timeout=60, what="every match posted")
        finally:
            stop.set()
            loop.join(timeout=30)
        messages = list(slack.messages)
        rate_limited = slack.rate_limited

    claims_posted = Counter(m["metadata"]["event_payload"]["claim"] for m in messages)
    rows_by_claim = Counter(r.claim_id for r in rows)
    states = Counter(r.state for r in rows)
    digests = [m for m in messages if re.search(r"\d+ matches across", m["text"])]
    figures(
        matches=MATCHES,
        messages=len(messages),
        digests=len(digests),
        in_digests=states[SlackDelivery.digested.value],
        alone=states[SlackDelivery.sent.value],
        rate_limited_429=rate_limited,
        duplicated=sum(n - 1 for n in claims_posted.values()),
        lost=MATCHES - states[SlackDelivery.sent.value] - states[SlackDelivery.digested.value],
        seconds=f"{time.monotonic() - started:.0f}",
    )
    assert states[SlackDelivery.dead.value] == 0, [r.last_error for r in rows if r.state == SlackDelivery.dead.value]
    assert set(claims_posted.values()) == {1}  # no message posted twice
    assert set(rows_by_claim) == set(claims_posted)  # each match in a message that went out
    for message in digests:
        count = int(re.search(r"(\d+) matches", message["text"]).group(1))
        assert count == rows_by_claim[message["metadata"]["event_payload"]["claim"]], message["text"]
    assert sum(rows_by_claim[c] for c in claims_posted) == MATCHES
    assert len(digests) >= 2  # the backlog a slow Slack builds goes as digests
    assert rate_limited >= 1  # Slack did refuse, and the sender waited it out
