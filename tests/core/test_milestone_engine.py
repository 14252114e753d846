"""The milestone counting engine: the exact semantics (DESIGN.md, "Semantics worth getting
exactly right"), a brute-force oracle for the batch answer, and the streaming contract:
whatever the arrival order within the allowed lateness, emitted minus retracted changes
equal the batch answer."""

from __future__ import annotations

import pickle
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from variance.core import milestone_engine
from variance.core.milestone_engine import (
    ACHIEVED,
    Change,
    Diff,
    LateEventError,
    MilestoneRule,
    MilestoneState,
    changes_between,
)

DAY = 86_400_000_000
FAR = 10**18


def achieved(at_us: int, count: int) -> Change:
    return Change("achieved", at_us, count)


def lost(at_us: int, count: int) -> Change:
    return Change("lost", at_us, count)


def streamed(rule: MilestoneRule, times: Iterable[int], as_of_us: int, lateness_us: int = 0) -> list[Change]:
    """Add every time to a fresh state, advance once, return what it emitted."""
    state = MilestoneState(rule, lateness_us)
    for t in times:
        state.add(t)
    diff = state.advance(as_of_us)
    assert diff.retracted == []
    return diff.added


def brute_force(rule: MilestoneRule, times: list[int], as_of_us: int) -> list[Change]:
    """The definition read literally, at every integer instant (times are small integers)."""
    window, n = rule.window_us, rule.threshold
    changes = []
    for t in range(min(times, default=0), as_of_us + 1):
        if window is None:
            before = sum(1 for s in times if s < t)
            after = sum(1 for s in times if s <= t)
        else:
            before = sum(1 for s in times if t - window <= s < t)
            after = sum(1 for s in times if t - window < s <= t)
        if before < n <= after:
            changes.append(achieved(t, after))
        elif after < n <= before:
            changes.append(lost(t, after))
    return changes


class TestRuleAndChange:
    @pytest.mark.parametrize(
        ("threshold", "window_us"), [(0, None), (-1, 10), (True, None), (1.5, None), (1, 0), (1, -5), (1, 2.0)]
    )
    def test_invalid_rules_are_rejected(self, threshold, window_us):
        with pytest.raises(ValueError):
            MilestoneRule(threshold, window_us)

    def test_negative_lateness_is_rejected(self):
        with pytest.raises(ValueError, match="lateness_us"):
            MilestoneState(MilestoneRule(1), -1)

    def test_changes_order_by_time_then_kind(self):
        assert sorted([lost(5, 1), achieved(9, 3), achieved(5, 2)]) == [achieved(5, 2), lost(5, 1), achieved(9, 3)]
        assert achieved(1, 9) < lost(2, 0)


class TestWindowedExamples:
    def test_three_in_thirty_days_is_achieved_at_the_third_and_lost_when_the_first_expires(self):
        rule = MilestoneRule(3, 30 * DAY)
        times = [0, 10 * DAY, 20 * DAY]
        expected = [achieved(20 * DAY, 3), lost(30 * DAY, 2)]
        assert changes_between(rule, times, FAR) == expected
        assert streamed(rule, times, FAR) == expected

    def test_an_event_exactly_a_window_earlier_does_not_count(self):
        rule = MilestoneRule(2, 10)
        assert changes_between(rule, [0, 10], FAR) == []
        assert changes_between(rule, [0, 9], FAR) == [achieved(9, 2), lost(10, 1)]

    def test_equal_timestamps_count_together(self):
        assert changes_between(MilestoneRule(3, 10), [5, 5, 5], FAR) == [achieved(5, 3), lost(15, 0)]
        assert changes_between(MilestoneRule(2, 10), [5, 5, 5, 5], FAR) == [achieved(5, 4), lost(15, 0)]

    def test_an_arrival_at_the_instant_of_an_expiry_emits_nothing_for_that_instant(self):
        rule = MilestoneRule(2, 10)
        assert changes_between(rule, [0, 5], FAR) == [achieved(5, 2), lost(10, 1)]
        assert changes_between(rule, [0, 5, 10], FAR) == [achieved(5, 2), lost(15, 1)]

    def test_achieved_then_lost_then_achieved_again(self):
        expected = [achieved(5, 2), lost(10, 1), achieved(32, 2), lost(40, 1)]
        assert changes_between(MilestoneRule(2, 10), [32, 0, 30, 5], FAR) == expected

    def test_the_count_carried_is_the_count_after_the_change(self):
        # Two expire at 10 while one arrives: from 3 straight to 2, below the threshold.
        assert changes_between(MilestoneRule(3, 10), [0, 0, 5, 10], FAR) == [achieved(5, 3), lost(10, 2)]


class TestUnwindowedExamples:
    def test_achieved_at_the_nth_event_and_never_lost(self):
        rule = MilestoneRule(3)
        assert changes_between(rule, [9, 1, 7, 2], FAR) == [achieved(7, 3)]
        assert streamed(rule, [9, 1, 7, 2], FAR) == [achieved(7, 3)]

    def test_ties_at_the_nth_event_are_all_counted(self):
        assert changes_between(MilestoneRule(2), [1, 7, 7, 9], FAR) == [achieved(7, 3)]

    def test_fewer_than_n_events_achieve_nothing(self):
        assert changes_between(MilestoneRule(3), [1, 2], FAR) == []


class TestAsOf:
    def test_nothing_is_emitted_after_the_as_of_and_it_is_emitted_once_advanced(self):
        rule = MilestoneRule(2, 10)
        assert changes_between(rule, [0, 5], 4) == []
        assert changes_between(rule, [0, 5], 9) == [achieved(5, 2)]
        state = MilestoneState(rule, lateness_us=0)
        state.add(0)
        state.add(5)
        assert state.advance(4) == Diff()
        assert state.next_due_us() == 5
        assert state.advance(9) == Diff(added=[achieved(5, 2)])
        assert state.next_due_us() == 10
        assert state.advance(10) == Diff(added=[lost(10, 1)])
        assert state.next_due_us() is None

    def test_a_smaller_as_of_does_not_move_back_but_processes_new_events(self):
        state = MilestoneState(MilestoneRule(1, 10), lateness_us=5)
        state.advance(20)
        state.add(16)
        assert state.advance(3) == Diff(added=[achieved(16, 1)])
        assert state.as_of_us == 20
        assert state.next_due_us() == 26

    def test_unwindowed_next_due_is_the_nth_event_then_nothing(self):
        state = MilestoneState(MilestoneRule(2), lateness_us=0)
        state.add(30)
        state.add(40)
        assert state.next_due_us() == 40
        state.advance(10)
        assert state.next_due_us() == 40
        state.advance(40)
        assert state.next_due_us() is None


class TestOutOfOrder:
    def test_a_late_event_moves_emitted_changes_by_a_correction(self):
        state = MilestoneState(MilestoneRule(2, 10), lateness_us=20)
        state.add(0)
        state.add(5)
        assert state.advance(20) == Diff(added=[achieved(5, 2), lost(10, 1)])
        state.add(3)
        assert state.advance(20) == Diff(retracted=[achieved(5, 2), lost(10, 1)], added=[achieved(3, 2), lost(13, 1)])

    def test_a_late_event_at_an_emitted_instant_corrects_its_count(self):
        state = MilestoneState(MilestoneRule(2, 10), lateness_us=5)
        state.add(0)
        state.add(5)
        state.advance(7)
        state.add(5)
        assert state.advance(7) == Diff(retracted=[achieved(5, 2)], added=[achieved(5, 3)])

    def test_a_late_event_cancels_a_lost_whose_replacement_waits_for_its_time(self):
        state = MilestoneState(MilestoneRule(2, 10), lateness_us=5)
        state.add(0)
        state.add(5)
        assert state.advance(12) == Diff(added=[achieved(5, 2), lost(10, 1)])
        state.add(10)
        assert state.next_due_us() == 12  # a correction is due now
        assert state.advance(12) == Diff(retracted=[lost(10, 1)])
        assert state.next_due_us() == 15
        assert state.advance(15) == Diff(added=[lost(15, 1)])

    def test_an_event_exactly_at_the_horizon_still_corrects(self):
        state = MilestoneState(MilestoneRule(1, 10), lateness_us=5)
        state.add(10)
        assert state.advance(15) == Diff(added=[achieved(10, 1)])
        state.add(10)
        assert state.advance(15) == Diff(retracted=[achieved(10, 1)], added=[achieved(10, 2)])

    def test_an_event_older_than_the_lateness_is_refused(self):
        state = MilestoneState(MilestoneRule(2, 10), lateness_us=5)
        state.advance(100)
        assert state.horizon_us == 95
        assert state.accepts(95)
        assert not state.accepts(94)
        with pytest.raises(LateEventError):
            state.add(94)
        state.add(95)


class TestPersistence:
    def test_round_trip_mid_stream_changes_nothing(self):
        rule = MilestoneRule(3, 50)
        original = MilestoneState(rule, lateness_us=30)
        for t in [0, 10, 20, 45]:
            original.add(t)
        original.advance(40)
        original.add(35)  # out of order, not yet advanced: the pending correction must survive
        data = pickle.loads(pickle.dumps(original.to_state()))
        restored = MilestoneState.from_state(data)
        assert restored.to_state() == original.to_state()
        for state in (original, restored):
            state.add(50)
        assert restored.advance(60) == original.advance(60)
        assert restored.next_due_us() == original.next_due_us()
        assert restored.advance(FAR) == original.advance(FAR)

    def test_state_is_plain_data(self):
        state = MilestoneState(MilestoneRule(1, 10), lateness_us=3)
        state.add(4)
        state.advance(20)

        def plain(value) -> bool:
            if isinstance(value, (tuple, list)):
                return all(plain(v) for v in value)
            return value is None or type(value) is int

        assert plain(state.to_state())

    def test_unknown_version_is_refused(self):
        data = list(MilestoneState(MilestoneRule(1), 0).to_state())
        data[0] = 999
        with pytest.raises(ValueError, match="version"):
            MilestoneState.from_state(data)

    def test_rebuild_gives_the_batch_answer_and_continues(self):
        rule = MilestoneRule(2, 10)
        times = [30, 0, 5, 32]
        state, changes = MilestoneState.rebuild(rule, 5, times, 35)
        assert changes == changes_between(rule, times, 35) == [achieved(5, 2), lost(10, 1), achieved(32, 2)]
        assert state.next_due_us() == 40
        assert state.advance(40) == Diff(added=[lost(40, 1)])


class TestBoundedState:
    def test_windowed_state_keeps_only_the_window_plus_lateness(self):
        window, lateness, step = 100, 30, 1
        state = MilestoneState(MilestoneRule(5, window), lateness)
        for t in range(0, 10_000, step):
            state.add(t)
            state.advance(t)
        needed = window + lateness + 1
        assert len(state.retained_times) == needed
        assert len(state.to_state()[6]) == needed
        assert all(c.at_us >= 10_000 - 1 - lateness for c in state.retained_changes)

    def test_unwindowed_state_keeps_the_first_n_and_what_may_be_taken_back(self):
        state = MilestoneState(MilestoneRule(3), lateness_us=10)
        for t in [40, 50, 55, 60, 70, 80, 90]:
            state.add(t)
            state.advance(t)
        state.advance(95)
        state.compact()
        # horizon 85: 90 could still be removed and let a later event move up, 60..80 cannot
        assert state.retained_times == (40, 50, 55, 90)

    @pytest.mark.parametrize("window_us", [DAY, 90 * DAY])
    def test_in_order_events_evaluate_a_constant_number_of_instants_whatever_the_window(self, monkeypatch, window_us):
        """The cost guard: each in-order event evaluates its arrival and one expiry, never the
        whole window (timing-free, so it cannot flake)."""
        evaluated = 0
        real = milestone_engine._change_at

        def counting(rule, times, t):
            nonlocal evaluated
            evaluated += 1
            return real(rule, times, t)

        monkeypatch.setattr(milestone_engine, "_change_at", counting)
        minute, events = 60_000_000, 20_000
        state = MilestoneState(MilestoneRule(3, window_us), lateness_us=3 * DAY)
        for i in range(events):
            state.add(i * minute)
            state.advance(i * minute)
        assert evaluated <= 2 * events


# -- properties ------------------------------------------------------------------------------

rules = st.builds(
    MilestoneRule,
    threshold=st.integers(1, 4),
    window_us=st.one_of(st.none(), st.integers(1, 15)),
)


@settings(max_examples=400, deadline=None)
@given(rule=rules, times=st.lists(st.integers(0, 40), max_size=12), as_of=st.integers(-5, 70))
def test_batch_answer_matches_the_brute_force_oracle(rule, times, as_of):
    assert changes_between(rule, times, as_of) == brute_force(rule, times, as_of)


def assert_next_due_is_a_lower_bound(state: MilestoneState, all_times: list[int]) -> None:
    """No change happens strictly between the as-of and next_due_us (none at all if None)."""
    as_of, due = state.as_of_us, state.next_due_us()
    upcoming = [c for c in changes_between(state.rule, all_times, FAR) if c.at_us > as_of]
    if due is None:
        assert upcoming == []
    else:
        assert due > as_of
        assert all(c.at_us >= due for c in upcoming)


def assert_nothing_unneeded_is_kept(state: MilestoneState, all_times: list[int]) -> None:
    state.compact()
    horizon, rule = state.horizon_us, state.rule
    if rule.window_us is not None:
        assert state.retained_times == tuple(sorted(t for t in all_times if t >= horizon - rule.window_us))
    else:
        ordered = sorted(all_times)
        if len(ordered) >= rule.threshold:
            nth = ordered[rule.threshold - 1]
            # the first N, and later ones only while they may still be taken back
            ordered = [t for t in ordered if t <= nth or t >= horizon]
        assert state.retained_times == tuple(ordered)
    assert all(c.at_us >= horizon for c in state.retained_changes)


@settings(max_examples=400, deadline=None)
@given(rule=rules, lateness=st.integers(0, 30), data=st.data())
def test_streaming_equals_the_batch_answer_whatever_the_arrival_order(rule, lateness, data):
    state = MilestoneState(rule, lateness)
    all_times: list[int] = []
    current: set[Change] = set()
    max_as_of: int | None = None
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        op = data.draw(st.sampled_from(["add", "add", "advance", "compact", "round_trip"]), label="op")
        if op == "add":
            # Mostly around the as-of, so that late arrivals (corrections) are common.
            earliest = 0 if max_as_of is None else max(0, max_as_of - lateness)
            t = data.draw(st.integers(earliest, max(earliest, max_as_of or 0) + 25), label="t")
            state.add(t)
            all_times.append(t)
        elif op == "advance":
            base = 0 if max_as_of is None else max_as_of
            as_of = data.draw(st.integers(base - 5, base + 30), label="as_of")
            diff = state.advance(as_of)
            max_as_of = as_of if max_as_of is None else max(max_as_of, as_of)
            assert set(diff.retracted) <= current
            assert not set(diff.added) & current
            assert diff.retracted == sorted(diff.retracted) and diff.added == sorted(diff.added)
            current = (current - set(diff.retracted)) | set(diff.added)
            assert sorted(current) == changes_between(rule, all_times, max_as_of)
            assert_next_due_is_a_lower_bound(state, all_times)
            assert_nothing_unneeded_is_kept(state, all_times)
        elif op == "compact":
            state.compact()
        else:
            state = MilestoneState.from_state(pickle.loads(pickle.dumps(state.to_state())))
    final = (0 if max_as_of is None else max_as_of) + data.draw(st.integers(0, 60), label="final")
    diff = state.advance(final)
    current = (current - set(diff.retracted)) | set(diff.added)
    assert sorted(current) == changes_between(rule, all_times, final)


@settings(max_examples=200, deadline=None)
@given(rule=rules, times=st.lists(st.integers(0, 60), max_size=15), as_of=st.integers(0, 90))
def test_rebuild_equals_the_batch_answer(rule, times, as_of):
    state, changes = MilestoneState.rebuild(rule, 10, times, as_of)
    assert changes == changes_between(rule, times, as_of)
    rest = state.advance(FAR)
    assert rest.retracted == []
    assert changes + rest.added == changes_between(rule, times, FAR)


class TestRemove:
    """Taking an event back (it belonged to another entity) corrects history like a late add."""

    def test_removing_the_event_that_reached_the_threshold_retracts_the_achievement(self):
        state = MilestoneState(MilestoneRule(2, window_us=100), lateness_us=1_000)
        state.add(10)
        state.add(20)
        assert state.advance(50).added == [Change(ACHIEVED, 20, 2)]
        assert state.remove(20) is True
        diff = state.advance(60)
        assert diff.retracted == [Change(ACHIEVED, 20, 2)] and diff.added == []
        assert state.remove(33) is False

    def test_unwindowed_removal_lets_the_next_event_reach_the_threshold(self):
        state = MilestoneState(MilestoneRule(2), lateness_us=1_000)
        for t in (10, 20, 30):
            state.add(t)
        assert state.advance(40).added == [Change(ACHIEVED, 20, 2)]
        state.remove(10)
        diff = state.advance(40)
        assert diff.retracted == [Change(ACHIEVED, 20, 2)]
        assert diff.added == [Change(ACHIEVED, 30, 2)]


@given(
    events=st.lists(st.integers(0, 400), min_size=1, max_size=40),
    removals=st.lists(st.integers(0, 39), max_size=10),
    threshold=st.integers(1, 4),
    window=st.one_of(st.none(), st.integers(1, 150)),
)
@settings(max_examples=300, deadline=None)
def test_adds_and_removes_equal_the_batch_answer_over_what_remains(events, removals, threshold, window):
    rule = MilestoneRule(threshold, window)
    state = MilestoneState(rule, lateness_us=10_000)
    emitted: set[Change] = set()
    for t in events:
        state.add(t)
    diff = state.advance(200)
    emitted |= set(diff.added)
    remaining = list(events)
    for index in removals:
        if index < len(remaining):
            t = remaining.pop(index)
            assert state.remove(t)
            diff = state.advance(450)
            emitted -= set(diff.retracted)
            emitted |= set(diff.added)
    diff = state.advance(450)
    emitted = (emitted - set(diff.retracted)) | set(diff.added)
    assert sorted(emitted) == changes_between(rule, remaining, 450)
