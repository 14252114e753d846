"""OrgEngine: one organisation's events in, warehouse rows out.

Per event: de-duplicate by messageId, record identity links, attribute the event to its
contact and account as of its event time, count it for every milestone it matches, and
route it to its streams. Per advance (the watermark in streaming, the as-of time in a
backfill): emit the milestone changes up to then, corrections included, and route them
(Milestone events) to streams too.

An identity link that arrives after events it applies to (an identify or group call
delayed on a phone) moves those events' milestone counts to the right contact or
account, so the current milestone changes end up the same whatever the arrival order.
Their stream matches stay as first routed: a Slack message cannot be taken back.

Rows are ``(table, row)`` pairs built by the typed records of ``variance.core.rows``: the
warehouse tables' rows, and ``ACTIVITY`` rows that feed the daily activity counts.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from variance.core.engine import records
from variance.core.engine.config import MilestoneSpec, OrgConfig
from variance.core.engine.records import account_link_for
from variance.core.events import EventKind, SignalEvent
from variance.core.identity import IdentityGraph, user_links_of
from variance.core.milestone_engine import Change, LateEventError, MilestoneRule, MilestoneState
from variance.core.rows import MilestoneChangeRecord, dead_letter
from variance.core.vocabulary import ChangeSource, EntityType, RowStatus, Stage
from variance.core.warehouse import Row

_CONTACT = EntityType.contact.value
_ACCOUNT = EntityType.account.value
_CURRENT = RowStatus.current.value
_RETRACTED = RowStatus.retracted.value
_MILESTONE = EventKind.milestone.value


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclass(slots=True)
class _Counted:
    """An event counted for milestones whose entity may still change (for corrections)."""

    message_id: str
    event_time: int
    anonymous_id: str | None  # set when the contact came from an anonymousId
    explicit_account: bool
    contact: str | None
    account: str | None
    contact_milestones: tuple[str, ...]
    account_milestones: tuple[str, ...]


@dataclass
class EngineStats:
    events: int = 0
    duplicates: int = 0
    late: int = 0
    changes: int = 0
    matches: int = 0
    corrections: int = 0


@dataclass
class OrgEngine:
    org_id: str
    lateness_us: int
    dedupe_us: int = 2 * 86_400_000_000
    source: str = ChangeSource.streaming.value
    clock: Callable[[], int] = _now_us
    config: OrgConfig = field(init=False)
    # When the streaming pipeline next re-reads this organisation's configuration
    # (processing time, seconds); kept with the engine so it travels with its state.
    wake_at: float | None = None
    stats: EngineStats = field(default_factory=EngineStats)

    def __post_init__(self) -> None:
        self.config = OrgConfig(org_id=self.org_id)
        self.identity = IdentityGraph()
        self.as_of: int | None = None
        self._seen: dict[str, int] = {}
        self._states: dict[tuple[str, str], MilestoneState] = {}
        self._due: list[tuple[int, str, str]] = []
        self._by_anonymous: dict[str, list[_Counted]] = {}
        self._by_contact: dict[str, list[_Counted]] = {}
        self._pruned_at: int | None = None

    # -- configuration ------------------------------------------------------------------------

    def configure(self, config: OrgConfig) -> list[MilestoneSpec]:
        """Take a new configuration; returns the milestones that are new or whose
        definition changed. Those (and deleted ones) lose their state; the caller with
        access to the warehouse evaluates them over history (:meth:`restore_milestone`),
        otherwise they count from here on."""
        old = self.config.milestones
        for milestone_id, spec in old.items():
            new = config.milestones.get(milestone_id)
            if new is None or new.definition != spec.definition:
                for key in [k for k in self._states if k[0] == milestone_id]:
                    del self._states[key]
        self.config = config
        return [
            spec
            for milestone_id, spec in config.milestones.items()
            if milestone_id not in old or old[milestone_id].definition != spec.definition
        ]

    def remember(self, message_id: str, event_time: int) -> None:
        """A message already handled (before a restart): its duplicates are skipped."""
        self._seen[message_id] = event_time

    def restore_milestone(self, spec: MilestoneSpec, history: Iterable[SignalEvent], as_of_us: int) -> list[Row]:
        """Evaluate a milestone over past events (a new or changed milestone, or a restart):
        its states are rebuilt and its changes as of ``as_of_us`` returned, marked as a
        recomputation. Past events are attributed with the identity links known now."""
        counted = ((e.event_time, e.user_id, e.anonymous_id, e.group_id) for e in history if self._counts_for(spec, e))
        return self.restore_counted(spec, counted, as_of_us)

    def restore_counted(
        self, spec: MilestoneSpec, counted: Iterable[tuple[int, str | None, str | None, str | None]], as_of_us: int
    ) -> list[Row]:
        """``restore_milestone`` over events known to count (the milestone's filters were
        applied where the history was read), each as (event_time, user_id, anonymous_id,
        group_id): all that attributing it needs."""
        times: dict[str, list[int]] = {}
        identity, by_contact = self.identity, spec.entity == EntityType.contact
        for t, user_id, anonymous_id, group_id in counted:
            entity = identity.contact_at(user_id, anonymous_id, t)
            if not by_contact:
                entity = identity.account_at(group_id, entity, t)
            if entity is not None:
                times.setdefault(entity, []).append(t)
        for key in [k for k in self._states if k[0] == spec.id]:
            del self._states[key]
        rows: list[Row] = []
        rule = MilestoneRule(spec.threshold, spec.window_us)
        for entity, entity_times in times.items():
            state, changes = MilestoneState.rebuild(rule, self.lateness_us, entity_times, as_of_us)
            self._states[(spec.id, entity)] = state
            self._schedule(spec.id, entity, state)
            for change in changes:
                rows.append(
                    self._change_row(spec, entity, change, _CURRENT, source=ChangeSource.recompute.value).as_row()
                )
        return rows

    # -- events -------------------------------------------------------------------------------

    def process(self, event: SignalEvent) -> list[Row]:
        if event.message_id in self._seen:
            self.stats.duplicates += 1
            return []
        self._seen[event.message_id] = event.event_time
        self.stats.events += 1
        rows: list[Row] = []
        rows.extend(self._record_links(event))
        contact = self.identity.contact_of(event)
        account = self.identity.account_of(event, contact)
        now = self.clock()
        rows.append(records.event_record(self.org_id, event, contact, account, now).as_row())
        if event.kind is EventKind.identify and contact is not None:
            rows.append(records.contact_record(self.org_id, event, contact, now).as_row())
        if event.kind is None:  # alias: identity only
            return rows
        rows.extend(self._count(event, contact, account))
        matched = records.event_match_rows(self.config, event, contact, account, _CURRENT, now)
        self.stats.matches += len(matched)
        rows.extend(matched)
        late = self.as_of is not None and event.event_time < self.as_of - self.lateness_us
        if not late:
            rows.extend(records.activity_rows(self.org_id, event, contact, account))
        return rows

    def _record_links(self, event: SignalEvent) -> list[Row]:
        rows: list[Row] = []
        for anonymous_id, user_id in user_links_of(event):
            self.identity.link_user(anonymous_id, user_id, event.event_time, event.message_id)
            rows.append(records.identity_link_record(self.org_id, anonymous_id, user_id, event, self.clock()))
            self._reattribute(self._by_anonymous.get(anonymous_id, []), event.event_time)
        link = account_link_for(self.config, event)
        if link is not None:
            contact = self.identity.contact_of(event)
            rows.extend(records.account_rows(self.org_id, link, contact, event, self.clock()))
            if contact is not None:
                self.identity.link_account(contact, link.account_id, event.event_time, event.message_id)
                self._reattribute(self._by_contact.get(contact, []), event.event_time)
        return rows

    # -- milestones -----------------------------------------------------------------------------

    def _counts_for(self, spec: MilestoneSpec, event: SignalEvent) -> bool:
        return records.counts_for(spec, event)

    def _state(self, spec: MilestoneSpec, entity: str) -> MilestoneState:
        key = (spec.id, entity)
        state = self._states.get(key)
        if state is None:
            state = MilestoneState(MilestoneRule(spec.threshold, spec.window_us), self.lateness_us)
            if self.as_of is not None:
                state.advance(self.as_of)  # the same horizon as every other state
            self._states[key] = state
        return state

    def _count(self, event: SignalEvent, contact: str | None, account: str | None) -> list[Row]:
        counted = [spec for spec in self.config.milestones.values() if self._counts_for(spec, event)]
        if not counted:
            return []
        if self.as_of is not None and event.event_time < self.as_of - self.lateness_us:
            self.stats.late += 1
            reason = (
                f"event time is more than the allowed lateness ({self.lateness_us // 1_000_000} s) behind the "
                f"watermark; not counted for milestones {', '.join(s.name for s in counted)} "
                "(it is in the warehouse, and dbt's recomputation counts it)"
            )
            return [
                dead_letter(self.org_id, Stage.milestones, reason, event.message_id, event.raw, self.clock()).as_row()
            ]
        contact_ms: list[str] = []
        account_ms: list[str] = []
        for spec in counted:
            # Remembered even without an entity yet: a link may still arrive that gives it one.
            for_contact = spec.entity == EntityType.contact
            (contact_ms if for_contact else account_ms).append(spec.id)
            entity = contact if for_contact else account
            if entity is None:
                continue
            state = self._state(spec, entity)
            state.add(event.event_time)
            self._schedule(spec.id, entity, state)
        anonymous = event.anonymous_id if not event.user_id and event.anonymous_id else None
        if (contact_ms or account_ms) and (anonymous or not event.group_id):
            entry = _Counted(
                event.message_id,
                event.event_time,
                anonymous,
                bool(event.group_id),
                contact,
                account,
                tuple(contact_ms),
                tuple(account_ms),
            )
            if anonymous:
                self._by_anonymous.setdefault(anonymous, []).append(entry)
            if contact is not None and not event.group_id:
                self._by_contact.setdefault(contact, []).append(entry)
        return []

    def _reattribute(self, entries: list[_Counted], since: int) -> None:
        """Move counts of events at or after ``since`` whose contact or account changed."""
        for entry in entries:
            if entry.event_time < since:
                continue
            probe = SignalEvent(
                org_id=self.org_id,
                connection_id="",
                connection_name="",
                message_id=entry.message_id,
                type="track",
                event_time=entry.event_time,
                received_at=entry.event_time,
                user_id=None if entry.anonymous_id else entry.contact,
                anonymous_id=entry.anonymous_id,
            )
            contact = self.identity.contact_of(probe) if entry.anonymous_id else entry.contact
            account = entry.account if entry.explicit_account else self.identity.account_of(probe, contact)
            if contact != entry.contact:
                self._move(entry.contact_milestones, entry.contact, contact, entry.event_time)
                if contact is not None and not entry.explicit_account:
                    self._by_contact.setdefault(contact, []).append(entry)
            if account != entry.account:
                self._move(entry.account_milestones, entry.account, account, entry.event_time)
            entry.contact, entry.account = contact, account

    def _move(self, milestone_ids: tuple[str, ...], old: str | None, new: str | None, t: int) -> None:
        for milestone_id in milestone_ids:
            spec = self.config.milestones.get(milestone_id)
            if spec is None:
                continue
            try:
                if old is not None and (milestone_id, old) in self._states:
                    state = self._states[(milestone_id, old)]
                    if state.remove(t):
                        self._schedule(milestone_id, old, state)
                if new is not None:
                    state = self._state(spec, new)
                    state.add(t)
                    self._schedule(milestone_id, new, state)
                self.stats.corrections += 1
            except LateEventError:
                continue  # beyond the allowed lateness: dbt's recomputation is the authority

    def _schedule(self, milestone_id: str, entity: str, state: MilestoneState) -> None:
        due = state.next_due_us()
        if due is not None:
            heapq.heappush(self._due, (due, milestone_id, entity))

    def next_due(self) -> int | None:
        """The earliest time at which :meth:`advance` has something to emit."""
        while self._due:
            due, milestone_id, entity = self._due[0]
            state = self._states.get((milestone_id, entity))
            if state is not None and state.next_due_us() == due:
                return due
            heapq.heappop(self._due)  # stale: the state moved on or is gone
        return None

    def advance(self, as_of_us: int) -> list[Row]:
        """Emit milestone changes (and their stream matches) up to ``as_of_us``."""
        self.as_of = as_of_us if self.as_of is None else max(self.as_of, as_of_us)
        rows: list[Row] = []
        done: set[tuple[str, str]] = set()
        while self._due and self._due[0][0] <= self.as_of:
            _, milestone_id, entity = heapq.heappop(self._due)
            key = (milestone_id, entity)
            if key in done or key not in self._states:
                continue
            done.add(key)
            spec = self.config.milestones.get(milestone_id)
            state = self._states[key]
            diff = state.advance(self.as_of)
            self._schedule(milestone_id, entity, state)
            if spec is None:
                continue
            for change in diff.retracted:
                rows.extend(self.change_rows(spec, entity, change, _RETRACTED))
            for change in diff.added:
                rows.extend(self.change_rows(spec, entity, change, _CURRENT))
        self._prune()
        return rows

    def change_rows(self, spec: MilestoneSpec, entity: str, change: Change, status: str) -> list[Row]:
        """The change's row (``status``: a RowStatus value) and its stream matches."""
        self.stats.changes += 1
        rows = records.change_rows(self.config, spec, entity, change, status, self.source, self.clock())
        self.stats.matches += len(rows) - 1
        return rows

    def _change_row(
        self, spec: MilestoneSpec, entity: str, change: Change, status: str, source: str
    ) -> MilestoneChangeRecord:
        return records.change_record(self.org_id, spec, entity, change, status, source, self.clock())

    def _prune(self) -> None:
        """Forget message ids and correction candidates that no accepted event can reach."""
        if self.as_of is None:
            return
        horizon = self.as_of - max(self.lateness_us, self.dedupe_us)
        if self._pruned_at is not None and self.as_of - self._pruned_at < 60_000_000:
            return  # at most once a minute of event time
        self._pruned_at = self.as_of
        self._seen = {m: t for m, t in self._seen.items() if t >= horizon}
        reach = self.as_of - self.lateness_us
        for index in (self._by_anonymous, self._by_contact):
            for key in list(index):
                kept = [e for e in index[key] if e.event_time >= reach]
                if kept:
                    index[key] = kept
                else:
                    del index[key]
