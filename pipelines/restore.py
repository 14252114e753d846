"""Starting the local streaming pipeline from the warehouse.

Beam's local runner keeps state in memory only. Before the pipeline emits anything new,
this module rebuilds from the warehouse what the engines knew: the identity links, the
message ids seen recently (so redelivered messages are skipped), and each milestone's
counts (the events within its window plus the allowed lateness; all of them for a
milestone without a window), evaluated with the same code as a backfill. It then
repairs what a crash may have cut short: milestone changes that came due while the
pipeline was down (or whose rows were never written) are written, changes the history
no longer supports are retracted, the serving tables are rebuilt, and stream matches
that never reached Slack are posted. Outputs already written are recognised by their
keys and not written, matched or posted again.

It also serves the running pipeline: ``LakeHistory`` answers the history of a milestone
created or changed while it runs.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import orjson

from variance.core.contact_deletion import DeletedContact
from variance.core.engine import records
from variance.core.engine.config import MilestoneSpec, OrgConfig
from variance.core.engine.engine import OrgEngine
from variance.core.engine.keyed import (
    ACCOUNT,
    ANONYMOUS,
    CONTACT,
    MESSAGE,
    NO_CONTACT,
    AccountKey,
    AnonymousKey,
    ContactKey,
    Entry,
    Key,
    counted_milestones,
)
from variance.core.events import SEGMENT_TYPE_TO_KIND, EventKind, SignalEvent
from variance.core.identity import IdentityGraph
from variance.core.milestone_engine import Change
from variance.core.rows import (
    ContactAccountLinkRecord,
    EventRecord,
    IdentityLinkRecord,
    MilestoneChangeRecord,
    StreamMatchRecord,
)
from variance.core.settings import Settings
from variance.core.vocabulary import ChangeSource, EntityType, MatchedBy, RowStatus, WarehouseTable
from variance.core.warehouse import Row
from variance.serving import SERVED_WAREHOUSE_TABLES

log = logging.getLogger(__name__)

# The Segment call type of each event kind a milestone can count (Milestone events are
# not in the warehouse's events table).
_SEGMENT_TYPES = {kind.value: segment_type for segment_type, kind in SEGMENT_TYPE_TO_KIND.items()}


def event_from_row(row: dict) -> SignalEvent:
    """A warehouse events row back as the event the engine saw."""
    record = EventRecord.from_row(row)
    return SignalEvent(
        org_id=record.org_id,
        connection_id=record.connection_id,
        connection_name=record.connection_name,
        message_id=record.message_id,
        type=record.type,
        event_time=record.event_time,
        received_at=record.received_at,
        user_id=record.user_id,
        anonymous_id=record.anonymous_id,
        group_id=record.group_id,
        previous_id=(orjson.loads(record.raw) if record.raw else {}).get("previousId")
        if record.type == "alias"
        else None,
        name=record.name,
        properties=orjson.loads(record.properties) if record.properties else {},
        traits=orjson.loads(record.traits) if record.traits else {},
        context=orjson.loads(record.context) if record.context else {},
        raw={},
    )


def milestone_history(reader, org_id: str, spec: MilestoneSpec, since_us: int | None) -> list[SignalEvent]:
    """The events a milestone may count: its kind (and name), since ``since_us``."""
    where, params = _history_where(org_id, spec, since_us)
    if where is None:
        return []
    rows = reader.current(WarehouseTable.events.value, where, params, order_by="event_time, message_id")
    return [event_from_row(r) for r in rows]


# The properties a milestone's filters read, as SignalEvent.filter_properties and the dbt models give them.
_FILTER_PROPERTIES = "(case when type in ('identify', 'group') then traits else properties end)"


def counted_history(
    reader, org_id: str, spec: MilestoneSpec, since_us: int | None
) -> list[tuple[int, str | None, str | None, str | None]]:
    """The events a milestone counts, since ``since_us``, in event-time order, as
    (event_time, user_id, anonymous_id, group_id): its filters are evaluated by the
    warehouse (the compiler the dbt models use, equal to the Python evaluator), so no
    payload is read or parsed. For ``OrgEngine.restore_counted``."""
    from variance.core.filter_sql import compile_filters

    where, params = _history_where(org_id, spec, since_us)
    if where is None:
        return []
    if spec.filters:
        where += " and " + compile_filters(spec.filters, _sql_expression(_FILTER_PROPERTIES), "duckdb")
    columns = "epoch_us(event_time), user_id, anonymous_id, group_id"
    _, rows = reader.query(f"select {columns} from events where {where} order by event_time, message_id", params)
    return rows


_RECENT_SQL = f"""
select message_id, type, epoch_us(event_time), epoch_us(received_at), user_id, anonymous_id, group_id, name,
       connection_id, connection_name, cast({_FILTER_PROPERTIES} as varchar)
from events where org_id = $org and epoch_us(event_time) >= $since order by event_time, message_id
"""


def recent_events(reader, org_id: str, since_us: int) -> list[SignalEvent]:
    """The events since ``since_us`` with what ``split_by_key`` reads of them: ids, times,
    name, and the properties milestone filters read (``filter_properties``); no context
    or raw call, which it never reads and which cost most of the parsing."""
    _, rows = reader.query(_RECENT_SQL, {"org": org_id, "since": since_us})
    events = []
    for message_id, type_, t, received, user_id, anonymous_id, group_id, name, con_id, con_name, body in rows:
        payload = orjson.loads(body) if body else {}
        payload = payload if isinstance(payload, dict) else {}
        profile = type_ in ("identify", "group")
        events.append(
            SignalEvent(
                org_id=org_id,
                connection_id=con_id,
                connection_name=con_name,
                message_id=message_id,
                type=type_,
                event_time=t,
                received_at=received,
                user_id=user_id,
                anonymous_id=anonymous_id,
                group_id=group_id,
                name=name,
                properties={} if profile else payload,
                traits=payload if profile else {},
            )
        )
    return events


def _sql_expression(text: str):
    import sqlglot

    return sqlglot.parse_one(text, dialect="duckdb")


def _history_where(org_id: str, spec: MilestoneSpec, since_us: int | None) -> tuple[str | None, dict]:
    segment_type = _SEGMENT_TYPES.get(spec.kind)
    if segment_type is None:
        return None, {}
    where = ["org_id = $org", "type = $type"]
    params: dict = {"org": org_id, "type": segment_type}
    if spec.event_name is not None:
        where.append("name = $name")
        params["name"] = spec.event_name
    if since_us is not None:
        where.append("epoch_us(event_time) >= $since")
        params["since"] = since_us
    return " and ".join(where), params


def identity_from_lake(reader, org_id: str) -> IdentityGraph:
    """An organisation's identity links as the warehouse holds them now."""
    identity = IdentityGraph()
    by_org = {"org": org_id}
    for row in reader.current(WarehouseTable.identity_links.value, "org_id = $org", by_org, order_by="linked_at"):
        user = IdentityLinkRecord.from_row(row)
        identity.link_user(user.anonymous_id, user.user_id, user.linked_at, user.message_id)
    for row in reader.current(
        WarehouseTable.contact_account_links.value, "org_id = $org", by_org, order_by="linked_at"
    ):
        link = ContactAccountLinkRecord.from_row(row)
        identity.link_account(link.contact_id, link.account_id, link.linked_at, link.message_id)
    return identity


def deleted_contacts_in_force(settings: Settings, org_ids: list[str] | None = None) -> tuple[DeletedContact, ...]:
    """The contacts whose data was asked to be deleted: every history read that rebuilds
    state (this start-up, ``LakeHistory``, a backfill) leaves their events out, so after a
    restart or a backfill they no longer count."""
    from variance.appdb.session import make_engine, session_factory
    from variance.serving.contact_deletion import deleted_contacts

    engine = make_engine(settings.resolved_database_url)
    try:
        with session_factory(engine)() as session:
            return tuple(deleted_contacts(session, org_ids))
    finally:
        engine.dispose()


class DeletedContactsInForce:
    """``deleted_contacts_in_force`` as a callable a worker makes (a backfill's graph is
    built where the app database may be out of reach, e.g. a Dataflow launcher)."""

    def __init__(self, settings: Settings, org_ids: list[str] | None = None):
        self._settings = settings
        self._org_ids = org_ids

    def __call__(self) -> tuple[DeletedContact, ...]:
        return deleted_contacts_in_force(self._settings, self._org_ids)


class LakeHistory:
    """History provider for milestones created or changed while the pipeline runs: the
    milestone's events, and the identity links known now to attribute them (without the
    contacts deleted when the pipeline started)."""

    def __init__(self, lake_dir: str, deleted_contacts: tuple[DeletedContact, ...] = ()):
        self.lake_dir = lake_dir
        self.deleted_contacts = deleted_contacts

    def _reader(self):
        from variance.pipelines.sinks import flush_writer
        from variance.warehouse.local import LakeReader

        flush_writer(self.lake_dir)  # what this process processed so far is history too
        return LakeReader(self.lake_dir, deleted_contacts=self.deleted_contacts)

    def __call__(self, org_id: str, spec: MilestoneSpec) -> list[SignalEvent]:
        return milestone_history(self._reader(), org_id, spec, None)

    def identity(self, org_id: str) -> IdentityGraph:
        return identity_from_lake(self._reader(), org_id)


# Beam pickles the provider into every DoFn instance (one per bundle on the local runner):
# the states live here so that each is handed out once per process, not once per copy.
_RESTORED: dict[int, RestoredKeys] = {}
_TOKENS = itertools.count(1)
_LOCK = threading.Lock()


@dataclass
class RestoredKeys:
    """Every key's state rebuilt from the warehouse, by stage (see core/engine/keyed.py)."""

    seen: set[Key] = field(default_factory=set)
    states: dict[str, dict[Key, object]] = field(default_factory=dict)
    wake: dict[str, list[Key]] = field(default_factory=dict)

    def add(self, stage: str, key: Key, state: object, wake: bool = False) -> None:
        self.states.setdefault(stage, {})[key] = state
        if wake:
            self.wake.setdefault(stage, []).append(key)


class RestoredState:
    """Hands each key's rebuilt state to the pipeline once (kept in this process: the local
    runner re-creates its DoFns for every bundle). Message ids are answered every time:
    a redelivered message may come more than once."""

    def __init__(self, keys: RestoredKeys):
        with _LOCK:
            self.token = next(_TOKENS)
            _RESTORED[self.token] = keys

    def _keys(self) -> RestoredKeys:
        return _RESTORED.get(self.token) or RestoredKeys()

    def __call__(self, stage: str, key: Key) -> object | None:
        with _LOCK:
            keys = self._keys()
            if stage == MESSAGE:
                return key in keys.seen or None
            return keys.states.get(stage, {}).pop(key, None)

    def wake_keys(self, stage: str) -> list[Key]:
        with _LOCK:
            return list(self._keys().wake.get(stage, []))


@dataclass
class Restored:
    engines: dict[str, OrgEngine] = field(default_factory=dict)
    keys: RestoredKeys = field(default_factory=RestoredKeys)
    repairs: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    events_read: int = 0


def restore(settings: Settings, reader, config_provider, now_us: int) -> Restored:
    """Rebuild every organisation's engine from the lake, and the rows that repair it."""
    started = time.monotonic()
    lateness = int(settings.allowed_lateness.total_seconds() * 1_000_000)
    dedupe = int(settings.dedupe_window.total_seconds() * 1_000_000)
    _, orgs = reader.query("select distinct org_id from events order by org_id")
    result = Restored()
    for (org_id,) in orgs:
        config: OrgConfig = config_provider(org_id)
        engine = OrgEngine(org_id, lateness_us=lateness, dedupe_us=dedupe, source=ChangeSource.recompute.value)
        engine.configure(config)
        engine.identity = identity_from_lake(reader, org_id)
        _, seen = reader.query(
            "select message_id, epoch_us(event_time) from events where org_id = $org and epoch_us(event_time) >= $since",
            {"org": org_id, "since": now_us - max(lateness, dedupe)},
        )
        for message_id, event_time in seen:
            engine.remember(message_id, event_time)
        recomputed: list[Row] = []
        for spec in config.milestones.values():
            since = None if spec.window_us is None else now_us - spec.window_us - lateness
            history = counted_history(reader, org_id, spec, since)
            result.events_read += len(history)
            recomputed += engine.restore_counted(spec, history, now_us)
        engine.as_of = now_us
        engine.source = ChangeSource.streaming.value
        matches = _current_matches_since(reader, org_id, now_us - lateness)
        result.repairs += _repairs(reader, org_id, config, recomputed, now_us, lateness, engine, matches)
        result.engines[org_id] = engine
        recent = recent_events(reader, org_id, now_us - lateness)
        written = _follow_matches(matches)
        result.repairs += split_by_key(engine, config, recent, result.keys, written, now_us)
    result.seconds = time.monotonic() - started
    return result


def _repairs(
    reader,
    org_id: str,
    config: OrgConfig,
    recomputed: list[Row],
    now_us: int,
    lateness: int,
    engine: OrgEngine,
    matches: list[dict],
) -> list[Row]:
    """Rows that make the warehouse's current milestone changes those the history gives,
    within the range the pipeline may still change (older history is final)."""
    fresh: dict[str, MilestoneChangeRecord] = {}
    for table, row in recomputed:
        if table == WarehouseTable.milestone_changes:
            change = MilestoneChangeRecord.from_row(row)
            fresh[change.change_id] = change
    written = {
        change.change_id: change
        for change in map(
            MilestoneChangeRecord.from_row,
            reader.current(
                WarehouseTable.milestone_changes.value,
                "org_id = $org and status = $status",
                {"org": org_id, "status": RowStatus.current.value},
            ),
        )
    }
    repairs: list[Row] = []
    for change_id, change in fresh.items():
        if change_id not in written:
            repairs += engine.change_rows(
                config.milestones[change.milestone_id], change.entity_id, _as_change(change), RowStatus.current.value
            )
    for change_id, change in written.items():
        spec = config.milestones.get(change.milestone_id)
        if spec is None or spec.version != change.milestone_version or change_id in fresh:
            continue
        open_range = spec.window_us is None or change.changed_at >= now_us - lateness
        if open_range:
            repairs += engine.change_rows(spec, change.entity_id, _as_change(change), RowStatus.retracted.value)
    for table, row in repairs:
        if table == WarehouseTable.milestone_changes:
            row["source"] = ChangeSource.recompute.value
    return repairs + _milestone_match_repairs(config, fresh, repairs, matches, now_us - lateness, now_us)


def _current_matches_since(reader, org_id: str, since_us: int) -> list[dict]:
    """The organisation's current stream matches since ``since_us`` that a restart may
    have to repair: Accounts & Contacts matches (a late link moves them) and milestone
    changes' matches (see ``_milestone_match_repairs``). One read: each pays the lake's
    newest-row-per-key resolution of the whole table."""
    return reader.current(
        WarehouseTable.stream_matches.value,
        "org_id = $org and status = $status and epoch_us(event_time) >= $since"
        " and (matched_by != $selector or kind = $milestone)",
        {
            "org": org_id,
            "status": RowStatus.current.value,
            "since": since_us,
            "selector": MatchedBy.selector.value,
            "milestone": EventKind.milestone.value,
        },
    )


def _milestone_match_repairs(
    config: OrgConfig,
    fresh: dict[str, MilestoneChangeRecord],
    planned: list[Row],
    matches: list[dict],
    since_us: int,
    now_us: int,
) -> list[Row]:
    """Rows that make the current stream matches of milestone changes since ``since_us``
    (``matches``: those written, from ``_current_matches_since``) those of the changes the
    history gives.

    The lake writes each table's file on its own, so a kill can leave a change's row
    durable and not its matches, or a retraction's change row without the retraction of
    its matches; the change then looks settled to the comparison above, and its match
    would stay as it was. Older matches are final, as the changes are."""
    table_of_matches = WarehouseTable.stream_matches
    expected: dict[tuple[str, str], Row] = {}
    for change in fresh.values():
        spec = config.milestones.get(change.milestone_id)
        if change.changed_at < since_us or spec is None or spec.version != change.milestone_version:
            continue
        rows = records.change_rows(
            config,
            spec,
            change.entity_id,
            _as_change(change),
            RowStatus.current.value,
            ChangeSource.recompute.value,
            now_us,
        )
        for table, row in rows:
            if table == table_of_matches:
                expected[(row["stream_id"], row["message_id"])] = (table, row)
    already = {(row["stream_id"], row["message_id"]) for table, row in planned if table == table_of_matches}
    written = {
        (row["stream_id"], row["message_id"]): row for row in matches if row["kind"] == EventKind.milestone.value
    }
    repairs = [row for key, row in expected.items() if key not in written and key not in already]
    for key, row in written.items():
        if key in expected or key in already:
            continue
        retracted = replace(StreamMatchRecord.from_row(row), status=RowStatus.retracted.value, recorded_at=now_us)
        repairs.append(retracted.as_row())
    return repairs


def _as_change(change: MilestoneChangeRecord) -> Change:
    return Change(change.kind, change.changed_at, change.count)


def serving_tables(reader, org_id: str, *, events: bool = True) -> dict[str, Iterable[dict]]:
    """The warehouse's current rows of one organisation, for rebuilding the serving tables
    (without ``events`` when they come as a summary: :func:`serving_event_summary`)."""
    return {
        name: reader.iter_current(name, "org_id = $org", {"org": org_id})
        for name in SERVED_WAREHOUSE_TABLES
        if events or name != WarehouseTable.events.value
    }


# The organisation's current events aggregated where they are, in one statement (the lake
# resolves each table's newest rows once per statement): the rows the serving rebuild
# would otherwise fold one by one in Python. Every part has the same columns:
# (part, entity_type, id, day, kind, name, first_us, last_us, n), and payloads put
# (message_id, connection_name, body) in the first three after the part. Sorted here, so
# that the daily counts reach the app database in key order (cheaper B-tree inserts)
# without a Python sort of hundreds of thousands of tuples.
_SUMMARY_SQL = """
with e as materialized (
    select contact_id, account_id, coalesce(kind, '') as kind, coalesce(name, '') as name,
           epoch_us(event_time) as t, strftime(event_time, '%Y-%m-%d') as day, message_id, connection_name,
           case when kind in ($identify, $group) then traits else properties end as body
    from events where org_id = $org
),
u as materialized (
    select 'contact' as entity_type, contact_id as id, kind, name, t, day from e where coalesce(contact_id, '') <> ''
    union all
    select 'account', account_id, kind, name, t, day from e where coalesce(account_id, '') <> ''
)
select 'count', null, null, null, null, null, null, null, count(*) from e
union all
select 'seen', entity_type, id, null, null, null, min(t), max(t), null from u group by entity_type, id
union all
select 'catalog', null, null, null, kind, name, min(t), max(t), count(*) from e where kind <> '' group by kind, name
union all
select 'daily', entity_type, id, day, kind, name, null, null, count(*) from u where kind <> ''
group by entity_type, id, day, kind, name
union all
select 'payload', message_id, connection_name, cast(body as varchar), null, null, null, null, null from e
where kind <> '' and message_id in (select unnest($ids))
order by 1, 2, 3, 4, 5, 6
"""


def serving_event_summary(reader, org_id: str):
    """The summary of one organisation's current events that ``serving.rebuild`` takes in
    place of the rows (``summarise_events``): computed by DuckDB over the lake."""
    from variance.serving import EventSummary

    def summarise(wanted: set[str]) -> EventSummary:
        kinds = {"identify": EventKind.identify.value, "group": EventKind.group.value}
        _, rows = reader.query(_SUMMARY_SQL, {"org": org_id, **kinds, "ids": sorted(wanted)})
        events, seen, catalog, daily, payloads = 0, [], [], [], []
        for part, a, b, c, kind, name, first_us, last_us, n in rows:
            if part == "daily":
                daily.append((a, b, c, kind, name, n))  # entity_type, entity_id, day
            elif part == "seen":
                seen.append((a, b, first_us, last_us))
            elif part == "catalog":
                catalog.append((kind, name, first_us, last_us, n))
            elif part == "payload":
                payloads.append((a, b, c))  # message_id, connection_name, body
            else:
                events = n
        return EventSummary(events=events, seen=seen, catalog=catalog, daily=daily, payloads=payloads)

    return summarise


def _follow_matches(matches: list[dict]) -> dict[str, tuple[tuple[str, str], ...]]:
    """The Accounts & Contacts stream matches among ``matches``, per message."""
    found: dict[str, list[tuple[str, str]]] = {}
    for row in matches:
        if row["matched_by"] == MatchedBy.selector.value:
            continue
        found.setdefault(row["message_id"], []).append((row["stream_id"], row["matched_by"]))
    return {message_id: tuple(sorted(pairs)) for message_id, pairs in found.items()}


def split_by_key(
    engine: OrgEngine,
    config: OrgConfig,
    recent: list[SignalEvent],
    keys: RestoredKeys,
    written: dict[str, tuple[tuple[str, str], ...]] | None = None,
    now_us: int = 0,
) -> list[Row]:
    """An organisation's rebuilt engine cut into the keyed pipeline's states: identity links
    per person, milestone states per entity, message ids per message, and the events within
    the lateness that a late link or a redelivery may still have to correct.

    Returns the stream match rows that make the warehouse's Accounts & Contacts matches of
    those events what the links known now give: a stop may have written a link's rows but
    not the matches it moved (the lake writes each table's file on its own), and the link,
    now seen, would not come again to move them."""
    written = written if written is not None else {}
    repairs: list[Row] = []
    org, lateness, as_of = engine.org_id, engine.lateness_us, engine.as_of
    keys.seen.update((org, message_id) for message_id in engine._seen)
    anonymous: dict[str, AnonymousKey] = {}
    contacts: dict[str, ContactKey] = {}
    accounts: dict[str, AccountKey] = {}

    def contact_key(contact: str) -> ContactKey:
        if contact not in contacts:
            contacts[contact] = ContactKey(org, contact, EntityType.contact.value, lateness, as_of)
        return contacts[contact]

    def account_key(account: str) -> AccountKey:
        if account not in accounts:
            accounts[account] = AccountKey(org, account, EntityType.account.value, lateness, as_of)
        return accounts[account]

    for anonymous_id, timeline in engine.identity.users.items():
        key = anonymous[anonymous_id] = AnonymousKey(org, anonymous_id, lateness)
        for t, user_id, tiebreak in timeline.items():
            key.users.add(t, user_id, tiebreak)
    for contact, timeline in engine.identity.accounts.items():
        for t, account_id, tiebreak in timeline.items():
            contact_key(contact).accounts.add(t, account_id, tiebreak)
    for (milestone_id, entity), state in engine._states.items():
        spec = config.milestones.get(milestone_id)
        if spec is None:
            continue
        holder = contact_key(entity) if spec.entity == EntityType.contact else account_key(entity)
        holder.states[milestone_id] = state
        holder.definitions[milestone_id] = spec.definition
    for event in recent:
        if event.kind is None:
            continue
        counted = counted_milestones(config, event)
        found = engine.identity.contact_of(event)
        account = engine.identity.account_of(event, found)
        contact = found if found is not None else NO_CONTACT
        only_anonymous = not event.user_id and bool(event.anonymous_id)
        version = 1 if only_anonymous else 0
        kind, name = event.kind.value, event.event_name
        if only_anonymous and event.anonymous_id:
            visitor = anonymous.get(event.anonymous_id)
            if visitor is None:
                visitor = anonymous[event.anonymous_id] = AnonymousKey(org, event.anonymous_id, lateness)
            visitor.entries[event.message_id] = [
                event.event_time,
                contact,
                version,
                event.group_id,
                counted,
                kind,
                name,
            ]
        at = contact_key(contact)
        entry = at.entries[event.message_id] = Entry(
            event.event_time,
            version,
            True,
            event.group_id,
            account,
            counted,
            kind=kind,
            name=name,
            follows=written.get(event.message_id, ()),
        )
        repairs += at.rematch(config, event.message_id, entry, now_us)
        if counted.account and account is not None:
            account_key(account).counts[(event.message_id, at.entity)] = (
                (version, 0),
                True,
                event.event_time,
                counted.account,
            )
    for anonymous_id, anonymous_key in anonymous.items():
        keys.add(ANONYMOUS, (org, anonymous_id), anonymous_key)
    for contact, holder in contacts.items():
        keys.add(CONTACT, (org, contact), holder, wake=holder.next_due() is not None)
    for account, holder in accounts.items():
        keys.add(ACCOUNT, (org, account), holder, wake=holder.next_due() is not None)
    return repairs
