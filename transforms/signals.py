"""ComputeSignals: the signals of every organisation, keyed by entity so a runner spreads them.

Four stateful steps, each keyed as ``variance.core.engine.keyed`` explains: messages
``(org, messageId)`` (de-duplication and routing), anonymousIds (identity links), contacts
(account links, contact milestones, the event's rows) and accounts (account milestones).
A fifth, keyed by organisation but fed at most once per bundle, notices a new or changed
milestone and sends each entity its history, read once for the whole organisation.

Milestone changes are emitted on event-time timers per key: a key knows the next instant
at which one of its changes can happen (an arrival, or the expiry that brings a count below
its threshold), and a change is a fact at its time, so nothing is emitted before the
watermark passes it. A timer set in the past (a correction) fires at once. With
``as_of_us`` (a backfill), nothing after it is emitted.

Outputs (tagged): ``rows`` (warehouse rows), ``activity`` (activity rows, for the daily
activity counts) and ``acks`` (``Ack``: a message to acknowledge, with the warehouse rows
it produced, which then are not on ``rows``).
"""

from __future__ import annotations

import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, Protocol

import apache_beam as beam
from apache_beam.coders import BooleanCoder, PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from variance.core.engine.config import MilestoneSpec, OrgConfig
from variance.core.engine.keyed import (
    ACCOUNT,
    ANONYMOUS,
    CONTACT,
    MESSAGE,
    AccountCount,
    AccountKey,
    AnonymousArrival,
    AnonymousKey,
    AnonymousLink,
    Arrival,
    ContactKey,
    Key,
    Rebuild,
    Recount,
    Wake,
    route,
)
from variance.core.engine.records import counts_for
from variance.core.events import SignalEvent
from variance.core.identity import IdentityGraph, account_link_of, user_links_of
from variance.core.rows import ACTIVITY as ACTIVITY_ROWS
from variance.core.vocabulary import ChangeSource, EntityType, WarehouseTable
from variance.core.warehouse import Row
from variance.transforms.messages import ACKS, ACTIVITY, ROWS, Ack, Envelope
from variance.transforms.state_coders import InProcessReferenceCoder, key_state_coder

ConfigProvider = Callable[[str], OrgConfig]
# Past events for evaluating a new or changed milestone (the warehouse, in pipelines/).
# It may also offer ``identity(org_id) -> IdentityGraph`` (the links known now); without
# it, the links come from the identify, group and alias calls among the events given.
HistoryProvider = Callable[[str, MilestoneSpec], Iterable[SignalEvent]]

# Milestone changes (and their stream matches) of contact and account keys, which their
# timers emit.
CHANGES = "changes"


def _fuses_stateful_steps(pipeline) -> bool:
    """FnApiRunner (Beam 2.77) fuses consecutive stateful steps into one stage and then
    fires the event-time timers of only one of them (measured here: the other's milestone
    changes never came). Dataflow and the streaming local runner shuffle by key before
    every stateful step anyway, so only there is a fusion break needed."""
    return type(getattr(pipeline, "runner", None)).__name__ == "FnApiRunner"


_ORGS = "orgs"
_STREAMING = ChangeSource.streaming.value


class InitialState(Protocol):
    """What a restart hands the pipeline: each key's state once, and the keys to wake."""

    def __call__(self, stage: str, key: Key) -> object | None: ...

    def wake_keys(self, stage: str) -> list[Key]: ...


def tag_outputs(rows: Iterable[Row], ack_id: str | None = None) -> Iterator[Row | TaggedOutput]:
    """Rows on their outputs: activity rows on ``ACTIVITY``, warehouse rows on the main
    output or, for a message to acknowledge (``ack_id``), with it on ``ACKS``."""
    warehouse: list[Row] = []
    for row in rows:
        if row[0] == ACTIVITY_ROWS:
            yield TaggedOutput(ACTIVITY, row[1])
        elif ack_id is None:
            yield row
        else:
            warehouse.append(row)
    if ack_id is not None:
        yield TaggedOutput(ACKS, Ack(ack_id, tuple(warehouse)))


def _now_us() -> int:
    return time.time_ns() // 1000


class _Counters:
    def __init__(self) -> None:
        # Named after the tables they land in (events counts every event processed, duplicates too).
        self.events = Metrics.counter("variance", WarehouseTable.events.value)
        self.changes = Metrics.counter("variance", WarehouseTable.milestone_changes.value)
        self.matches = Metrics.counter("variance", WarehouseTable.stream_matches.value)

    def count(self, rows: Iterable[Row]) -> None:
        for table, _ in rows:
            if table == WarehouseTable.milestone_changes:
                self.changes.inc()
            elif table == WarehouseTable.stream_matches:
                self.matches.inc()


# -- messages: de-duplication and routing ---------------------------------------------------------


# Keys are (org, id) pairs of strings: typed, so that runners encode them deterministically.
_KEYED = tuple[tuple[str, str], Any]


# When each organisation's configuration watcher was last told of it, per pipeline (its
# DoFns' token) and organisation, in this worker process: (the snapshot seen, monotonic time).
_PINGED: dict[tuple[str, str], tuple[OrgConfig, float]] = {}
_PINGED_LOCK = threading.Lock()


class _RouteFn(beam.DoFn):
    """What both de-duplications share: what a first delivery becomes."""

    def __init__(
        self, config_provider: ConfigProvider, initial: InitialState | None = None, ping_every_s: float = 30.0
    ):
        self._config = config_provider
        self._initial = initial
        self._counters = _Counters()
        self._duplicates = Metrics.counter("variance", "duplicates")
        # pickled with the DoFn, so every copy of this step (per bundle, per worker) shares it
        self._token = uuid.uuid4().hex
        self._ping_every_s = ping_every_s

    def _should_ping(self, org: str, config: OrgConfig) -> bool:
        """The watcher is keyed by organisation, so it is told of one only when this process
        sees a new configuration snapshot of it (the provider keeps an unchanged one's
        identity), and at least every ``ping_every_s``: not per bundle, which on a hundred
        workers would make its key receive hundreds of elements a second."""
        key, now = (self._token, org), time.monotonic()
        held = _PINGED.get(key)
        if held is not None and held[0] is config and now - held[1] < self._ping_every_s:
            return False
        with _PINGED_LOCK:
            _PINGED[key] = (config, now)
        return True

    def _seen_before(self, org_id: str, message_id: str) -> bool:
        """Seen by the pipeline before the last restart (what the warehouse holds)."""
        return self._initial is not None and bool(self._initial(MESSAGE, (org_id, message_id)))

    def _duplicate(self, envelope: Envelope):
        self._duplicates.inc()
        if envelope.ack_id:
            yield TaggedOutput(ACKS, Ack(envelope.ack_id))

    def _route(self, org: str, envelope: Envelope):
        event = envelope.event
        assert event is not None  # callers skip envelopes without an event
        config = self._config(org)
        if self._should_ping(org, config):
            yield TaggedOutput(_ORGS, ((org, ""), event.event_time))
        for stage, target, message in route(config, event, envelope.ack_id):
            yield TaggedOutput(stage, (target, message))


@beam.typehints.with_input_types(_KEYED)
class DedupeAndRouteFn(_RouteFn):
    """``((org, messageId), Envelope)``: the first delivery goes on to its person's key
    (tagged ``anonymous`` or ``contact``); a duplicate only comes out as an ``Ack``. The
    message id is forgotten when the watermark passes its event time plus the window
    (``window_us``)."""

    SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(
        self,
        config_provider: ConfigProvider,
        window_us: int,
        initial: InitialState | None = None,
        ping_every_s: float = 30.0,
    ):
        super().__init__(config_provider, initial, ping_every_s)
        self._window_us = window_us

    def process(
        self,
        element,
        seen=beam.DoFn.StateParam(SEEN),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        key, envelope = element
        event = envelope.event
        if event is None:
            return
        self._counters.events.inc()
        if seen.read() or self._seen_before(key[0], event.message_id):
            yield from self._duplicate(envelope)
            return
        seen.write(True)
        if self._window_us:
            expire.set(Timestamp(micros=event.event_time + self._window_us))
        yield from self._route(key[0], envelope)

    @on_timer(EXPIRE)
    def on_expire(self, seen=beam.DoFn.StateParam(SEEN)):
        seen.clear()


# How many keys the local runner's de-duplication spreads message ids over: it scans the
# state of every key of every step for due timers whenever its watermark moves, so a key
# per message made each step cost more as messages came in (profiled: most of the
# pipeline's CPU after 25,000 messages of the demo's traffic).
DEDUPE_BUCKETS = 64


class SeenIds(set):
    """A bucket's message ids (a set the in-process state coder can tag)."""


@beam.typehints.with_input_types(_KEYED)
class BucketDedupeAndRouteFn(_RouteFn):
    """The local runner's de-duplication: ``((org, bucket), Envelope)``, each bucket's
    state the set of message ids it has seen, a live object in this process. It is
    never pruned: the local pipeline's state lasts until its next start, which reloads
    only the de-duplication window from the warehouse."""

    SEEN_IDS = ReadModifyWriteStateSpec("seen_ids", InProcessReferenceCoder())

    def process(self, element, seen_ids=beam.DoFn.StateParam(SEEN_IDS)):
        key, envelope = element
        event = envelope.event
        if event is None:
            return
        self._counters.events.inc()
        held = seen_ids.read()
        if held is None:
            held = SeenIds()
        if event.message_id in held or self._seen_before(key[0], event.message_id):
            yield from self._duplicate(envelope)
            return
        held.add(event.message_id)
        seen_ids.write(held)
        yield from self._route(key[0], envelope)


def message_bucket(message_id: str) -> str:
    return str(zlib.crc32(message_id.encode("utf-8", "surrogatepass")) % DEDUPE_BUCKETS)


# -- stateful keys, bound to the runner's coder -----------------------------------------------------


def _read(state, initial: InitialState | None, stage: str, key: Key, make):
    value = state.read()
    if value is None and initial is not None:
        value = initial(stage, key)
    return make() if value is None else value


def _set(timer, at: int | None) -> None:
    """Set an event-time timer at ``at`` microseconds or just after: runners keep timers in
    milliseconds, and one truncated to before its instant would fire too early, forever."""
    if at is not None:
        timer.set(Timestamp(micros=-(-at // 1000) * 1000))


def _anonymous_fn(in_process: bool):
    spec = ReadModifyWriteStateSpec("anonymous", key_state_coder(in_process, AnonymousKey))
    prune_spec = TimerSpec("prune", TimeDomain.WATERMARK)

    @beam.typehints.with_input_types(_KEYED)
    class AnonymousFn(beam.DoFn):
        """``((org, anonymousId), AnonymousArrival | AnonymousLink)`` -> ``(contact key,
        Arrival | Recount)``."""

        def __init__(self, lateness_us: int, initial: InitialState | None = None):
            self._lateness_us = lateness_us
            self._initial = initial

        def process(self, element, state=beam.DoFn.StateParam(spec), prune=beam.DoFn.TimerParam(prune_spec)):
            key, message = element
            anonymous = _read(
                state, self._initial, ANONYMOUS, key, lambda: AnonymousKey(key[0], key[1], self._lateness_us)
            )
            if isinstance(message, AnonymousArrival):
                yield anonymous.arrive(message)
            elif isinstance(message, AnonymousLink):
                yield from anonymous.link(message)
            _set(prune, anonymous.prune_due())
            state.write(anonymous)

        @on_timer(prune_spec)
        def on_prune(
            self,
            fired_at=beam.DoFn.TimestampParam,
            state=beam.DoFn.StateParam(spec),
            prune=beam.DoFn.TimerParam(prune_spec),
        ):
            anonymous = state.read()
            if anonymous is None:
                return
            anonymous.prune_before(fired_at.micros - self._lateness_us)
            _set(prune, anonymous.prune_due())
            state.write(anonymous)

    AnonymousFn.__name__ = AnonymousFn.__qualname__ = "InProcessAnonymousFn" if in_process else "EncodedAnonymousFn"
    return AnonymousFn


class _EntityFnBase(beam.DoFn):
    """What contact and account keys share: configuration, timers, the batch cap."""

    STAGE = ""

    def __init__(
        self,
        config_provider: ConfigProvider,
        lateness_us: int,
        initial: InitialState | None = None,
        as_of_us: int | None = None,
        source: str = _STREAMING,
    ):
        self._config = config_provider
        self._lateness_us = lateness_us
        self._initial = initial
        self._cap = as_of_us
        self._source = source
        self._counters = _Counters()

    def _make(self, key: Key):
        raise NotImplementedError

    def _load(self, state, key: Key):
        return _read(state, self._initial, self.STAGE, key, lambda: self._make(key))

    def _rebuild(self, entity, message: Rebuild) -> list[Row]:
        rows = entity.rebuild(self._config(entity.org_id), message, _now_us())
        self._counters.count(rows)
        return rows

    def _advance(self, key: Key, fired_at, state, timer):
        entity = state.read()
        if entity is None:
            return
        # With a cap (a batch), the first timer fires once every input is in: settle the
        # whole history up to the cap in one step rather than one change per timer.
        at = fired_at.micros if self._cap is None else self._cap
        rows = entity.advance(self._config(key[0]), at, self._source, _now_us())
        self._counters.count(rows)
        for row in rows:
            yield TaggedOutput(CHANGES, row)
        _set(timer, entity.timer_at(self._cap))
        state.write(entity)


def _contact_fn(in_process: bool):
    spec = ReadModifyWriteStateSpec("contact", key_state_coder(in_process, ContactKey))
    timer_spec = TimerSpec("advance", TimeDomain.WATERMARK)

    @beam.typehints.with_input_types(_KEYED)
    class ContactFn(_EntityFnBase):
        """``((org, contact), Arrival | Recount | Rebuild | Wake)`` -> rows, activity, acks,
        and ``(account key, AccountCount)`` on ``account``."""

        STAGE = CONTACT

        def _make(self, key: Key) -> ContactKey:
            return ContactKey(key[0], key[1], EntityType.contact.value, self._lateness_us)

        def process(self, element, state=beam.DoFn.StateParam(spec), timer=beam.DoFn.TimerParam(timer_spec)):
            key, message = element
            contact = self._load(state, key)
            config = self._config(key[0])
            if isinstance(message, Arrival):
                rows, out = contact.arrive(config, message, _now_us())
                self._counters.count(rows)
                yield from tag_outputs(rows, message.ack_id)
                contact.arrived(message.event.event_time, self._cap)
            elif isinstance(message, Recount):
                rows, out = contact.recount(config, message, _now_us())
                self._counters.count(rows)
                yield from rows
            elif isinstance(message, Rebuild):
                out = []
                for row in self._rebuild(contact, message):
                    yield TaggedOutput(CHANGES, row)
            else:
                out = []
            for target in out:
                yield TaggedOutput(ACCOUNT, target)
            _set(timer, contact.timer_at(self._cap))
            state.write(contact)

        @on_timer(timer_spec)
        def on_advance(
            self,
            key=beam.DoFn.KeyParam,
            fired_at=beam.DoFn.TimestampParam,
            state=beam.DoFn.StateParam(spec),
            timer=beam.DoFn.TimerParam(timer_spec),
        ):
            yield from self._advance(key, fired_at, state, timer)

    ContactFn.__name__ = ContactFn.__qualname__ = "InProcessContactFn" if in_process else "EncodedContactFn"
    return ContactFn


def _account_fn(in_process: bool):
    spec = ReadModifyWriteStateSpec("account", key_state_coder(in_process, AccountKey))
    timer_spec = TimerSpec("advance", TimeDomain.WATERMARK)

    @beam.typehints.with_input_types(_KEYED)
    class AccountFn(_EntityFnBase):
        """``((org, account), AccountCount | Rebuild | Wake)`` -> rows."""

        STAGE = ACCOUNT

        def _make(self, key: Key) -> AccountKey:
            return AccountKey(key[0], key[1], EntityType.account.value, self._lateness_us)

        def process(self, element, state=beam.DoFn.StateParam(spec), timer=beam.DoFn.TimerParam(timer_spec)):
            key, message = element
            account = self._load(state, key)
            if isinstance(message, AccountCount):
                account.receive(self._config(key[0]), message)
                account.arrived(message.event_time, self._cap)
            elif isinstance(message, Rebuild):
                for row in self._rebuild(account, message):
                    yield TaggedOutput(CHANGES, row)
            _set(timer, account.timer_at(self._cap))
            state.write(account)

        @on_timer(timer_spec)
        def on_advance(
            self,
            key=beam.DoFn.KeyParam,
            fired_at=beam.DoFn.TimestampParam,
            state=beam.DoFn.StateParam(spec),
            timer=beam.DoFn.TimerParam(timer_spec),
        ):
            yield from self._advance(key, fired_at, state, timer)

    AccountFn.__name__ = AccountFn.__qualname__ = "InProcessAccountFn" if in_process else "EncodedAccountFn"
    return AccountFn


InProcessAnonymousFn, EncodedAnonymousFn = _anonymous_fn(True), _anonymous_fn(False)
InProcessContactFn, EncodedContactFn = _contact_fn(True), _contact_fn(False)
InProcessAccountFn, EncodedAccountFn = _account_fn(True), _account_fn(False)


# -- the configuration watcher -------------------------------------------------------------------------


def history_by_entity(
    config: OrgConfig, spec: MilestoneSpec, events: Iterable[SignalEvent], identity: IdentityGraph | None
) -> dict[str, list[int]]:
    """A milestone's past events as each entity's event times, attributed with the links
    known now (``identity``, or those among the events)."""
    events = list(events)
    if identity is None:
        identity = IdentityGraph()
        for event in sorted(events, key=lambda e: (e.event_time, e.message_id)):
            for anonymous_id, user_id in user_links_of(event):
                identity.link_user(anonymous_id, user_id, event.event_time, event.message_id)
            connection = config.connections.get(event.connection_id)
            link = (
                account_link_of(event, connection.mapping, connection.account_id_trait, connection.account_name_trait)
                if connection
                else None
            )
            contact = identity.contact_of(event)
            if link is not None and contact is not None:
                identity.link_account(contact, link.account_id, event.event_time, event.message_id)
    times: dict[str, list[int]] = {}
    seen: set[str] = set()
    for event in events:
        if event.message_id in seen or not counts_for(spec, event):
            continue
        seen.add(event.message_id)
        contact = identity.contact_of(event)
        entity = contact if spec.entity == EntityType.contact else identity.account_of(event, contact)
        if entity is not None:
            times.setdefault(entity, []).append(event.event_time)
    return times


@beam.typehints.with_input_types(_KEYED)
class WatchConfigFn(beam.DoFn):
    """``((org, ""), event time)``, at most one per bundle and organisation: on a new or
    changed milestone, each entity with history gets a ``Rebuild`` (on ``contact`` or
    ``account``). Also re-reads the configuration every ``refresh_s`` of processing time,
    so a milestone created while no event arrives is evaluated too."""

    DEFINITIONS = ReadModifyWriteStateSpec("definitions", PickleCoder())
    REFRESH = TimerSpec("refresh", TimeDomain.REAL_TIME)

    def __init__(self, config_provider: ConfigProvider, history: HistoryProvider | None, refresh_s: float):
        self._config = config_provider
        self._history = history
        self._refresh_s = refresh_s

    def process(
        self,
        element,
        state=beam.DoFn.StateParam(DEFINITIONS),
        refresh=beam.DoFn.TimerParam(REFRESH),
    ):
        key, event_time = element
        held = state.read()
        if held is None:
            refresh.set(Timestamp.of(time.time() + self._refresh_s))
        yield from self._check(key[0], held, event_time, state)

    @on_timer(REFRESH)
    def on_refresh(
        self,
        key=beam.DoFn.KeyParam,
        state=beam.DoFn.StateParam(DEFINITIONS),
        refresh=beam.DoFn.TimerParam(REFRESH),
    ):
        yield from self._check(key[0], state.read(), None, state)
        refresh.set(Timestamp.of(time.time() + self._refresh_s))

    def _check(self, org_id: str, held, event_time: int | None, state):
        config = self._config(org_id)
        current = {m: spec.definition for m, spec in config.milestones.items()}
        if held is None:
            state.write((current, event_time))
            return
        definitions, as_of = held
        if event_time is not None:
            as_of = event_time if as_of is None else max(as_of, event_time)
        changed = [s for m, s in config.milestones.items() if definitions.get(m) != s.definition]
        state.write((current, as_of))
        if not changed or self._history is None or as_of is None:
            return
        # History is complete up to now (it is what the warehouse holds), so it is
        # evaluated as of now, as a backfill at this moment would.
        as_of = max(as_of, _now_us())
        identity_of = getattr(self._history, "identity", None)
        identity = identity_of(org_id) if identity_of is not None else None
        for spec in changed:
            stage = CONTACT if spec.entity == EntityType.contact else ACCOUNT
            by_entity = history_by_entity(config, spec, self._history(org_id, spec), identity)
            for entity, times in by_entity.items():
                yield TaggedOutput(stage, ((org_id, entity), Rebuild(spec.id, tuple(sorted(times)), as_of)))


# -- the composite ----------------------------------------------------------------------------------------


class SignalsOutputs(NamedTuple):
    rows: PCollection
    activity: PCollection
    acks: PCollection

    def __getitem__(self, tag):
        return getattr(self, tag) if isinstance(tag, str) else tuple.__getitem__(self, tag)


def _by_message(element):
    org_id, envelope = element
    event = envelope.event
    return ((org_id, event.message_id if event is not None else ""), envelope)


def _by_message_bucket(element):
    org_id, envelope = element
    event = envelope.event
    return ((org_id, message_bucket(event.message_id) if event is not None else ""), envelope)


@beam.typehints.with_input_types(tuple[str, Envelope])
class ComputeSignals(beam.PTransform):
    """(org_id, Envelope) -> ``rows`` (warehouse rows), ``activity`` (activity rows) and
    ``acks`` (``Ack``s, each with its message's rows).

    ``in_process_state`` keeps each key's state as a live object (Beam's local runners,
    whose state never leaves the process); otherwise each key's state is encoded as plain
    data (Dataflow). ``as_of_us`` caps milestone changes (a backfill). ``initial`` hands
    over state rebuilt at a restart."""

    def __init__(
        self,
        config_provider: ConfigProvider,
        lateness_us: int,
        dedupe_us: int,
        in_process_state: bool,
        history: HistoryProvider | None = None,
        initial: InitialState | None = None,
        refresh_s: float = 30.0,
        as_of_us: int | None = None,
        source: str = _STREAMING,
    ):
        super().__init__()
        self._config = config_provider
        self._lateness_us = lateness_us
        self._window_us = max(lateness_us, dedupe_us)
        self._in_process = in_process_state
        self._history = history
        self._initial = initial
        self._refresh_s = refresh_s
        self._as_of_us = as_of_us
        self._source = source

    def expand(self, keyed_events):
        in_process, initial, config = self._in_process, self._initial, self._config
        if _fuses_stateful_steps(keyed_events.pipeline):

            def apart(pcoll, label):
                return pcoll | label >> beam.Reshuffle()

        else:

            def apart(pcoll, label):
                return pcoll

        dedupe: _RouteFn
        if in_process:
            by_message, dedupe = _by_message_bucket, BucketDedupeAndRouteFn(config, initial, self._refresh_s)
        else:
            by_message, dedupe = _by_message, DedupeAndRouteFn(config, self._window_us, initial, self._refresh_s)
        messages = (
            keyed_events
            | "ByMessage" >> beam.Map(by_message)
            | "Dedupe" >> beam.ParDo(dedupe).with_outputs(ANONYMOUS, CONTACT, ACKS, _ORGS)
        )
        anonymous_fn = InProcessAnonymousFn if in_process else EncodedAnonymousFn
        resolved = apart(messages[ANONYMOUS], "BeforeAnonymous") | "Anonymous" >> beam.ParDo(
            anonymous_fn(self._lateness_us, initial)
        )
        to_contacts = [messages[CONTACT], resolved]
        to_accounts = []
        if self._as_of_us is None:  # a backfill evaluates every milestone from the start
            watched = messages[_ORGS] | "WatchConfig" >> beam.ParDo(
                WatchConfigFn(config, self._history, self._refresh_s)
            ).with_outputs(CONTACT, ACCOUNT)
            to_contacts.append(watched[CONTACT])
            to_accounts.append(watched[ACCOUNT])
        if initial is not None:
            for stage, inputs in ((CONTACT, to_contacts), (ACCOUNT, to_accounts)):
                wakes = [(key, Wake()) for key in initial.wake_keys(stage)]
                if wakes:
                    inputs.append(keyed_events.pipeline | f"Wake{stage.title()}s" >> beam.Create(wakes))
        contact_fn = InProcessContactFn if in_process else EncodedContactFn
        contacts = apart(to_contacts | "ToContacts" >> beam.Flatten(), "BeforeContacts") | "Contacts" >> beam.ParDo(
            contact_fn(config, self._lateness_us, initial, self._as_of_us, self._source)
        ).with_outputs(ACCOUNT, ACTIVITY, ACKS, CHANGES, main=ROWS)
        account_fn = InProcessAccountFn if in_process else EncodedAccountFn
        accounts = apart(
            [contacts[ACCOUNT], *to_accounts] | "ToAccounts" >> beam.Flatten(), "BeforeAccounts"
        ) | "Accounts" >> beam.ParDo(
            account_fn(config, self._lateness_us, initial, self._as_of_us, self._source)
        ).with_outputs(CHANGES, main=ROWS)
        return SignalsOutputs(
            rows=(contacts[ROWS], contacts[CHANGES], accounts[CHANGES], accounts[ROWS]) | "Rows" >> beam.Flatten(),
            activity=contacts[ACTIVITY],
            acks=(messages[ACKS], contacts[ACKS]) | "AllAcks" >> beam.Flatten(),
        )
