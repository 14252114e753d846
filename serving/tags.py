"""Smart tag and view membership over the serving tables, with the core's evaluator.

What a definition asks about an entity (traits, milestone status, daily event counts,
other tags; ``variance.core.tag_tree``) is read here in bulk for one organisation and
entity type, then every entity is evaluated in Python with the same ``evaluate`` the
warehouse's SQL is tested against, so the app, the writer of ``tag_members`` and dbt
give one answer. :func:`refresh_tag_members` writes the difference into ``tag_members``
(for the whole organisation, or only the entities a batch of serving rows touched) and
returns each entry and exit as a :class:`TagChange`, with the next instant at which the
clock alone can change a membership ("achieved within 7 days" runs out, "3 events in
30 days" rolls over at UTC midnight): the serving sink keeps that as a timer.

Concurrent evaluators (several pipeline workers) are safe: an entry is an insert that
skips a stored row and an exit a delete, and a change is reported only for the rows the
statement itself inserted or deleted, so one transition is one change however many
evaluate it.

Cost: one pass over the organisation's accounts or contacts per full call (a few
hundred thousand rows a second); a definition's own conditions are not pushed into SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone

import orjson
from sqlalchemy import delete, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from variance.appdb.models import AccountRow, ContactRow, DailyActivityRow, MilestoneStatusRow, SmartTag, TagMemberRow
from variance.appdb.types import utcnow
from variance.core.tag_tree import (
    ConditionGroup,
    EntityFacts,
    EventCountCondition,
    MilestoneCondition,
    MilestoneFact,
    MilestoneStatus,
    TraitCondition,
    count_window,
    evaluate,
    evaluate_tags,
    parse_definition,
    referenced_milestones,
    referenced_tags,
    walk,
)
from variance.core.vocabulary import EntityType
from variance.serving.sql import chunked, dialect_of


@dataclass(frozen=True)
class Member:
    """An account or contact a definition holds, with the key lists sort it by."""

    entity_id: str
    search_name: str


@dataclass(frozen=True)
class TagChange:
    """One account or contact entering (``entered``) or leaving a smart tag at ``at``."""

    org_id: str
    tag_id: str
    entity_type: EntityType
    entity_id: str
    entered: bool
    at: datetime


@dataclass
class TagRefresh:
    entered: int = 0
    left: int = 0
    changes: list[TagChange] = field(default_factory=list)
    # The next instant the clock alone may change a membership evaluated here (None: never).
    next_due: datetime | None = None

    def due_at(self, when: datetime | None) -> None:
        if when is not None and (self.next_due is None or when < self.next_due):
            self.next_due = when


def _longest_count_days(definitions: Iterable[ConditionGroup]) -> int:
    days = [c.days for d in definitions for _, c in walk(d) if isinstance(c, EventCountCondition)]
    return max(days, default=0)


class _Counts:
    """An entity's daily counts, answering ``event_count(kind, name, days)`` as of ``now``."""

    def __init__(self, now: datetime, days: list[tuple[date, str, str | None, int]]):
        self._now = now
        self._days = days

    def __call__(self, kind: str, name: str | None, days: int) -> int:
        first, last = count_window(self._now, days)
        return sum(c for day, k, n, c in self._days if k == kind and n == name and first <= day <= last)


def _no_events(kind: str, name: str | None, days: int) -> int:
    return 0


def _uses_traits(definitions: list[ConditionGroup]) -> bool:
    return any(isinstance(c, TraitCondition) for d in definitions for _, c in walk(d))


def entity_facts(
    session: Session,
    org_id: str,
    entity: EntityType,
    definitions: Iterable[ConditionGroup],
    now: datetime | None = None,
    entity_ids: Collection[str] | None = None,
) -> Iterator[tuple[Member, EntityFacts]]:
    """Every account or contact of the organisation (or only those of ``entity_ids``)
    with the facts ``definitions`` ask about. Only what they ask is read: traits are
    parsed only when a trait condition exists, and display columns are left to the
    caller (for the page it shows)."""
    now = now or utcnow()
    definitions = list(definitions)
    some = sorted(set(entity_ids)) if entity_ids is not None else None
    milestone_ids = sorted({m for d in definitions for m in referenced_milestones(d)})
    statuses: dict[str, dict[str, MilestoneFact]] = defaultdict(dict)
    for chunk in chunked(milestone_ids):
        query = select(MilestoneStatusRow).where(
            MilestoneStatusRow.org_id == org_id, MilestoneStatusRow.milestone_id.in_(chunk)
        )
        for ids in _id_chunks(some):
            narrowed = query if ids is None else query.where(MilestoneStatusRow.entity_id.in_(ids))
            for row in session.scalars(narrowed):
                statuses[row.entity_id][row.milestone_id] = MilestoneFact(
                    achieved=row.achieved, achieved_at=row.achieved_at
                )
    activity: dict[str, list[tuple[date, str, str | None, int]]] = defaultdict(list)
    longest = _longest_count_days(definitions)
    if longest:
        first, _ = count_window(now, longest)
        query = select(DailyActivityRow).where(
            DailyActivityRow.org_id == org_id,
            DailyActivityRow.entity_type == entity.value,
            DailyActivityRow.day >= first - timedelta(days=1),
        )
        for ids in _id_chunks(some):
            narrowed = query if ids is None else query.where(DailyActivityRow.entity_id.in_(ids))
            for row in session.scalars(narrowed):
                activity[row.entity_id].append((row.day, row.kind, row.name or None, row.count))
    model = AccountRow if entity == EntityType.account else ContactRow
    id_column = model.account_id if entity == EntityType.account else model.contact_id
    traits_column = model.traits if _uses_traits(definitions) else literal("{}")
    query = select(id_column, model.search_name, traits_column).where(model.org_id == org_id)
    rows = (
        row
        for ids in _id_chunks(some)
        for row in session.execute(query if ids is None else query.where(id_column.in_(ids)))
    )
    no_traits: dict = {}
    for entity_id, search_name, traits in rows:
        parsed: object = no_traits
        if traits and traits != "{}":
            try:
                parsed = orjson.loads(traits)
            except orjson.JSONDecodeError:
                parsed = no_traits
        counts = activity.get(entity_id)
        facts = EntityFacts(
            now=now,
            traits=parsed if isinstance(parsed, dict) else no_traits,
            milestones=statuses.get(entity_id, no_traits),
            event_counts=_Counts(now, counts) if counts else _no_events,
        )
        yield Member(entity_id, search_name), facts


def _id_chunks(ids: list[str] | None) -> Iterator[list[str] | None]:
    """None (no narrowing) once, or the ids in IN-list sized chunks."""
    if ids is None:
        yield None
    else:
        yield from chunked(ids)


def tag_definitions(session: Session, org_id: str, entity: EntityType) -> dict[str, ConditionGroup]:
    rows = session.execute(
        select(SmartTag.id, SmartTag.definition).where(SmartTag.org_id == org_id, SmartTag.entity == entity.value)
    )
    return {tag_id: parse_definition(text) for tag_id, text in rows}


def matching(
    session: Session, org_id: str, entity: EntityType, definition: ConditionGroup, now: datetime | None = None
) -> list[Member]:
    """The accounts or contacts ``definition`` (a view's) holds for now, by name then id.
    The smart tags it uses are evaluated as well, not read from ``tag_members``, so the
    answer does not wait for the next refresh."""
    tags = tag_definitions(session, org_id, entity)
    used = {t: tags[t] for t in _used_tags(definition, tags)}
    found = []
    for member, facts in entity_facts(session, org_id, entity, [definition, *used.values()], now):
        if used:
            facts = replace(facts, tags=evaluate_tags(used, facts))
        if evaluate(definition, facts):
            found.append(member)
    found.sort(key=lambda m: (m.search_name, m.entity_id))
    return found


def _used_tags(definition: ConditionGroup, tags: Mapping[str, ConditionGroup]) -> set[str]:
    """The tags a definition uses, and the tags those use, transitively."""
    seen: set[str] = set()
    pending = list(referenced_tags(definition))
    while pending:
        tag_id = pending.pop()
        if tag_id in seen or tag_id not in tags:
            continue
        seen.add(tag_id)
        pending.extend(referenced_tags(tags[tag_id]))
    return seen


def _next_flip(tags: Iterable[ConditionGroup], facts: EntityFacts) -> datetime | None:
    """The first instant after ``facts.now`` at which the clock alone may change how the
    entity evaluates: an ``achieved_within`` running out, or UTC midnight when a count
    window moves (every window rolls then, so one day boundary covers them all)."""
    found: datetime | None = None
    for definition in tags:
        for _, condition in walk(definition):
            when = None
            if isinstance(condition, MilestoneCondition) and condition.status is MilestoneStatus.achieved_within:
                fact = facts.milestones.get(condition.milestone_id)
                if fact is not None and fact.achieved and fact.achieved_at is not None:
                    when = fact.achieved_at + timedelta(days=condition.days or 0)
                    when = when if when > facts.now else None
            elif isinstance(condition, EventCountCondition):
                when = next_utc_midnight(facts.now)
            if when is not None and (found is None or when < found):
                found = when
    return found


def next_utc_midnight(now: datetime) -> datetime:
    day = now.astimezone(timezone.utc).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def _members_now(
    session: Session,
    org_id: str,
    entity: EntityType,
    now: datetime,
    entity_ids: Collection[str] | None,
    result: TagRefresh,
) -> tuple[dict[str, ConditionGroup], dict[str, set[str]]]:
    tags = tag_definitions(session, org_id, entity)
    members: dict[str, set[str]] = {tag_id: set() for tag_id in tags}
    if not tags:
        return tags, members
    for member, facts in entity_facts(session, org_id, entity, tags.values(), now, entity_ids):
        for tag_id in evaluate_tags(tags, facts):
            members[tag_id].add(member.entity_id)
        result.due_at(_next_flip(tags.values(), facts))
    return tags, members


def _stored(
    session: Session, org_id: str, tag_ids: list[str], entity_ids: Collection[str] | None
) -> Mapping[str, set[str]]:
    stored: Mapping[str, set[str]] = defaultdict(set)
    query = select(TagMemberRow.tag_id, TagMemberRow.entity_id).where(TagMemberRow.org_id == org_id)
    for chunk in chunked(tag_ids):
        for ids in _id_chunks(sorted(set(entity_ids)) if entity_ids is not None else None):
            narrowed = query.where(TagMemberRow.tag_id.in_(chunk))
            if ids is not None:
                narrowed = narrowed.where(TagMemberRow.entity_id.in_(ids))
            for tag_id, entity_id in session.execute(narrowed):
                stored[tag_id].add(entity_id)
    return stored


def _enter(session: Session, org_id: str, tag_id: str, entity_ids: list[str], now: datetime) -> list[str]:
    """Insert memberships, skipping stored ones; the ids this statement itself inserted."""
    insert = postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert
    table = TagMemberRow.__table__
    inserted: list[str] = []
    for chunk in chunked(entity_ids, 2_000):
        stmt = (
            insert(table)
            .values([{"org_id": org_id, "tag_id": tag_id, "entity_id": e, "since": now} for e in chunk])
            .on_conflict_do_nothing(index_elements=["org_id", "tag_id", "entity_id"])
            .returning(table.c.entity_id)
        )
        inserted.extend(session.scalars(stmt))
    return inserted


def _leave(session: Session, org_id: str, tag_id: str, entity_ids: list[str]) -> list[str]:
    """Delete memberships; the ids this statement itself deleted."""
    table = TagMemberRow.__table__
    deleted: list[str] = []
    for chunk in chunked(entity_ids):
        stmt = (
            delete(table)
            .where(table.c.org_id == org_id, table.c.tag_id == tag_id, table.c.entity_id.in_(chunk))
            .returning(table.c.entity_id)
        )
        deleted.extend(session.scalars(stmt))
    return deleted


def refresh_tag_members(
    session: Session, org_id: str, now: datetime | None = None, entity_ids: Collection[str] | None = None
) -> TagRefresh:
    """Bring ``tag_members`` of one organisation up to date as of ``now`` (for every
    entity, or only those of ``entity_ids``, which may be accounts or contacts): entities
    that entered a tag are added (``since`` = now), those that left removed, the rest
    untouched. Tags using tags are evaluated with them, for the same entities."""
    now = now or utcnow()
    result = TagRefresh()
    for entity in (EntityType.account, EntityType.contact):
        tags, members = _members_now(session, org_id, entity, now, entity_ids, result)
        stored = _stored(session, org_id, sorted(tags), entity_ids)
        for tag_id, now_in in sorted(members.items()):
            entered = _enter(session, org_id, tag_id, sorted(now_in - stored[tag_id]), now)
            left = _leave(session, org_id, tag_id, sorted(stored[tag_id] - now_in))
            result.changes.extend(TagChange(org_id, tag_id, entity, e, True, now) for e in sorted(entered))
            result.changes.extend(TagChange(org_id, tag_id, entity, e, False, now) for e in sorted(left))
            result.entered += len(entered)
            result.left += len(left)
    session.flush()
    return result


def tag_names(session: Session, org_id: str, tag_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(tag_ids))
    names: dict[str, str] = {}
    for chunk in chunked(ids):
        names.update(
            session.execute(select(SmartTag.id, SmartTag.name).where(SmartTag.org_id == org_id, SmartTag.id.in_(chunk)))
            .tuples()
            .all()
        )
    return names


def orgs_with_tags(session: Session) -> list[str]:
    return sorted(set(session.scalars(select(SmartTag.org_id).distinct())))
