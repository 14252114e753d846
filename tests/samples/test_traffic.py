"""``make demo``'s generated traffic: its shape is exactly what the seed gives, and each
promised part (identify and group first for most users, anonymous visits linked later,
late mobile events, client re-sends) is there, read back from the calls themselves."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from variance.core.bus import Source
from variance.core.events import parse_archive_line
from variance.samples.traffic import generate

NOW = datetime(2024, 5, 8, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def traffic():
    return generate(3000, seed=21, now=NOW)


def _at(call: dict) -> datetime:
    return datetime.fromisoformat(call["timestamp"])


def test_the_seed_gives_exactly_this_traffic(traffic):
    assert (
        len(traffic.calls),
        traffic.users,
        len(traffic.accounts),
        traffic.identified_first,
        traffic.anonymous_linked,
        traffic.late_mobile,
        traffic.resent,
        traffic.unique_calls,
    ) == (3000, 300, 30, 270, 15, 3, 6, 2994)
    assert traffic.busiest[:2] == ["nova-health", "alpine-software"]
    assert generate(3000, seed=21, now=NOW).calls == traffic.calls
    assert generate(3000, seed=22, now=NOW).calls != traffic.calls


def test_the_counts_are_what_the_calls_hold(traffic):
    calls = traffic.calls
    assert len({c["userId"] for c in calls if "userId" in c}) == traffic.users
    assert {c["groupId"] for c in calls if c["type"] == "group"} == {a.account_id for a in traffic.accounts}
    ids = Counter(c["messageId"] for c in calls)
    twice = [m for m, n in ids.items() if n == 2]
    assert (len(twice), max(ids.values())) == (traffic.resent, 2)
    for message_id in twice:  # a re-send is the same call, sent again shortly after
        first, second = [i for i, c in enumerate(calls) if c["messageId"] == message_id]
        assert calls[first] == calls[second] and second - first <= 52


def test_most_users_are_identified_and_grouped_before_they_act(traffic):
    seen: dict[str, set[str]] = {}
    acted_first: set[str] = set()
    for call in traffic.calls:
        user = call.get("userId")
        if user is None:
            continue
        kinds = seen.setdefault(user, set())
        if call["type"] in ("track", "page") and not {"identify", "group"} <= kinds:
            acted_first.add(user)
        kinds.add(call["type"])
    assert traffic.users - len(acted_first) == traffic.identified_first
    assert 0.85 < traffic.identified_first / traffic.users < 0.95  # most, not all
    for call in traffic.calls:  # and in time too: send order is time order until the late events
        if call["type"] in ("identify", "group"):
            assert _at(call) <= NOW


def test_anonymous_visits_are_linked_later_by_an_identify(traffic):
    anonymous_pages: dict[str, list[int]] = {}
    linked: dict[str, int] = {}
    for i, call in enumerate(traffic.calls):
        if "anonymousId" in call and "userId" not in call:
            assert call["type"] == "page"
            anonymous_pages.setdefault(call["anonymousId"], []).append(i)
        elif call["type"] == "identify" and "anonymousId" in call:
            linked[call["anonymousId"]] = i
    assert set(anonymous_pages) == set(linked)
    assert len(linked) == traffic.anonymous_linked
    assert all(max(pages) < linked[anon] for anon, pages in anonymous_pages.items())


def test_a_few_mobile_events_arrive_last_with_timestamps_hours_old(traffic):
    mobile = [i for i, c in enumerate(traffic.calls) if c.get("context", {}).get("device", {}).get("type") == "ios"]
    assert mobile == list(range(len(traffic.calls) - traffic.late_mobile, len(traffic.calls)))
    newest_before = max(_at(c) for c in traffic.calls[: mobile[0]])
    for i in mobile:
        call = traffic.calls[i]
        assert call["type"] == "track" and call["context"]["groupId"]
        assert NOW - timedelta(hours=8) <= _at(call) <= NOW - timedelta(hours=2)
        assert _at(call) < newest_before  # late: newer events went before it


def test_a_week_of_valid_segment_calls(traffic):
    times = [_at(c) for c in traffic.calls]
    assert NOW - timedelta(days=7, hours=2) <= min(times) < NOW - timedelta(days=6)
    assert max(times) <= NOW
    source = Source("org_a", "con_web", "web")
    parsed = [parse_archive_line(c, source) for c in traffic.calls]
    assert len({e.message_id for e in parsed}) == traffic.unique_calls
    assert {e.type for e in parsed} == {"identify", "group", "track", "page"}


def test_too_few_calls_are_refused_with_the_rule():
    with pytest.raises(ValueError, match=r"calls: must be at least 40 \(got 39\)"):
        generate(39)
