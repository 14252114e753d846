"""Smart tag and view definitions (:mod:`variance.core.tag_tree`) compiled to SQL, for the
DuckDB warehouse and BigQuery, and for the app database (SQLite, PostgreSQL).

The meaning is the one ``core/tag_tree.py`` defines and evaluates in Python (its module
docstring); this module only says it in SQL, the way :mod:`variance.core.filter_sql` does
for property filters, and every trait condition goes through that one filter compiler.
Everything is a sqlglot tree: ids, names and values become literals the generator escapes
for the dialect, so nothing from a definition is ever spliced into SQL text.

What the predicate reads (the caller provides these relations, e.g. dbt's
``membership_inputs`` macro):

- ``entities`` as ``e``: ``org_id``, ``entity_type``, ``entity_id``, ``traits`` (JSON as the
  dialect holds it: VARCHAR text in DuckDB, ``JSON`` in BigQuery, JSON text in SQLite,
  JSON text or JSONB in PostgreSQL; see :mod:`variance.core.filter_sql` for what each
  dialect of trait condition cannot compile yet) and ``as_of_us`` (the
  as-of instant in microseconds since the epoch);
- ``milestone_status`` as ``s``: ``org_id``, ``milestone_id``, ``entity_id``, ``achieved``
  (boolean) and ``achieved_at_us``;
- ``activity`` as ``a``: ``org_id``, ``entity_type``, ``entity_id``, ``kind``, ``name`` (the
  Action or Milestone name, ``''`` for other kinds), ``days_ago`` (0 for the as-of time's
  UTC day) and ``events`` (a count).

How each condition becomes SQL: a group is ``AND``/``OR`` of its parts; a trait is the
filter compiler's never-NULL predicate over ``e.traits``; a milestone is ``EXISTS`` (or
``NOT EXISTS`` for ``not_achieved``) over ``milestone_status``, with ``achieved_at_us >
as_of_us - days`` for ``achieved_within``; an event count is ``COALESCE(SUM(events), 0)``
over ``days_ago`` 0..days-1 compared with the value (so no events is a count of 0); a tag
is its own definition inlined in parentheses (negated for ``has: false``), so no
evaluation order is needed. A tag that does not exist, is about the other entity type or
would inline itself (a cycle, which the API refuses) is carried by nobody: ``FALSE``.
No part is ever NULL, so ``NOT`` is an exact complement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from variance.core.filter_sql import Dialect, filters_expression
from variance.core.tag_tree import (
    ConditionGroup,
    CountOp,
    EventCountCondition,
    MilestoneCondition,
    MilestoneStatus,
    TagCondition,
    TraitCondition,
)

ENTITIES = "entities"
MILESTONE_STATUS = "milestone_status"
ACTIVITY = "activity"

_DAY_US = 86_400_000_000
_COUNT_OPS = {CountOp.gte: exp.GTE, CountOp.gt: exp.GT, CountOp.lte: exp.LTE, CountOp.lt: exp.LT, CountOp.eq: exp.EQ}


@dataclass(frozen=True)
class Relations:
    """The names the compiled SQL reads the three relations under (a caller that adapts
    other tables with CTEs names them apart from the tables they read)."""

    entities: str = ENTITIES
    milestone_status: str = MILESTONE_STATUS
    activity: str = ACTIVITY


@dataclass(frozen=True)
class TagTree:
    """A smart tag another definition may use: the entity type it is about and its tree."""

    entity: str
    definition: ConditionGroup


def tree_expression(
    definition: ConditionGroup,
    *,
    entity: str,
    dialect: Dialect,
    tags: Mapping[str, TagTree] | None = None,
    using: tuple[str, ...] = (),
    relations: Relations = Relations(),
) -> exp.Expr:
    """The definition as a boolean SQL expression, never NULL, over the row ``e`` of
    ``entities`` (see the module docstring). ``tags`` holds the smart tags of the same
    organisation by id; ``using`` the ids of tags being inlined (a tag's own id when
    compiling its membership), which a tag condition may not inline again."""
    return _Compiler(entity, dialect, dict(tags or {}), relations).group(definition, using)


def members_query(
    definition: ConditionGroup,
    *,
    org_id: str,
    entity: str,
    dialect: Dialect,
    id_column: str,
    id_value: str,
    tags: Mapping[str, TagTree] | None = None,
    using: tuple[str, ...] = (),
    relations: Relations = Relations(),
) -> exp.Select:
    """``SELECT org_id, <id_column>, entity_id FROM entities AS e WHERE ...``: the entities
    of one organisation and entity type the definition holds, labelled with the tag's or
    view's id."""
    predicate = tree_expression(definition, entity=entity, dialect=dialect, tags=tags, using=using, relations=relations)
    return (
        exp.select(
            exp.alias_(exp.cast(exp.Literal.string(org_id), "TEXT"), "org_id"),
            exp.alias_(exp.cast(exp.Literal.string(id_value), "TEXT"), id_column),
            exp.column("entity_id", "e"),
        )
        .from_(exp.alias_(exp.to_table(relations.entities), "e", table=True))
        .where(
            exp.and_(
                _eq(exp.column("org_id", "e"), exp.Literal.string(org_id)),
                _eq(exp.column("entity_type", "e"), exp.Literal.string(entity)),
                exp.paren(predicate),
            )
        )
    )


def compile_tree(definition: ConditionGroup, *, entity: str, dialect: Dialect, **kwargs) -> str:
    """SQL text of :func:`tree_expression` for ``dialect``."""
    return tree_expression(definition, entity=entity, dialect=dialect, **kwargs).sql(dialect=dialect)


def _eq(left: exp.Expr, right: exp.Expr) -> exp.Expr:
    return exp.EQ(this=left, expression=right)


@dataclass(frozen=True)
class _Compiler:
    entity: str
    dialect: Dialect
    tags: dict[str, TagTree]
    relations: Relations = Relations()

    def group(self, group: ConditionGroup, using: tuple[str, ...]) -> exp.Expr:
        parts = [self.condition(c, using) for c in group.conditions]
        return exp.and_(*parts) if group.match == "all" else exp.or_(*parts)

    def condition(self, condition, using: tuple[str, ...]) -> exp.Expr:
        if isinstance(condition, ConditionGroup):
            return exp.paren(self.group(condition, using))
        if isinstance(condition, TraitCondition):
            return filters_expression([condition.filter], exp.column("traits", "e"), self.dialect)
        if isinstance(condition, MilestoneCondition):
            return self.milestone(condition)
        if isinstance(condition, EventCountCondition):
            return self.event_count(condition)
        if isinstance(condition, TagCondition):
            return self.tag(condition, using)
        raise TypeError(f"unknown condition {condition!r}")

    def milestone(self, condition: MilestoneCondition) -> exp.Expr:
        where = [
            _eq(exp.column("org_id", "s"), exp.column("org_id", "e")),
            _eq(exp.column("entity_id", "s"), exp.column("entity_id", "e")),
            _eq(exp.column("milestone_id", "s"), exp.Literal.string(condition.milestone_id)),
            exp.column("achieved", "s"),
        ]
        if condition.status is MilestoneStatus.achieved_within:
            days = condition.days or 0  # the model requires days for achieved_within
            since = exp.Sub(this=exp.column("as_of_us", "e"), expression=exp.Literal.number(days * _DAY_US))
            where.append(exp.GT(this=exp.column("achieved_at_us", "s"), expression=since))
        held = exp.Exists(
            this=exp.select(exp.Literal.number(1))
            .from_(exp.alias_(exp.to_table(self.relations.milestone_status), "s", table=True))
            .where(exp.and_(*where))
        )
        return exp.Not(this=held) if condition.status is MilestoneStatus.not_achieved else held

    def event_count(self, condition: EventCountCondition) -> exp.Expr:
        total = exp.Coalesce(this=exp.Sum(this=exp.column("events", "a")), expressions=[exp.Literal.number(0)])
        count = (
            exp.select(total)
            .from_(exp.alias_(exp.to_table(self.relations.activity), "a", table=True))
            .where(
                exp.and_(
                    _eq(exp.column("org_id", "a"), exp.column("org_id", "e")),
                    _eq(exp.column("entity_type", "a"), exp.Literal.string(self.entity)),
                    _eq(exp.column("entity_id", "a"), exp.column("entity_id", "e")),
                    _eq(exp.column("kind", "a"), exp.Literal.string(condition.kind.value)),
                    _eq(exp.column("name", "a"), exp.Literal.string(condition.name or "")),
                    exp.Between(
                        this=exp.column("days_ago", "a"),
                        low=exp.Literal.number(0),
                        high=exp.Literal.number(condition.days - 1),
                    ),
                )
            )
        )
        compare = _COUNT_OPS[condition.op]
        return compare(this=exp.Subquery(this=count), expression=exp.Literal.number(condition.value))

    def tag(self, condition: TagCondition, using: tuple[str, ...]) -> exp.Expr:
        used = self.tags.get(condition.tag_id)
        if used is None or used.entity != self.entity or condition.tag_id in using:
            carried: exp.Expr = exp.false()
        else:
            carried = exp.paren(self.group(used.definition, (*using, condition.tag_id)))
        return carried if condition.has else exp.Not(this=carried)
