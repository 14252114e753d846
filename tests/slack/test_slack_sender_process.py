"""``variance slack sender`` as a real process, as the local stack and Cloud Run run it:
``/healthz`` on its port, the outbox drained, a stop on SIGTERM, and no match written twice
across a kill -9 and a restart."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.slack.conftest import entry
from tests.support.fake_slack import TOKEN
from variance.stack.local import start_sender

pytestmark = pytest.mark.slow


def outbox_ids(setup) -> list[str]:
    path = setup.settings.outbox_path
    return [json.loads(line)["message_id"] for line in path.read_text().splitlines()] if path.exists() else []


def env_of(setup) -> dict[str, str]:
    return {
        "VARIANCE_DATA_DIR": str(setup.settings.data_dir),
        "VARIANCE_DATABASE_URL": setup.settings.resolved_database_url,
    }


@pytest.fixture
def setup(make_setup):
    return make_setup()


def test_the_sender_serves_healthz_drains_the_outbox_and_stops_on_sigterm(setup, tmp_path):
    setup.record(entry(setup, "m1"), entry(setup, "m2"))
    sender = start_sender(env_of(setup), tmp_path / "sender.log")
    try:
        assert httpx.get(sender.url + "/healthz", timeout=2).json()["ok"] is True
        sender.wait_until(lambda: outbox_ids(setup) == ["m1", "m2"], 20, "before the outbox held both posts")
        setup.record(entry(setup, "m3"))  # recorded while it runs
        sender.wait_until(lambda: outbox_ids(setup) == ["m1", "m2", "m3"], 20, "before the third post")
    finally:
        code = sender.stop()
    assert code == 0 and "Slack sender stopped" in sender.log()


def test_no_match_is_posted_twice_across_a_kill_and_a_restart(make_setup, fake_slack, tmp_path):
    setup = make_setup(
        VARIANCE_SLACK_TOKEN=TOKEN, VARIANCE_SLACK_TOKEN_ORG="{org}", VARIANCE_SLACK_API_URL=fake_slack.url
    )
    env = env_of(setup) | {
        "VARIANCE_SLACK_TOKEN": TOKEN,
        "VARIANCE_SLACK_TOKEN_ORG": setup.workspace.org_id,
        "VARIANCE_SLACK_API_URL": fake_slack.url,
    }
    fake_slack.delay = 0.2  # a slow Slack: the kill lands in the middle of the posts
    setup.record(*(entry(setup, f"m{i}") for i in range(8)))
    sender = start_sender(env, tmp_path / "sender.log")
    sender.wait_until(lambda: len(fake_slack.messages) >= 2, 20, "before the first posts")
    sender.kill()
    setup.record(*(entry(setup, f"m{i}") for i in range(10)))  # redelivered and new matches
    restarted = start_sender(env, tmp_path / "sender-2.log")
    try:
        restarted.wait_until(lambda: setup_done(setup), 60, "before every match was posted")
    finally:
        restarted.stop()
    posted = [m["metadata"]["event_payload"]["claim"] for m in fake_slack.messages]
    assert len(posted) == len(set(posted))  # each post once
    with setup.sessions() as session:
        from sqlalchemy import select

        from variance.appdb.models import SlackOutboxRow

        done = {r.message_id: (r.state, r.claim_id) for r in session.scalars(select(SlackOutboxRow))}
    assert set(done) == {f"m{i}" for i in range(10)}
    assert {state for state, _ in done.values()} <= {"sent", "digested"}
    # every match is in exactly one accepted message
    assert {claim for _, claim in done.values()} <= set(posted)


def setup_done(setup) -> bool:
    from sqlalchemy import select

    from variance.appdb.models import SlackOutboxRow

    with setup.sessions() as session:
        states = [r.state for r in session.scalars(select(SlackOutboxRow))]
    return len(states) == 10 and all(s in ("sent", "digested") for s in states)


def test_dead_letters_of_the_sender_land_in_the_warehouse_with_stage_slack(make_setup, fake_slack, tmp_path):
    from variance.core.vocabulary import WarehouseTable
    from variance.stack.processes import run_cli
    from variance.warehouse.local import LakeReader

    setup = make_setup()
    env = env_of(setup) | {
        "VARIANCE_SLACK_TOKEN": TOKEN,
        "VARIANCE_SLACK_TOKEN_ORG": setup.workspace.org_id,
        "VARIANCE_SLACK_API_URL": fake_slack.url,
    }
    fake_slack.fail("channel_not_found")
    setup.record(entry(setup, "m1"))
    result = run_cli(["slack", "sender", "--once"], env)
    assert "posted 0 messages for 0 matches (1 dead letters)" in result.stderr
    (letter,) = LakeReader(setup.settings.lake_dir).current(WarehouseTable.dead_letters)
    assert (letter["org_id"], letter["stage"], letter["message_id"], letter["reason"]) == (
        setup.workspace.org_id,
        "slack",
        "m1",
        "posting to Slack failed: channel_not_found",
    )
    assert json.loads(letter["attributes"]) == {"stream_id": setup.stream_id}
