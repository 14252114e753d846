"""The sample traffic of the demo and the benchmarks: deterministic and valid, so the
demo's output can be trusted; and the static configuration the benchmarks run on."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.support import events as ev
from variance.core.bus import Source
from variance.core.events import parse_archive_line
from variance.samples.config import StaticConfig
from variance.samples.events import sample_calls

START = datetime(2024, 5, 1, tzinfo=timezone.utc)


def test_the_same_seed_gives_the_same_calls():
    assert sample_calls(start=START) == sample_calls(start=START)
    assert sample_calls(seed=8, start=START) != sample_calls(start=START)


def test_every_sample_call_is_a_valid_segment_call_with_a_unique_message_id():
    calls = sample_calls(users=6, events_per_user=5, start=START)
    assert len(calls) == 6 * (2 + 5)
    events = [parse_archive_line(call, Source("org_a", "con_web", "web")) for call in calls]
    assert len({e.message_id for e in events}) == len(calls)
    assert {e.type for e in events} == {"identify", "group", "track", "page"}


def test_each_user_is_grouped_into_an_account_before_acting():
    calls = sample_calls(users=4, start=START)
    first_group = {c["userId"]: c["timestamp"] for c in reversed(calls) if c["type"] == "group"}
    for call in calls:
        if call["type"] in ("track", "page"):
            assert call["timestamp"] > first_group[call["userId"]]
            assert call.get("context", {"groupId": None}).get("groupId") in (
                None,
                "acme",
                "globex",
                "initech",
                "umbrella",
            )


def test_static_config_answers_its_snapshots_and_an_empty_one_otherwise():
    config = ev.config(org="org_a", milestones=[ev.milestone()])
    provider = StaticConfig(config)
    assert provider("org_a") is config
    empty = provider("org_b")
    assert (empty.org_id, list(empty.milestones)) == ("org_b", [])
