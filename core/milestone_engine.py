"""Milestone counting: when a contact or account reaches or loses a milestone, in event time.

One definition shared by the streaming transform, the batch backfill and the plain-Python
benchmark reference, so all three give the same changes for the same events (DESIGN.md,
"Semantics worth getting exactly right"). Pure Python, no Beam, no I/O.

For one milestone (threshold ``N``, optional window ``W``) and one entity, with ``S`` the
event times of its matching events (already de-duplicated by ``messageId``; equal times are
distinct events that count together), all times ``int`` microseconds since the epoch:

* windowed: ``count(t) = |{s in S : t - W < s <= t}|`` and, just before ``t``,
  ``count(t-) = |{s in S : t - W <= s < t}|``. The count steps only at an arrival ``s`` or an
  expiry ``s + W``; arrivals and expiries at the same instant apply together. The milestone
  is *achieved* at ``t`` when ``count(t-) < N <= count(t)`` and *lost* when
  ``count(t-) >= N > count(t)``; each change carries ``count(t)``.
* unwindowed (``W`` is None): the same rule with an infinite window, so it is achieved once,
  at the N-th smallest event time, and never lost.
* a change is emitted only once its time is at or before the as-of time; later ones wait.

:func:`changes_between` is the batch answer. :class:`MilestoneState` gives the same answer
incrementally, event by event, for streaming.
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from variance.core.vocabulary import ChangeKind

# Plain strings (the enum's values): a change's kind goes into rows and state as it is.
ACHIEVED: str = ChangeKind.achieved.value
LOST: str = ChangeKind.lost.value

# The plain-data layout MilestoneState.to_state() writes (see there), and its version.
STATE_VERSION = 1
StateData = tuple[int, int, int | None, int, int | None, int | None, list[int], list[tuple[int, int, int]]]
_KIND_CODES: dict[str, int] = {ACHIEVED: 0, LOST: 1}
_KINDS_BY_CODE: tuple[str, ...] = (ACHIEVED, LOST)

# Dead entries at the front of a sorted list are deleted once they are at least
# 1/_PRUNE_SHARE of it: deleting a prefix moves the whole list, so doing it on every event
# would cost O(window) per event; this way each entry is moved O(1) times on average and
# the lists never hold more than 4/3 of what is still needed.
_PRUNE_SHARE = 4


@dataclass(frozen=True, slots=True)
class MilestoneRule:
    """What to count: at least ``threshold`` events, within ``window_us`` if one is set."""

    threshold: int
    window_us: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int) or self.threshold < 1:
            raise ValueError(f"threshold must be an integer >= 1, got {self.threshold!r}")
        window = self.window_us
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
            raise ValueError(f"window_us must be None or an integer > 0, got {window!r}")


@functools.total_ordering
@dataclass(frozen=True, slots=True)
class Change:
    """The milestone was achieved or lost at ``at_us``; ``count`` is the count just after.

    Ordered by time first (then kind, then count), the order a feed shows them in. For one
    milestone and entity there is at most one change per instant.
    """

    kind: str  # ChangeKind's value: achieved | lost
    at_us: int
    count: int

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Change):
            return NotImplemented
        return (self.at_us, self.kind, self.count) < (other.at_us, other.kind, other.count)


@dataclass(frozen=True, slots=True)
class Diff:
    """What one :meth:`MilestoneState.advance` changed in the emitted history.

    ``retracted`` were emitted earlier and are no longer true (an out-of-order event moved
    or cancelled them); ``added`` are new. A correction is a retraction plus an addition.
    Both lists are sorted.
    """

    retracted: list[Change] = field(default_factory=list)
    added: list[Change] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.retracted or self.added)


class LateEventError(ValueError):
    """An event older than the state's horizon: counting it could change changes that were
    already pruned. The caller records it as skipped (dbt's recomputation still counts it)."""


def changes_between(rule: MilestoneRule, times: Iterable[int], as_of_us: int) -> list[Change]:
    """Every change up to and including ``as_of_us``, from all of an entity's event times.

    The batch reference that backfills call per entity: sort, then evaluate each instant where
    the count can step. O(n log n) in the number of events, whatever the window.
    """
    ordered = sorted(times)
    if not ordered:
        return []
    return _changes_in(rule, ordered, ordered[0], as_of_us)


def _counts_around(rule: MilestoneRule, times: Sequence[int], t: int) -> tuple[int, int]:
    """``(count(t-), count(t))`` over sorted ``times``, by bisection."""
    window = rule.window_us
    if window is None:
        return bisect_left(times, t), bisect_right(times, t)
    start = t - window
    before = bisect_left(times, t) - bisect_left(times, start)
    after = bisect_right(times, t) - bisect_right(times, start)
    return before, after


def _change_at(rule: MilestoneRule, times: Sequence[int], t: int) -> Change | None:
    """The change at instant ``t``, if the count crosses the threshold there."""
    before, after = _counts_around(rule, times, t)
    threshold = rule.threshold
    if before < threshold <= after:
        return Change(ACHIEVED, t, after)
    if after < threshold <= before:
        return Change(LOST, t, after)
    return None


def _step_instants(rule: MilestoneRule, times: list[int], lo: int, hi: int) -> list[int]:
    """The distinct instants in ``[lo, hi]`` where the count can step: arrivals and expiries.

    Found by bisection, so the cost is in the number of such instants, not in the window.
    """
    arrivals = times[bisect_left(times, lo) : bisect_right(times, hi)]
    window = rule.window_us
    if window is None:
        return sorted(set(arrivals))
    expiring = times[bisect_left(times, lo - window) : bisect_right(times, hi - window)]
    return sorted({*arrivals, *(s + window for s in expiring)})


def _changes_in(rule: MilestoneRule, times: list[int], lo: int, hi: int) -> list[Change]:
    """The changes at instants in ``[lo, hi]``, over sorted ``times``, in time order."""
    if lo > hi:
        return []
    changes = []
    for t in _step_instants(rule, times, lo, hi):
        change = _change_at(rule, times, t)
        if change is not None:
            changes.append(change)
    return changes


class _EmittedChanges:
    """Emitted changes still open to correction, sorted by time (at most one per instant)."""

    __slots__ = ("_at", "_changes")

    def __init__(self, changes: Iterable[Change] = ()) -> None:
        self._changes: list[Change] = sorted(changes)
        self._at: list[int] = [c.at_us for c in self._changes]

    def __iter__(self) -> Iterator[Change]:
        return iter(self._changes)

    def __len__(self) -> int:
        return len(self._changes)

    def replace(self, lo: int, hi: int, fresh: list[Change]) -> Diff:
        """Make ``fresh`` the changes in ``[lo, hi]``; return what that retracts and adds."""
        i, j = bisect_left(self._at, lo), bisect_right(self._at, hi)
        stale = self._changes[i:j]
        if stale == fresh:
            return Diff()
        stale_set, fresh_set = set(stale), set(fresh)
        diff = Diff(
            retracted=[c for c in stale if c not in fresh_set],
            added=[c for c in fresh if c not in stale_set],
        )
        self._changes[i:j] = fresh
        self._at[i:j] = [c.at_us for c in fresh]
        return diff

    def prune_before(self, horizon_us: int, *, force: bool) -> None:
        """Forget changes before the horizon: no accepted event can retract them any more."""
        dead = bisect_left(self._at, horizon_us)
        if dead and (force or dead * _PRUNE_SHARE >= len(self._at)):
            del self._changes[:dead]
            del self._at[:dead]


class MilestoneState:
    """One milestone for one entity, counted incrementally as events arrive (streaming).

    Use: :meth:`add` each matching event, then :meth:`advance` to the watermark and emit the
    returned :class:`Diff`; set an event-time timer at :meth:`next_due_us` and advance again
    when it fires.

    Contract: every added time must be at or after :attr:`horizon_us` (the highest as-of seen
    minus ``lateness_us``); :meth:`add` raises :class:`LateEventError` otherwise, and
    :meth:`accepts` tells beforehand. Under that contract, whatever the arrival order, the
    emitted changes minus the retracted ones always equal ``changes_between(rule,
    all_added_times, as_of_us)``.

    Cost: an in-order add plus advance is O(log n) amortized: advance evaluates only the
    instants in (previous as-of, new as-of], found by bisection, so a 90-day window costs
    about what a 1-day window does. An out-of-order add at ``s`` re-evaluates the instants in
    ``[s, as-of]``. Memory: event times older than the horizon minus the window, and changes
    older than the horizon, are dropped (unwindowed: only the times up to the N-th are kept).
    """

    __slots__ = ("_as_of", "_dirty_from", "_emitted", "_times", "lateness_us", "rule")

    def __init__(self, rule: MilestoneRule, lateness_us: int) -> None:
        if isinstance(lateness_us, bool) or not isinstance(lateness_us, int) or lateness_us < 0:
            raise ValueError(f"lateness_us must be an integer >= 0, got {lateness_us!r}")
        self.rule = rule
        self.lateness_us = lateness_us
        self._times: list[int] = []  # sorted; may hold a dead prefix, see _prune
        self._emitted = _EmittedChanges()
        self._as_of: int | None = None  # highest as-of seen; None before the first advance
        self._dirty_from: int | None = None  # earliest time added since the last advance

    # -- reading ---------------------------------------------------------------------------

    @property
    def as_of_us(self) -> int | None:
        """The highest as-of time advanced to; changes up to it have been emitted."""
        return self._as_of

    @property
    def horizon_us(self) -> int | None:
        """The earliest event time :meth:`add` accepts (None: anything, nothing emitted yet)."""
        return None if self._as_of is None else self._as_of - self.lateness_us

    def accepts(self, t_us: int) -> bool:
        """Whether an event at ``t_us`` is within the allowed lateness and can be added."""
        horizon = self.horizon_us
        return horizon is None or t_us >= horizon

    @property
    def retained_times(self) -> tuple[int, ...]:
        """The event times still needed, sorted (what :meth:`to_state` keeps)."""
        return tuple(self._times[self._dead_times() :])

    @property
    def retained_changes(self) -> tuple[Change, ...]:
        """Emitted changes that a late event could still retract."""
        return tuple(self._emitted)

    def next_due_us(self) -> int | None:
        """The earliest time after the as-of at which a change can occur, for a timer.

        A lower bound that is exact unless an event arrives first: the next known arrival,
        or, while the milestone holds, the expiry that would bring the count below the
        threshold. None when nothing can change without new events. If events added since the
        last :meth:`advance` may correct emitted history, the as-of itself is returned: advance
        now.
        """
        as_of, times, threshold = self._as_of, self._times, self.rule.threshold
        if as_of is not None and self._dirty_from is not None and self._dirty_from <= as_of:
            return as_of
        if self.rule.window_us is None:
            if len(times) < threshold:
                return None
            nth = times[threshold - 1]
            return nth if as_of is None or nth > as_of else None
        if as_of is None:
            return times[0] if times else None
        later = bisect_right(times, as_of)
        next_arrival = times[later] if later < len(times) else None
        oldest_counted = bisect_right(times, as_of - self.rule.window_us)
        if later - oldest_counted < threshold:
            return next_arrival
        # Only expiries until the next arrival: the count falls below the threshold when the
        # (count - N + 1)-th oldest counted event expires.
        losing_expiry = times[later - threshold] + self.rule.window_us
        return losing_expiry if next_arrival is None else min(next_arrival, losing_expiry)

    # -- changing --------------------------------------------------------------------------

    def add(self, t_us: int) -> None:
        """Record one matching event; its changes are emitted by the next :meth:`advance`."""
        if not self.accepts(t_us):
            raise LateEventError(
                f"event at {t_us} is before the horizon {self.horizon_us} "
                f"(as-of {self._as_of} minus lateness {self.lateness_us}); skip it and record why"
            )
        insort(self._times, t_us)
        if self._dirty_from is None or t_us < self._dirty_from:
            self._dirty_from = t_us

    def remove(self, t_us: int) -> bool:
        """Take back one event at ``t_us`` (it turned out to belong to another entity).

        Like an out-of-order add, it may correct emitted changes from ``t_us`` on; the same
        horizon applies. Returns False when no event at that time is held.
        """
        if not self.accepts(t_us):
            raise LateEventError(f"event at {t_us} is before the horizon {self.horizon_us}; it cannot be taken back")
        times = self._times
        i = bisect_left(times, t_us, self._dead_times())
        if i == len(times) or times[i] != t_us:
            return False
        del times[i]
        if self._dirty_from is None or t_us < self._dirty_from:
            self._dirty_from = t_us
        return True

    def advance(self, as_of_us: int) -> Diff:
        """Emit the changes up to ``max(as_of_us, as-of so far)`` that events added since the
        last call create, move or cancel; then drop what can no longer matter.

        A smaller ``as_of_us`` than before does not move the as-of back, but the events added
        meanwhile are still processed.
        """
        previous = self._as_of
        as_of = as_of_us if previous is None else max(previous, as_of_us)
        start = self._recompute_from(previous)
        self._as_of, self._dirty_from = as_of, None
        diff = Diff()
        if start is not None and start <= as_of:
            diff = self._emitted.replace(start, as_of, _changes_in(self.rule, self._times, start, as_of))
        self._prune(force=False)
        return diff

    def _recompute_from(self, previous_as_of: int | None) -> int | None:
        """The first instant whose change may differ from what was emitted: just after the
        previous as-of, or the earliest event added since, whichever is earlier."""
        if previous_as_of is None:
            return self._dirty_from
        if self._dirty_from is None:
            return previous_as_of + 1
        return min(self._dirty_from, previous_as_of + 1)

    def _dead_times(self) -> int:
        """How many of the smallest event times can no longer affect any change."""
        window, horizon = self.rule.window_us, self.horizon_us
        if window is None or horizon is None:
            return 0
        # Every instant still evaluated is >= horizon, and counts there only look back to
        # horizon - window (inclusive, for count(t-)).
        return bisect_left(self._times, horizon - window)

    def compact(self) -> None:
        """Drop now everything that can no longer matter (:meth:`advance` does it lazily)."""
        self._prune(force=True)

    def _prune(self, *, force: bool) -> None:
        """Drop event times and emitted changes that can no longer matter (see _PRUNE_SHARE)."""
        times, threshold = self._times, self.rule.threshold
        if self.rule.window_us is None:
            # The first N decide; later events matter only while they may still be
            # taken back (remove) and move up, i.e. while they are at or after the horizon.
            horizon = self.horizon_us
            if len(times) > threshold and horizon is not None:
                first_after_nth = bisect_right(times, times[threshold - 1])
                keep_from = max(first_after_nth, bisect_left(times, horizon))
                del times[first_after_nth:keep_from]
        else:
            dead = self._dead_times()
            if dead and (force or dead * _PRUNE_SHARE >= len(times)):
                del times[:dead]
        if self._as_of is not None:
            self._emitted.prune_before(self._as_of - self.lateness_us, force=force)

    # -- persistence -------------------------------------------------------------------------

    def to_state(self) -> StateData:
        """Plain, picklable data (ints, tuples, lists) holding everything still needed.

        Layout: ``(STATE_VERSION, threshold, window_us, lateness_us, as_of_us, dirty_from_us,
        times, changes)`` with ``changes`` as ``(at_us, kind_code, count)`` tuples, kind codes
        0 = achieved, 1 = lost. The rule travels with the state so a reader can tell when the
        milestone's definition changed and the state must be rebuilt.
        """
        self.compact()
        changes = [(c.at_us, _KIND_CODES[c.kind], c.count) for c in self._emitted]
        return (
            STATE_VERSION,
            self.rule.threshold,
            self.rule.window_us,
            self.lateness_us,
            self._as_of,
            self._dirty_from,
            list(self._times),
            changes,
        )

    @classmethod
    def from_state(cls, data: Sequence[Any]) -> MilestoneState:
        """The state :meth:`to_state` wrote, ready to continue."""
        version, threshold, window_us, lateness_us, as_of, dirty_from, times, changes = data
        if version != STATE_VERSION:
            raise ValueError(f"unknown milestone state version {version!r} (this code reads {STATE_VERSION})")
        state = cls(MilestoneRule(threshold, window_us), lateness_us)
        state._times = list(times)
        state._emitted = _EmittedChanges(Change(_KINDS_BY_CODE[code], at, count) for at, code, count in changes)
        state._as_of, state._dirty_from = as_of, dirty_from
        return state

    @classmethod
    def rebuild(
        cls, rule: MilestoneRule, lateness_us: int, times: Iterable[int], as_of_us: int
    ) -> tuple[MilestoneState, list[Change]]:
        """A state from an entity's full history (after a restart or a milestone edit), and
        the changes as of ``as_of_us``, equal to ``changes_between(rule, times, as_of_us)``.

        O(n log n): the history is sorted once rather than added event by event.
        """
        state = cls(rule, lateness_us)
        state._times = sorted(times)
        if state._times:
            state._dirty_from = state._times[0]
        state._prune(force=True)
        return state, state.advance(as_of_us).added
