"""The signals work split by key, so that a runner can spread it over workers.

The organisation-wide engine (``engine.py``) stays the reference; this is the same
semantics cut into four kinds of key, each holding only what its own entity needs:

- **message** ``(org, messageId)``: whether the message was seen, until the
  de-duplication window has passed. It decides once which milestones the event counts
  for and routes it to the person it belongs to.
- **anonymous** ``(org, anonymousId)``: the anonymousId's links to userIds (identify,
  alias), and the anonymous-only events still within the allowed lateness, which a late
  link moves to another contact.
- **contact** ``(org, contact)``: the contact's account links, its contact milestones, and
  its recent events (within the lateness), which a late account link moves to another
  account. It writes the event's rows (event, links, stream matches, activity).
- **account** ``(org, account)``: its account milestones, counted from messages the
  contacts send it.

A correction is a message between keys: "this event no longer counts here" to the old
key and "count it here" to the new one. Messages between keys may arrive in any order,
so each carries a version: a key applies a message about an event only when it is newer
than what it holds for that event, and a retraction that arrives first leaves a marker
that the older addition then cannot undo. Whatever the order, every key ends up with the
events the reference engine would give it, and so with the same milestone changes.

State per key is bounded by its entity: links, milestone states (event times inside the
window plus the lateness; the first N for an unwindowed milestone) and event entries
inside the lateness. Pure Python: the Beam transforms in ``variance.transforms.keyed``
hold these objects in Beam state, one per key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from variance.core.engine import records
from variance.core.engine.config import MilestoneSpec, OrgConfig
from variance.core.events import EventKind, SignalEvent
from variance.core.identity import Timeline, user_links_of
from variance.core.milestone_engine import LateEventError, MilestoneRule, MilestoneState
from variance.core.rows import dead_letter
from variance.core.vocabulary import ChangeSource, EntityType, MatchedBy, RowStatus, Stage
from variance.core.warehouse import Row

Clock = Callable[[], int]
Key = tuple[str, str]
# The stages, by the kind of key they hold.
MESSAGE, ANONYMOUS, CONTACT, ACCOUNT = "message", "anonymous", "contact", "account"
# The id of the contact key for events with neither userId nor anonymousId.
NO_CONTACT = ""

_CURRENT = RowStatus.current.value
_RETRACTED = RowStatus.retracted.value
_CONTACT = EntityType.contact.value


# -- messages between keys ------------------------------------------------------------------


class Counted(NamedTuple):
    """The milestones an event counts for, decided once at its message key."""

    contact: tuple[str, ...] = ()
    account: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.contact or self.account)


class AnonymousArrival(NamedTuple):
    """To an anonymous key: an event with only this anonymousId."""

    event: SignalEvent
    ack_id: str | None
    counted: Counted


class AnonymousLink(NamedTuple):
    """To an anonymous key: it is linked to ``user_id`` from ``linked_at`` on."""

    user_id: str
    linked_at: int
    message_id: str


class Arrival(NamedTuple):
    """To a contact key: an event, the first time (its rows are written here)."""

    event: SignalEvent
    ack_id: str | None
    counted: Counted
    version: int  # the anonymous key's attribution version (0: the event named its userId)


class Recount(NamedTuple):
    """To a contact key: an event (not) counted here after all (a late identity link)."""

    message_id: str
    event_time: int
    group_id: str | None
    counted: Counted
    version: int
    present: bool
    kind: str = ""
    name: str | None = None


class AccountCount(NamedTuple):
    """To an account key: a contact's event (not) counted here."""

    message_id: str
    contact: str
    event_time: int
    milestones: tuple[str, ...]
    version: tuple[int, int]  # (attribution version at the contact, the contact's sequence)
    present: bool


class Rebuild(NamedTuple):
    """To a contact or account key: a new or changed milestone, from its history."""

    milestone_id: str
    times: tuple[int, ...]
    as_of: int


class Wake(NamedTuple):
    """To any key: arm its timers (after a restart, before its first new element)."""


Outgoing = tuple[Key, Any]  # a message for another key


def counted_milestones(config: OrgConfig, event: SignalEvent) -> Counted:
    contact: list[str] = []
    account: list[str] = []
    for spec in config.milestones.values():
        if records.counts_for(spec, event):
            (contact if spec.entity == _CONTACT else account).append(spec.id)
    return Counted(tuple(contact), tuple(account))


def route(config: OrgConfig, event: SignalEvent, ack_id: str | None) -> list[tuple[str, Key, Any]]:
    """Where a new (not duplicate) event goes: ``(stage, key, message)`` with stage
    ``anonymous`` or ``contact``."""
    org = event.org_id
    counted = counted_milestones(config, event) if event.kind is not None else Counted()
    out: list[tuple[str, Key, Any]] = [
        (ANONYMOUS, (org, anonymous_id), AnonymousLink(user_id, event.event_time, event.message_id))
        for anonymous_id, user_id in user_links_of(event)
    ]
    if event.user_id:
        out.append((CONTACT, (org, event.user_id), Arrival(event, ack_id, counted, 0)))
    elif event.anonymous_id:
        out.append((ANONYMOUS, (org, event.anonymous_id), AnonymousArrival(event, ack_id, counted)))
    else:
        out.append((CONTACT, (org, NO_CONTACT), Arrival(event, ack_id, counted, 0)))
    return out


# -- keys with milestone states (contacts and accounts) ----------------------------------------


def settle_step(lateness_us: int) -> int:
    """How far a key's settled time may trail its newest arrival, and how coarsely it
    forgets old events: an eighth of the lateness (at least a millisecond)."""
    return max(lateness_us // 8, 1000)


def prune_due(oldest: int | None, lateness_us: int) -> int | None:
    """When a key keeping events from ``oldest`` on may forget the oldest: just after it
    leaves the lateness, rounded up to a settle step, so that one timer firing forgets a
    slice of events rather than one (state stays within 9/8 of the lateness)."""
    if oldest is None:
        return None
    step = settle_step(lateness_us)
    return -(-(oldest + lateness_us + 1) // step) * step


@dataclass
class _MilestoneKey:
    """What contact and account keys share: milestone states of one entity, advanced in
    event time, with the as-of (the last timer) that decides lateness."""

    org_id: str
    entity: str
    entity_type: str
    lateness_us: int
    as_of: int | None = None
    states: dict[str, MilestoneState] = field(default_factory=dict)
    definitions: dict[str, tuple] = field(default_factory=dict)
    # the newest arrival this key's timer is to settle it to (see ``arrived``)
    settle_at: int | None = None
    # The oldest kept event's time, kept up as events are added and found again after a
    # prune: the timer asks for it on every message, and a very large account keeps tens
    # of thousands of events (a scan per message made its key quadratic).
    _oldest_seen: int | None = field(default=None, repr=False, compare=False)
    _oldest_known: bool = field(default=False, repr=False, compare=False)

    def _configure(self, config: OrgConfig) -> None:
        """Drop states of milestones deleted or redefined (a Rebuild brings the new one)."""
        for milestone_id in list(self.states):
            spec = config.milestones.get(milestone_id)
            if spec is None or spec.definition != self.definitions.get(milestone_id):
                del self.states[milestone_id]
                self.definitions.pop(milestone_id, None)

    def _state(self, spec: MilestoneSpec) -> MilestoneState:
        state = self.states.get(spec.id)
        if state is None:
            state = MilestoneState(MilestoneRule(spec.threshold, spec.window_us), self.lateness_us)
            if self.as_of is not None:
                state.advance(self.as_of)
            self.states[spec.id] = state
            self.definitions[spec.id] = spec.definition
        return state

    def _count(self, config: OrgConfig, milestone_ids: Iterable[str], t: int, present: bool) -> None:
        for milestone_id in milestone_ids:
            spec = config.milestones.get(milestone_id)
            if spec is None or spec.entity != self.entity_type:
                continue
            try:
                if present:
                    self._state(spec).add(t)
                elif milestone_id in self.states:
                    self.states[milestone_id].remove(t)
            except LateEventError:
                continue  # beyond the allowed lateness: dbt's recomputation is the authority

    def late(self, t: int) -> bool:
        return self.as_of is not None and t < self.as_of - self.lateness_us

    def next_due(self, cap: int | None = None) -> int | None:
        due = [d for d in (s.next_due_us() for s in self.states.values()) if d is not None]
        if not due:
            return None
        first = min(due)
        return None if cap is not None and first > cap else first

    def arrived(self, event_time: int, cap: int | None = None) -> None:
        """An arrival well past the time this key is settled to asks for a timer at its
        time, so that lateness is judged against a recent time.

        "Well past" is more than a settle step (an eighth of the lateness): on Beam's local
        runner every timer firing is a bundle of its own, and a firing per arrival halved
        the sustained rate (measured). So an event is late when it is more than the
        lateness behind a time at most a step before this key's newest arrival."""
        if cap is not None and event_time > cap:
            return
        if self.as_of is not None and event_time <= self.as_of + settle_step(self.lateness_us):
            return
        if self.settle_at is None or event_time > self.settle_at:
            self.settle_at = event_time

    def timer_at(self, cap: int | None = None) -> int | None:
        """When this key's event-time timer should fire next (see ComputeSignals): at the
        next milestone change, at the arrival to settle to, and when its oldest kept event
        leaves the lateness. A batch (``cap``) keeps nothing once it ends: no pruning."""
        candidates = [self.next_due(cap), self.settle_at]
        if cap is None:
            candidates.append(self.prune_due())
        due = [c for c in candidates if c is not None]
        return min(due) if due else None

    def prune_due(self) -> int | None:
        if not self._oldest_known:
            self._oldest_seen, self._oldest_known = self._oldest(), True
        return prune_due(self._oldest_seen, self.lateness_us)

    def _kept(self, event_time: int) -> None:
        """An event was added to those this key keeps."""
        if self._oldest_known and (self._oldest_seen is None or event_time < self._oldest_seen):
            self._oldest_seen = event_time

    def _forgot(self) -> None:
        """Events were forgotten: the oldest is found again when next asked."""
        self._oldest_known = False

    def _oldest(self) -> int | None:
        """The event time of the oldest event this key keeps for corrections (a scan)."""
        return None

    def advance(self, config: OrgConfig, as_of_us: int, source: str, now: int) -> list[Row]:
        """The milestone changes up to ``as_of_us`` (and their stream matches)."""
        self._configure(config)
        self.as_of = as_of_us if self.as_of is None else max(self.as_of, as_of_us)
        if self.settle_at is not None and self.settle_at <= self.as_of:
            self.settle_at = None
        rows: list[Row] = []
        for milestone_id, state in sorted(self.states.items()):
            due = state.next_due_us()
            if due is None or due > self.as_of:
                continue
            diff = state.advance(self.as_of)
            spec = config.milestones[milestone_id]
            for change in diff.retracted:
                rows += records.change_rows(config, spec, self.entity, change, _RETRACTED, source, now)
            for change in diff.added:
                rows += records.change_rows(config, spec, self.entity, change, _CURRENT, source, now)
        self._prune()
        return rows

    def rebuild(self, config: OrgConfig, message: Rebuild, now: int) -> list[Row]:
        """A new or changed milestone from the history of this entity (recomputation)."""
        spec = config.milestones.get(message.milestone_id)
        if spec is None or spec.entity != self.entity_type:
            return []
        as_of = message.as_of if self.as_of is None else max(self.as_of, message.as_of)
        state, changes = MilestoneState.rebuild(
            MilestoneRule(spec.threshold, spec.window_us), self.lateness_us, message.times, as_of
        )
        self.states[spec.id] = state
        self.definitions[spec.id] = spec.definition
        self.as_of = as_of
        recompute = ChangeSource.recompute.value
        return [
            row
            for change in changes
            for row in records.change_rows(config, spec, self.entity, change, _CURRENT, recompute, now)
        ]

    def _prune(self) -> None:
        """Subclasses forget entries no accepted message can reach any more."""


@dataclass(slots=True)
class Entry:
    """An event at a contact key, kept while a late link could move it."""

    event_time: int
    version: int  # the attribution version it was last (un)counted with
    present: bool
    group_id: str | None
    account: str | None  # the account it is attributed to now
    counted: Counted
    sequence: int = 0  # bumped whenever its account changes
    kind: str = ""
    name: str | None = None
    # Accounts & Contacts streams it is in, as (stream id, matched by)
    follows: tuple[tuple[str, str], ...] = ()


def follow_matches(config: OrgConfig, contact: str | None, account: str | None) -> tuple[tuple[str, str], ...]:
    """The Accounts & Contacts streams an event of ``contact`` at ``account`` goes to, as
    ``stream_matches`` finds them (a followed contact first, then the account)."""
    found: dict[str, str] = {}
    if contact:
        for stream_id in config.follows.get((_CONTACT, contact), ()):
            found.setdefault(stream_id, MatchedBy.follow_contact.value)
    if account is not None:
        for stream_id in config.follows.get((EntityType.account.value, account), ()):
            found.setdefault(stream_id, MatchedBy.follow_account.value)
    return tuple(sorted(found.items()))


@dataclass
class ContactKey(_MilestoneKey):
    """One contact: account links, contact milestones, recent events."""

    accounts: Timeline = field(default_factory=Timeline)
    entries: dict[str, Entry] = field(default_factory=dict)

    @property
    def contact(self) -> str | None:
        return self.entity or None

    def account_at(self, group_id: str | None, t: int) -> str | None:
        if group_id:
            return group_id
        if self.contact is None:
            return None
        return self.accounts.at(t)

    def arrive(self, config: OrgConfig, message: Arrival, now: int) -> tuple[list[Row], list[Outgoing]]:
        """An event's first arrival: its rows, and its counts here and at its account."""
        event, org = message.event, self.org_id
        self._configure(config)
        rows: list[Row] = []
        out: list[Outgoing] = []
        contact = self.contact
        for anonymous_id, user_id in user_links_of(event):
            rows.append(records.identity_link_record(org, anonymous_id, user_id, event, now))
        link = records.account_link_for(config, event)
        if link is not None:
            rows += records.account_rows(org, link, contact, event, now)
            if contact is not None:
                self.accounts.add(event.event_time, link.account_id, event.message_id)
                moved_rows, moved = self._reattribute(config, event.event_time, now)
                rows += moved_rows
                out += moved
        account = self.account_at(event.group_id, event.event_time)
        rows.append(records.event_record(org, event, contact, account, now).as_row())
        if event.kind is EventKind.identify and contact is not None:
            rows.append(records.contact_record(org, event, contact, now).as_row())
        if event.kind is None:  # alias: identity only
            return rows, out
        late = self.late(event.event_time)
        kind = event.kind.value
        if late and message.counted:
            names = [config.milestones[m].name for m in message.counted.contact + message.counted.account]
            reason = (
                f"event time is more than the allowed lateness ({self.lateness_us // 1_000_000} s) behind the "
                f"watermark; not counted for milestones {', '.join(names)} "
                "(it is in the warehouse, and dbt's recomputation counts it)"
            )
            rows.append(dead_letter(org, Stage.milestones, reason, event.message_id, event.raw, now).as_row())
        matched = records.event_match_rows(config, event, contact, account, _CURRENT, now)
        rows += matched
        if not late:
            follows = tuple(
                (r[1]["stream_id"], r[1]["matched_by"]) for r in matched if r[1]["matched_by"] != MatchedBy.selector
            )
            moved_rows, moved = self._apply(
                config,
                event.message_id,
                event.event_time,
                event.group_id,
                message.counted,
                message.version,
                present=True,
                kind=kind,
                name=event.event_name,
                follows=follows,
                now=now,
            )
            rows += moved_rows
            out += moved
        if not late:
            rows += records.activity_rows(org, event, contact, account)
        return rows, out

    def recount(self, config: OrgConfig, message: Recount, now: int = 0) -> tuple[list[Row], list[Outgoing]]:
        self._configure(config)
        return self._apply(
            config,
            message.message_id,
            message.event_time,
            message.group_id,
            message.counted,
            message.version,
            present=message.present,
            kind=message.kind,
            name=message.name,
            now=now,
        )

    def _apply(
        self,
        config: OrgConfig,
        message_id: str,
        t: int,
        group_id: str | None,
        counted: Counted,
        version: int,
        *,
        present: bool,
        kind: str,
        name: str | None,
        follows: tuple[tuple[str, str], ...] | None = None,
        now: int,
    ) -> tuple[list[Row], list[Outgoing]]:
        """The event belongs here (``present``) or not, as of attribution ``version``."""
        entry = self.entries.get(message_id)
        if entry is not None and entry.version >= version:
            return [], []  # an older message about this event, overtaken by a newer one
        was_present = entry is not None and entry.present
        if entry is None:
            entry = self.entries[message_id] = Entry(t, version, False, group_id, None, counted, kind=kind, name=name)
            self._kept(t)
        entry.version = version
        if present != was_present:
            self._count(config, counted.contact, t, present)
        entry.present = present
        target = self.account_at(group_id, t) if present else None
        out = self._move_account(entry, message_id, target)
        if follows is not None:
            entry.follows = follows  # just routed with the event's own rows
            return [], out
        return self.rematch(config, message_id, entry, now), out

    def rematch(self, config: OrgConfig, message_id: str, entry: Entry, now: int) -> list[Row]:
        """Stream matches of Accounts & Contacts streams after the event's contact or
        account changed: it joins the streams that follow its new contact or account, and
        leaves those that followed the old account. An event that moved to another contact
        keeps the matches it had (the new contact's key adds its own; which key's row
        would win is not ordered, and a posted Slack message cannot be taken back)."""
        if not entry.present or not entry.kind:
            return []
        fresh = follow_matches(config, self.contact, entry.account)
        if fresh == entry.follows:
            return []
        rows: list[Row] = []
        fresh_streams = dict(fresh)
        for stream_id, matched_by in fresh:
            if dict(entry.follows).get(stream_id) != matched_by:
                rows.append(self._match(config, message_id, entry, stream_id, matched_by, _CURRENT, now))
        for stream_id, matched_by in entry.follows:
            if stream_id not in fresh_streams:
                rows.append(self._match(config, message_id, entry, stream_id, matched_by, _RETRACTED, now))
        entry.follows = fresh
        return rows

    def _match(
        self, config: OrgConfig, message_id: str, entry: Entry, stream_id: str, matched_by: str, status: str, now: int
    ) -> Row:
        return records.match_record(
            config.org_id,
            stream_id,
            message_id,
            entry.event_time,
            entry.kind,
            entry.name,
            self.contact,
            entry.account,
            matched_by,
            status,
            now,
        ).as_row()

    def _move_account(self, entry: Entry, message_id: str, target: str | None) -> list[Outgoing]:
        """Count the entry's account milestones at ``target`` (None: nowhere)."""
        if target == entry.account or not entry.counted.account:
            entry.account = target
            return []
        out: list[Outgoing] = []
        contact = self.entity
        entry.sequence += 1
        version = (entry.version, entry.sequence)
        if entry.account is not None:
            out.append(
                (
                    (self.org_id, entry.account),
                    AccountCount(message_id, contact, entry.event_time, entry.counted.account, version, False),
                )
            )
        if target is not None:
            out.append(
                (
                    (self.org_id, target),
                    AccountCount(message_id, contact, entry.event_time, entry.counted.account, version, True),
                )
            )
        entry.account = target
        return out

    def _reattribute(self, config: OrgConfig, since: int, now: int) -> tuple[list[Row], list[Outgoing]]:
        """A new account link from ``since`` on: events at or after it that named no
        group may belong to another account now."""
        rows: list[Row] = []
        out: list[Outgoing] = []
        for message_id, entry in self.entries.items():
            if entry.present and not entry.group_id and entry.event_time >= since:
                target = self.accounts.at(entry.event_time)
                if target != entry.account:
                    if self.late(entry.event_time):
                        continue
                    out += self._move_account(entry, message_id, target)
                    rows += self.rematch(config, message_id, entry, now)
        return rows, out

    def _oldest(self) -> int | None:
        return min((e.event_time for e in self.entries.values()), default=None)

    def _prune(self) -> None:
        if self.as_of is None:
            return
        reach = self.as_of - self.lateness_us
        for message_id in [m for m, e in self.entries.items() if e.event_time < reach]:
            del self.entries[message_id]
        self._forgot()

    def to_state(self) -> tuple:
        return (
            1,
            self.org_id,
            self.entity,
            self.lateness_us,
            (self.as_of, self.settle_at),
            {m: s.to_state() for m, s in self.states.items()},
            self.definitions,
            self.accounts.items(),
            {
                m: (
                    e.event_time,
                    e.version,
                    e.present,
                    e.group_id,
                    e.account,
                    tuple(e.counted),
                    e.sequence,
                    e.kind,
                    e.name,
                    e.follows,
                )
                for m, e in self.entries.items()
            },
        )

    @classmethod
    def from_state(cls, data: tuple) -> ContactKey:
        _, org_id, entity, lateness_us, (as_of, settle_at), states, definitions, links, entries = data
        key = cls(org_id, entity, _CONTACT, lateness_us, as_of, settle_at=settle_at)
        key.states = {m: MilestoneState.from_state(s) for m, s in states.items()}
        key.definitions = dict(definitions)
        for t, value, tiebreak in links:
            key.accounts.add(t, value, tiebreak)
        key.entries = {
            m: Entry(t, version, present, group, account, Counted(*counted), sequence, kind, name, tuple(follows))
            for m, (t, version, present, group, account, counted, sequence, kind, name, follows) in entries.items()
        }
        return key


@dataclass
class AccountKey(_MilestoneKey):
    """One account: account milestones, counted from its contacts' events."""

    # (message id, contact) -> (version, present, event time, milestone ids)
    counts: dict[tuple[str, str], tuple[tuple[int, int], bool, int, tuple[str, ...]]] = field(default_factory=dict)

    def receive(self, config: OrgConfig, message: AccountCount) -> None:
        self._configure(config)
        item = (message.message_id, message.contact)
        held = self.counts.get(item)
        if held is not None and held[0] >= message.version:
            return
        was_present = held is not None and held[1]
        if message.present != was_present:
            self._count(config, message.milestones, message.event_time, message.present)
        self.counts[item] = (message.version, message.present, message.event_time, message.milestones)
        if held is None:
            self._kept(message.event_time)

    def _oldest(self) -> int | None:
        return min((held[2] for held in self.counts.values()), default=None)

    def _prune(self) -> None:
        if self.as_of is None:
            return
        reach = self.as_of - self.lateness_us
        for item in [i for i, held in self.counts.items() if held[2] < reach]:
            del self.counts[item]
        self._forgot()

    def to_state(self) -> tuple:
        return (
            1,
            self.org_id,
            self.entity,
            self.lateness_us,
            (self.as_of, self.settle_at),
            {m: s.to_state() for m, s in self.states.items()},
            self.definitions,
            self.counts,
        )

    @classmethod
    def from_state(cls, data: tuple) -> AccountKey:
        _, org_id, entity, lateness_us, (as_of, settle_at), states, definitions, counts = data
        key = cls(org_id, entity, EntityType.account.value, lateness_us, as_of, settle_at=settle_at)
        key.states = {m: MilestoneState.from_state(s) for m, s in states.items()}
        key.definitions = dict(definitions)
        key.counts = dict(counts)
        return key


# -- anonymous keys ---------------------------------------------------------------------------


@dataclass
class AnonymousKey:
    """One anonymousId: its links to userIds, and its counted events within the lateness."""

    org_id: str
    anonymous_id: str
    lateness_us: int
    users: Timeline = field(default_factory=Timeline)
    # message id -> [event time, contact it is at, version, group id, counted, kind, name]
    entries: dict[str, list] = field(default_factory=dict)

    def contact_at(self, t: int) -> str:
        return self.users.at(t) or self.anonymous_id

    def arrive(self, message: AnonymousArrival) -> Outgoing:
        event = message.event
        contact = self.contact_at(event.event_time)
        if event.kind is not None:
            self.entries[event.message_id] = [
                event.event_time,
                contact,
                1,
                event.group_id,
                message.counted,
                event.kind.value,
                event.event_name,
            ]
        return (self.org_id, contact), Arrival(event, message.ack_id, message.counted, 1)

    def link(self, message: AnonymousLink) -> list[Outgoing]:
        """A link; events at or after it that it moves to another contact are recounted."""
        self.users.add(message.linked_at, message.user_id, message.message_id)
        out: list[Outgoing] = []
        for message_id, entry in self.entries.items():
            t, contact, version, group_id, counted, kind, name = entry
            if t < message.linked_at:
                continue
            target = self.contact_at(t)
            if target == contact:
                continue
            version += 1
            out.append(((self.org_id, contact), Recount(message_id, t, group_id, counted, version, False, kind, name)))
            out.append(((self.org_id, target), Recount(message_id, t, group_id, counted, version, True, kind, name)))
            entry[1], entry[2] = target, version
        return out

    def prune_before(self, horizon_us: int) -> None:
        """Forget events a link can no longer move."""
        for message_id in [m for m, e in self.entries.items() if e[0] < horizon_us]:
            del self.entries[message_id]

    def prune_due(self) -> int | None:
        return prune_due(min((e[0] for e in self.entries.values()), default=None), self.lateness_us)

    def to_state(self) -> tuple:
        return (
            1,
            self.org_id,
            self.anonymous_id,
            self.lateness_us,
            self.users.items(),
            {m: (t, c, v, g, tuple(n), k, a) for m, (t, c, v, g, n, k, a) in self.entries.items()},
        )

    @classmethod
    def from_state(cls, data: tuple) -> AnonymousKey:
        _, org_id, anonymous_id, lateness_us, links, entries = data
        key = cls(org_id, anonymous_id, lateness_us)
        for t, value, tiebreak in links:
            key.users.add(t, value, tiebreak)
        key.entries = {m: [t, c, v, g, Counted(*n), k, a] for m, (t, c, v, g, n, k, a) in entries.items()}
        return key
