"""Smart tag and view definitions: a tree of conditions over one account or contact,
and its meaning, evaluated here in Python.

The API validates a definition and stores it as JSON text (``dump_definition``) in
``smart_tags.definition`` / ``views.definition``; the code that fills ``tag_members``
evaluates it with :func:`evaluate`, and dbt will compile the same JSON to SQL. So the
JSON below and the meaning under it are the contract; both sides follow it exactly.

Shape. The root is always a group::

    {"type": "group", "match": "all" | "any", "conditions": [CONDITION, ...]}

and a CONDITION is a group or one of::

    {"type": "trait", "filter": PROPERTY_FILTER}
    {"type": "milestone", "milestone_id": "mil_...",
     "status": "achieved" | "not_achieved" | "achieved_within", "days": N | null}
    {"type": "event_count", "kind": "Page" | "Screen" | "Action" | "Identify" | "Group" | "Milestone",
     "name": "Invited User" | null, "op": "gte" | "gt" | "lte" | "lt" | "eq", "value": N, "days": N}
    {"type": "tag", "tag_id": "tag_...", "has": true | false}

Stored JSON always carries every key (``null`` where unused), so a compiler never has
to guess a default. Limits: groups nest at most ``MAX_DEPTH`` levels (the root is level
1), the tree holds at most ``MAX_CONDITIONS`` conditions below the root (groups count),
and a group is never empty.

Meaning, for one entity as of an instant ``now``:

- ``group``: ``all`` holds when every condition holds, ``any`` when at least one does.
- ``trait``: the property filter holds for the entity's traits, with exactly the
  semantics of :mod:`variance.core.filters` (so ``not_equals`` matches a missing trait).
- ``milestone``: ``achieved`` holds when the entity currently has the milestone;
  ``not_achieved`` is its exact complement (an entity never evaluated has not achieved
  it); ``achieved_within`` holds when the entity currently has it and reached it less
  than ``days`` days before ``now``: ``now - days < achieved_at`` (an achievement exactly
  ``days`` ago is out, as an event exactly one window old no longer counts for a
  milestone). ``days`` is required for ``achieved_within`` and absent otherwise.
- ``event_count``: ``count op value``, where ``count`` is the number of events of that
  event type (``kind``, plus ``name`` for Action and Milestone) belonging to the entity
  on the ``days`` UTC calendar days ending with ``now``'s day, today included (see
  :func:`count_window`). Day granularity is what the serving table ``daily_activity``
  and the warehouse can both answer. No events means a count of 0, so ``lt 1`` holds for
  an entity never seen doing it.
- ``tag``: ``has: true`` holds when the entity carries the smart tag, ``has: false``
  when it does not. Tags may use tags (never in a cycle: the API rejects cycles);
  :func:`evaluate_tags` evaluates a set of tags in dependency order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, model_validator

from variance.core.events import EventKind, EventTypeRef
from variance.core.filters import PropertyFilter

MAX_DEPTH = 5
MAX_CONDITIONS = 50
MAX_MILESTONE_DAYS = 3650
MAX_COUNT_DAYS = 365
ID_MAX_LENGTH = 40


class MilestoneStatus(str, Enum):
    achieved = "achieved"
    not_achieved = "not_achieved"
    achieved_within = "achieved_within"


class CountOp(str, Enum):
    gte = "gte"
    gt = "gt"
    lte = "lte"
    lt = "lt"
    eq = "eq"


_COMPARE: dict[CountOp, Callable[[int, int], bool]] = {
    CountOp.gte: lambda count, value: count >= value,
    CountOp.gt: lambda count, value: count > value,
    CountOp.lte: lambda count, value: count <= value,
    CountOp.lt: lambda count, value: count < value,
    CountOp.eq: lambda count, value: count == value,
}


class TraitCondition(BaseModel):
    """A property filter over the entity's traits (its identify or group traits)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["trait"]
    filter: PropertyFilter


class MilestoneCondition(BaseModel):
    """The entity's status for one milestone of the same entity (contact or account)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["milestone"]
    milestone_id: str = Field(min_length=1, max_length=ID_MAX_LENGTH)
    status: MilestoneStatus
    days: int | None = Field(
        None,
        ge=1,
        le=MAX_MILESTONE_DAYS,
        description="Only with achieved_within: reached less than this many days ago",
    )

    @model_validator(mode="after")
    def _days_only_within(self) -> MilestoneCondition:
        if self.status is MilestoneStatus.achieved_within and self.days is None:
            raise ValueError("days is required when status is achieved_within")
        if self.status is not MilestoneStatus.achieved_within and self.days is not None:
            raise ValueError(f"days is only used with achieved_within; leave it out for {self.status.value}")
        return self


class EventCountCondition(BaseModel):
    """How many events of one type the entity had on the last ``days`` UTC days."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["event_count"]
    kind: EventKind
    name: str | None = Field(
        None, min_length=1, max_length=1024, description="Required for Action (the track event) and Milestone"
    )
    op: CountOp
    value: int = Field(ge=0, le=1_000_000_000)
    days: int = Field(ge=1, le=MAX_COUNT_DAYS, description="The UTC days ending today (today included)")

    @model_validator(mode="after")
    def _name_matches_kind(self) -> EventCountCondition:
        EventTypeRef(kind=self.kind, name=self.name)  # one rule for every event-type reference
        return self


class TagCondition(BaseModel):
    """Membership in another smart tag of the same entity; ``has: false`` negates it."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["tag"]
    tag_id: str = Field(min_length=1, max_length=ID_MAX_LENGTH)
    has: bool = True


class ConditionGroup(BaseModel):
    """AND (``match: all``) or OR (``match: any``) over a non-empty list of conditions."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "group",
                    "match": "all",
                    "conditions": [
                        {"type": "trait", "filter": {"path": "plan", "op": "equals", "value": "pro"}},
                        {"type": "milestone", "milestone_id": "mil_0123456789abcdefghjkmnpqrs", "status": "achieved"},
                        {
                            "type": "group",
                            "match": "any",
                            "conditions": [
                                {"type": "event_count", "kind": "Page", "op": "gte", "value": 5, "days": 7},
                                {"type": "tag", "tag_id": "tag_0123456789abcdefghjkmnpqrs", "has": False},
                            ],
                        },
                    ],
                }
            ]
        },
    )

    type: Literal["group"]
    match: Literal["all", "any"]
    conditions: list[Condition] = Field(min_length=1, max_length=MAX_CONDITIONS)


Condition = Annotated[
    ConditionGroup | TraitCondition | MilestoneCondition | EventCountCondition | TagCondition,
    Field(discriminator="type"),
]
ConditionGroup.model_rebuild()


def _check_shape_first(value: Any) -> Any:
    """Depth and size of raw input, measured without recursion and stopping early, so
    an absurdly deep or wide body is refused before the model (which recurses) reads it."""
    deepest, total, stack = 0, -1, [(value, 1)]
    while stack and deepest <= MAX_DEPTH and total <= MAX_CONDITIONS:
        node, level = stack.pop()
        total += 1
        if isinstance(node, ConditionGroup):
            node = {"conditions": node.conditions}
        if isinstance(node, Mapping) and isinstance(node.get("conditions"), list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node["conditions"])
    if deepest > MAX_DEPTH:
        raise ValueError(f"groups nest at most {MAX_DEPTH} levels deep (the root is level 1)")
    if total > MAX_CONDITIONS:
        raise ValueError(f"has more than {MAX_CONDITIONS} conditions (groups count)")
    return value


Definition = Annotated[ConditionGroup, BeforeValidator(_check_shape_first)]
"""A complete definition: a root group within the depth and size limits."""

_DEFINITION = TypeAdapter(Definition)


def parse_definition(value: str | bytes | Mapping[str, Any]) -> ConditionGroup:
    """A definition from stored JSON text or a decoded object. Raises ``ValueError``:
    pydantic's ``ValidationError`` (a subclass) when it breaks a rule, orjson's
    ``JSONDecodeError`` for text that is not JSON."""
    if isinstance(value, (str, bytes)):
        value = orjson.loads(value)
    return _DEFINITION.validate_python(value)


def dump_definition(definition: ConditionGroup) -> str:
    """The JSON text stored for dbt: every key present, in declaration order."""
    return orjson.dumps(definition.model_dump(mode="json")).decode()


def walk(group: ConditionGroup, prefix: str = "") -> Iterator[tuple[str, Condition]]:
    """Every condition below ``group``, depth first, with its path from the root, such as
    ``conditions[2]`` or ``conditions[0].conditions[1]`` (how errors name a condition)."""
    for index, condition in enumerate(group.conditions):
        path = f"{prefix}conditions[{index}]"
        yield path, condition
        if isinstance(condition, ConditionGroup):
            yield from walk(condition, path + ".")


def depth(group: ConditionGroup) -> int:
    """Levels of groups, the root being level 1."""
    children = [c for c in group.conditions if isinstance(c, ConditionGroup)]
    return 1 + max((depth(c) for c in children), default=0)


def referenced_tags(group: ConditionGroup) -> set[str]:
    return {c.tag_id for _, c in walk(group) if isinstance(c, TagCondition)}


def referenced_milestones(group: ConditionGroup) -> set[str]:
    return {c.milestone_id for _, c in walk(group) if isinstance(c, MilestoneCondition)}


# --- Facts about one entity, and evaluation ----------------------------------------------


@dataclass(frozen=True)
class MilestoneFact:
    """An entity's current status for one milestone (a ``milestone_status`` row)."""

    achieved: bool
    achieved_at: datetime | None = None


EventCountKey = tuple[str, str | None, int]  # (kind as its string, name or None, days)
EventCounts = Mapping[EventCountKey, int] | Callable[[str, str | None, int], int]


def count_window(now: datetime, days: int) -> tuple[date, date]:
    """The first and last UTC day (both included) an ``event_count`` over ``days`` covers."""
    today = now.astimezone(timezone.utc).date()
    return today - timedelta(days=days - 1), today


@dataclass(frozen=True)
class EntityFacts:
    """What a definition may ask about one entity. Anything absent is the neutral fact:
    no traits, no milestone achieved, no events, no tags.

    ``now`` must be timezone-aware, as must every ``achieved_at``. ``event_counts`` is a
    mapping keyed by ``(kind, name, days)`` (``kind`` as its string, e.g.
    ``("Action", "Invited User", 30)`` or ``("Page", None, 7)``) or a callable taking
    the same three arguments; either answers the count over :func:`count_window`.
    ``tags`` holds the ids of the smart tags the entity carries.
    """

    now: datetime
    traits: Mapping[str, Any] = field(default_factory=dict)
    milestones: Mapping[str, MilestoneFact] = field(default_factory=dict)
    event_counts: EventCounts = field(default_factory=dict)
    tags: AbstractSet[str] = frozenset()

    def event_count(self, kind: str, name: str | None, days: int) -> int:
        if callable(self.event_counts):
            return self.event_counts(kind, name, days)
        return self.event_counts.get((kind, name, days), 0)


def evaluate(definition: ConditionGroup, facts: EntityFacts) -> bool:
    """Whether the entity described by ``facts`` matches the definition."""
    if facts.now.tzinfo is None:
        raise ValueError("facts.now must be timezone-aware")
    return _holds(definition, facts)


def _holds(condition: Condition, facts: EntityFacts) -> bool:
    if isinstance(condition, ConditionGroup):
        results = (_holds(c, facts) for c in condition.conditions)
        return all(results) if condition.match == "all" else any(results)
    if isinstance(condition, TraitCondition):
        return condition.filter.matches(facts.traits)
    if isinstance(condition, MilestoneCondition):
        return _milestone_holds(condition, facts.milestones.get(condition.milestone_id), facts.now)
    if isinstance(condition, EventCountCondition):
        count = facts.event_count(condition.kind.value, condition.name, condition.days)
        return _COMPARE[condition.op](count, condition.value)
    if isinstance(condition, TagCondition):
        return (condition.tag_id in facts.tags) is condition.has
    raise TypeError(f"unknown condition {condition!r}")


def _milestone_holds(condition: MilestoneCondition, fact: MilestoneFact | None, now: datetime) -> bool:
    achieved = fact is not None and fact.achieved
    if condition.status is MilestoneStatus.achieved:
        return achieved
    if condition.status is MilestoneStatus.not_achieved:
        return not achieved
    assert condition.days is not None  # enforced by the model
    if fact is None or not fact.achieved or fact.achieved_at is None:
        return False
    return fact.achieved_at > now - timedelta(days=condition.days)


# --- Tags that use tags ------------------------------------------------------------------


def find_cycle(uses: Mapping[str, Iterable[str]], start: str) -> list[str] | None:
    """The shortest path ``[start, ..., start]`` along ``uses`` (tag id -> ids it
    references), or None when ``start`` cannot reach itself."""
    parents: dict[str, str] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for used in sorted(set(uses.get(node, ()))):
            if used == start:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return [*reversed(path), start]
            if used not in seen:
                seen.add(used)
                parents[used] = node
                queue.append(used)
    return None


def evaluation_order(uses: Mapping[str, Iterable[str]]) -> list[str]:
    """Tag ids ordered so every tag comes after the tags it uses (ids it uses that are
    not keys of ``uses`` are taken as given); ties broken by id, so the order is stable.
    Raises ``ValueError`` naming a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = in progress, 2 = done
    for root in sorted(uses):
        if state.get(root) == 2:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(set(uses[root]))))]
        state[root] = 1
        while stack:
            node, pending = stack[-1]
            child = next(pending, None)
            if child is None:
                stack.pop()
                state[node] = 2
                order.append(node)
            elif child in uses and state.get(child) != 2:
                if state.get(child) == 1:
                    raise ValueError(f"tags form a cycle through {child!r}: {find_cycle(uses, child)}")
                state[child] = 1
                stack.append((child, iter(sorted(set(uses[child])))))
    return order


def evaluate_tags(definitions: Mapping[str, ConditionGroup], facts: EntityFacts) -> frozenset[str]:
    """The ids among ``definitions`` (tag id -> definition, all of one entity type) that
    the entity carries. Tags are evaluated in dependency order, each seeing the results
    of the tags it uses; a used tag missing from ``definitions`` is looked up in
    ``facts.tags``."""
    order = evaluation_order({tag_id: referenced_tags(d) for tag_id, d in definitions.items()})
    carried = set(facts.tags) - set(definitions)
    current = replace(facts, tags=carried)  # sees each tag as soon as it is decided
    for tag_id in order:
        if evaluate(definitions[tag_id], current):
            carried.add(tag_id)
    return frozenset(carried & set(definitions))
