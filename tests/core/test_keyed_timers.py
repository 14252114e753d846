"""When each key's event-time timer fires (core/engine/keyed.py): at milestone changes,
at an arrival well past the time the key is settled to, and when its oldest kept event
leaves the lateness, a slice at a time. Not at every arrival: on Beam's local runner each
firing is a bundle of its own."""

from __future__ import annotations

from tests.support.events import DAY, HOUR, T0, config, event, milestone, track
from variance.core.engine.keyed import (
    AccountCount,
    AccountKey,
    AnonymousArrival,
    AnonymousKey,
    Arrival,
    ContactKey,
    Counted,
    prune_due,
    settle_step,
)

LATENESS = 3 * DAY
STEP = LATENESS // 8  # 9 hours


def _contact() -> ContactKey:
    return ContactKey("org_a", "u1", "contact", LATENESS)


def _arrive(key: ContactKey, cfg, e, counted: Counted = Counted()) -> None:
    key.arrive(cfg, Arrival(e, None, counted, 0), 0)
    key.arrived(e.event_time)


def test_the_settle_step_is_an_eighth_of_the_lateness_and_at_least_a_millisecond():
    assert settle_step(LATENESS) == STEP
    assert settle_step(0) == 1000


def test_prune_due_is_just_past_the_lateness_rounded_up_to_a_step():
    assert prune_due(None, LATENESS) is None
    assert prune_due(T0, LATENESS) == -(-(T0 + LATENESS + 1) // STEP) * STEP
    assert T0 + LATENESS < prune_due(T0, LATENESS) <= T0 + LATENESS + STEP
    # events within one step share one firing
    slot = prune_due(T0, LATENESS)
    last_in_slot = slot - LATENESS - 1
    assert prune_due(last_in_slot - 8 * HOUR, LATENESS) == slot
    assert prune_due(last_in_slot + 1, LATENESS) == slot + STEP


def test_arrivals_within_a_step_of_the_settled_time_arm_no_new_timer():
    cfg = config()
    key = _contact()
    _arrive(key, cfg, event("page", "p1", T0, user="u1"))
    assert key.timer_at() == T0  # the first arrival settles the key
    key.advance(cfg, T0, "streaming", 0)
    assert key.as_of == T0 and key.settle_at is None
    _arrive(key, cfg, event("page", "p2", T0 + 8 * HOUR, user="u1"))
    # only the pruning of p1 is due, three days and a bit on
    assert key.settle_at is None
    assert key.timer_at() == prune_due(T0, LATENESS)
    _arrive(key, cfg, event("page", "p3", T0 + 10 * HOUR, user="u1"))
    assert key.settle_at == T0 + 10 * HOUR
    assert key.timer_at() == T0 + 10 * HOUR


def test_a_pending_settle_survives_an_earlier_firing():
    """One timer per key: a prune that fires first must not lose the arrival to settle to."""
    cfg = config()
    key = _contact()
    _arrive(key, cfg, event("page", "old", T0 - 10 * DAY, user="u1"))
    key.advance(cfg, T0 - 10 * DAY, "streaming", 0)
    _arrive(key, cfg, event("page", "new", T0, user="u1"))
    first = key.timer_at()
    assert first == prune_due(T0 - 10 * DAY, LATENESS) < T0
    key.advance(cfg, first, "streaming", 0)
    assert "old" not in key.entries and "new" in key.entries
    assert key.timer_at() == T0
    key.advance(cfg, T0, "streaming", 0)
    assert key.as_of == T0 and key.settle_at is None
    assert key.late(T0 - LATENESS - 1) and not key.late(T0 - LATENESS)


def test_a_batch_never_prunes_and_settles_only_up_to_its_cap():
    cfg = config()
    key = _contact()
    key.arrive(cfg, Arrival(event("page", "p1", T0, user="u1"), None, Counted(), 0), 0)
    key.arrived(T0 + DAY, cap=T0)
    assert key.settle_at is None
    key.arrived(T0, cap=T0)
    assert key.timer_at(cap=T0) == T0
    key.advance(cfg, T0, "batch", 0)
    assert key.timer_at(cap=T0) is None  # the entry stays: nothing after a batch needs it gone


def test_counted_arrivals_are_changes_due_whatever_the_settled_time():
    cfg = config(milestones=[milestone("m", entity="contact", threshold=1, window_us=None)])
    key = _contact()
    _arrive(key, cfg, event("page", "p1", T0, user="u1"))
    key.advance(cfg, T0, "streaming", 0)
    _arrive(key, cfg, track("t1", T0 + HOUR, user="u1"), Counted(contact=("m",)))
    assert key.settle_at is None
    assert key.timer_at() == T0 + HOUR


def test_account_keys_prune_the_counts_they_hold_a_slice_at_a_time():
    cfg = config(milestones=[milestone("m", threshold=5)])
    key = AccountKey("org_a", "acme", "account", LATENESS)
    for i, t in enumerate((T0, T0 + HOUR)):
        key.receive(cfg, AccountCount(f"t{i}", "u1", t, ("m",), (0, 1), True))
        key.arrived(t)
    key.advance(cfg, T0 + HOUR, "streaming", 0)
    due = key.timer_at()
    assert due is not None and due > T0 + LATENESS
    key.advance(cfg, due, "streaming", 0)
    assert key.counts == {}  # both within the same slice


def test_anonymous_keys_prune_events_that_count_for_nothing_too():
    key = AnonymousKey("org_a", "visitor", LATENESS)
    key.arrive(AnonymousArrival(event("page", "p1", T0, anon="visitor"), None, Counted()))
    assert key.prune_due() == prune_due(T0, LATENESS)
    key.prune_before(key.prune_due() - LATENESS)
    assert key.entries == {} and key.prune_due() is None


def test_the_settled_time_survives_the_encoded_state():
    cfg = config()
    key = _contact()
    _arrive(key, cfg, event("page", "p1", T0, user="u1"))
    again = ContactKey.from_state(key.to_state())
    assert again.settle_at == T0 and again.timer_at() == key.timer_at()
    account = AccountKey("org_a", "acme", "account", LATENESS, as_of=T0, settle_at=T0 + DAY)
    assert AccountKey.from_state(account.to_state()).settle_at == T0 + DAY


def test_the_oldest_kept_event_is_kept_up_without_a_scan_and_found_again_after_a_prune():
    """An account's key answers its prune time from the oldest event it keeps, kept up as
    events arrive (out of order too) and found again after a prune forgets some; the
    answer is always the one a scan of what it keeps gives."""
    import random

    rng = random.Random(7)
    cfg = config(milestones=[milestone("m", threshold=3, window_us=DAY)])
    key = AccountKey("org_a", "acme", "account", LATENESS)
    scans = 0
    scan = key._oldest

    def counting_scan():
        nonlocal scans
        scans += 1
        return scan()

    key._oldest = counting_scan  # type: ignore[method-assign]
    newest = T0
    for i in range(400):
        t = newest - rng.randrange(0, 2 * DAY) if i % 3 else newest + rng.randrange(0, 4 * HOUR)
        newest = max(newest, t)
        key.receive(cfg, AccountCount(f"t{i}", f"u{i % 7}", t, ("m",), (0, 1), True))
        assert key.prune_due() == prune_due(scan(), LATENESS)
        if i % 100 == 99:
            key.advance(cfg, newest, "streaming", 0)  # forgets what left the lateness
            assert key.prune_due() == prune_due(scan(), LATENESS)
    assert scans <= 1 + 4  # once at the start, once after each prune
