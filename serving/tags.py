"""Smart tag and view membership over the serving tables, with the core's evaluator.

What a definition asks about an entity (traits, milestone status, daily event counts,
other tags; ``variance.core.tag_tree``) is read here in bulk for one organisation and
entity type, then every entity is evaluated in Python with the same ``evaluate`` the
warehouse's SQL is tested against, so the app, the writer of ``tag_members`` and dbt
give one answer. :func:`refresh_tag_members` writes the difference into ``tag_members``;
run it again as time passes, because "achieved within 7 days" and "3 events in 30
days" change with the clock alone.

Cost: one pass over the organisation's accounts or contacts per call (a few hundred
thousand rows a second); a definition's own conditions are not pushed into SQL yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import orjson
from sqlalchemy import delete, literal, select
from sqlalchemy.orm import Session

from variance.appdb.models import AccountRow, ContactRow, DailyActivityRow, MilestoneStatusRow, SmartTag, TagMemberRow
from variance.appdb.types import utcnow
from variance.core.tag_tree import (
    ConditionGroup,
    EntityFacts,
    EventCountCondition,
    MilestoneFact,
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
from variance.serving.sql import chunked


@dataclass(frozen=True)
class Member:
    """An account or contact a definition holds, with the key lists sort it by."""

    entity_id: str
    search_name: str


@dataclass
class TagRefresh:
    entered: int = 0
    left: int = 0


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
) -> Iterator[tuple[Member, EntityFacts]]:
    """Every account or contact of the organisation with the facts ``definitions`` ask
    about. Only what they ask is read: traits are parsed only when a trait condition
    exists, and display columns are left to the caller (for the page it shows)."""
    now = now or utcnow()
    definitions = list(definitions)
    milestone_ids = sorted({m for d in definitions for m in referenced_milestones(d)})
    statuses: dict[str, dict[str, MilestoneFact]] = defaultdict(dict)
    for chunk in chunked(milestone_ids):
        for row in session.scalars(
            select(MilestoneStatusRow).where(
                MilestoneStatusRow.org_id == org_id, MilestoneStatusRow.milestone_id.in_(chunk)
            )
        ):
            statuses[row.entity_id][row.milestone_id] = MilestoneFact(
                achieved=row.achieved, achieved_at=row.achieved_at
            )
    activity: dict[str, list[tuple[date, str, str | None, int]]] = defaultdict(list)
    longest = _longest_count_days(definitions)
    if longest:
        first, _ = count_window(now, longest)
        for row in session.scalars(
            select(DailyActivityRow).where(
                DailyActivityRow.org_id == org_id,
                DailyActivityRow.entity_type == entity.value,
                DailyActivityRow.day >= first - timedelta(days=1),
            )
        ):
            activity[row.entity_id].append((row.day, row.kind, row.name or None, row.count))
    model = AccountRow if entity == EntityType.account else ContactRow
    id_column = model.account_id if entity == EntityType.account else model.contact_id
    traits_column = model.traits if _uses_traits(definitions) else literal("{}")
    rows = session.execute(select(id_column, model.search_name, traits_column).where(model.org_id == org_id))
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


def _members_now(
    session: Session, org_id: str, entity: EntityType, now: datetime
) -> tuple[dict[str, ConditionGroup], dict[str, set[str]]]:
    tags = tag_definitions(session, org_id, entity)
    members: dict[str, set[str]] = {tag_id: set() for tag_id in tags}
    if not tags:
        return tags, members
    for member, facts in entity_facts(session, org_id, entity, tags.values(), now):
        for tag_id in evaluate_tags(tags, facts):
            members[tag_id].add(member.entity_id)
    return tags, members


def refresh_tag_members(session: Session, org_id: str, now: datetime | None = None) -> TagRefresh:
    """Bring ``tag_members`` of one organisation up to date as of ``now``: entities that
    entered a tag are added (``since`` = now), those that left removed, the rest untouched."""
    now = now or utcnow()
    result = TagRefresh()
    for entity in (EntityType.account, EntityType.contact):
        tags, members = _members_now(session, org_id, entity, now)
        stored: Mapping[str, set[str]] = defaultdict(set)
        for chunk in chunked(sorted(tags)):
            for tag_id, entity_id in session.execute(
                select(TagMemberRow.tag_id, TagMemberRow.entity_id).where(
                    TagMemberRow.org_id == org_id, TagMemberRow.tag_id.in_(chunk)
                )
            ):
                stored[tag_id].add(entity_id)
        for tag_id, now_in in members.items():
            entered = now_in - stored[tag_id]
            left = stored[tag_id] - now_in
            session.add_all(TagMemberRow(org_id=org_id, tag_id=tag_id, entity_id=e, since=now) for e in sorted(entered))
            for chunk in chunked(sorted(left)):
                session.execute(
                    delete(TagMemberRow).where(
                        TagMemberRow.org_id == org_id, TagMemberRow.tag_id == tag_id, TagMemberRow.entity_id.in_(chunk)
                    )
                )
            result.entered += len(entered)
            result.left += len(left)
    session.flush()
    return result
