"""Smart tag and view membership in SQL over the serving tables: the same answer as
``variance.serving.tags.matching`` (which evaluates every entity in Python), from one
query the app database answers with its indexes.

The definition compiles through ``variance.core.tag_sql`` (and its traits through
``variance.core.filter_sql``) in the app database's dialect, over three CTEs that adapt
the serving tables to the relations that compiler reads: the organisation's accounts or
contacts as ``entities`` (traits as stored, ``as_of_us`` = now), ``milestone_status``
with ``achieved_at`` in microseconds, and ``daily_activity`` with ``days_ago`` counted from
now's UTC day. The CTEs are ``NOT MATERIALIZED`` so each correlated lookup reaches the
tables' primary keys. Used tags are inlined from their definitions, not read from
``tag_members``, as ``matching`` does.

:func:`matching_in_sql` returns None where SQL cannot give the Python answer, and the
caller evaluates in Python instead: a trait condition the dialect does not compile yet
(timestamp comparisons), traits PostgreSQL cannot read as JSONB (not JSON, or holding
``\\u0000``), and on SQLite traits holding a ``\\u`` escape (SQLite cuts a string at
``\\u0000`` and passes lone surrogates through, where the Python side decodes or refuses).
Traits are written by orjson, so numbers beyond a double (which orjson refuses to read and
SQL reads as infinite) never occur there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import exists, func, select, text
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from variance.appdb.models import AccountRow, ContactRow
from variance.appdb.types import utcnow
from variance.core.tag_sql import Relations, TagTree, members_query
from variance.core.tag_tree import ConditionGroup, TraitCondition, walk
from variance.core.timeutil import to_micros
from variance.core.vocabulary import EntityType, ServingTable
from variance.serving.tags import Member, _used_tags, tag_definitions

AppDialect = Literal["sqlite", "postgres"]
_RELATIONS = Relations(entities="tq_entities", milestone_status="tq_milestones", activity="tq_activity")


def _dialect(session: Session) -> AppDialect:
    name = session.get_bind().dialect.name
    if name == "sqlite":
        return "sqlite"
    if name == "postgresql":
        return "postgres"
    raise ValueError(f"database dialect {name!r}: tag queries run on sqlite or postgresql")


def _inputs(dialect: AppDialect, entity: EntityType) -> str:
    """The CTEs, as SQL text with bound parameters (:org_id, :entity, :as_of_us, :today)."""
    table = ServingTable.accounts.value if entity == EntityType.account else ServingTable.contacts.value
    id_column = "account_id" if entity == EntityType.account else "contact_id"
    if dialect == "sqlite":
        # Text the JSON functions cannot read, or that is not an object, is no traits.
        traits = "CASE WHEN json_valid(traits) THEN CASE WHEN json_type(traits) = 'object' THEN traits END END"
        achieved_at_us = (
            "CAST(strftime('%s', substr(achieved_at, 1, 19)) AS INTEGER) * 1000000"
            " + CAST(substr(achieved_at, 21, 6) AS INTEGER)"
        )
        days_ago = "CAST(julianday(:today) - julianday(day) AS INTEGER)"
    else:
        traits = "traits"
        achieved_at_us = "CAST(EXTRACT(EPOCH FROM achieved_at) * 1000000 AS BIGINT)"
        days_ago = "(CAST(:today AS DATE) - day)"
    return (
        f"WITH {_RELATIONS.entities} AS NOT MATERIALIZED ("
        f"SELECT org_id, :entity AS entity_type, {id_column} AS entity_id, search_name, {traits} AS traits,"
        f" :as_of_us AS as_of_us FROM {table} WHERE org_id = :org_id),"
        f" {_RELATIONS.milestone_status} AS NOT MATERIALIZED ("
        f"SELECT org_id, milestone_id, entity_id, achieved, {achieved_at_us} AS achieved_at_us"
        f" FROM {ServingTable.milestone_status.value} WHERE org_id = :org_id),"
        f" {_RELATIONS.activity} AS NOT MATERIALIZED ("
        f"SELECT org_id, entity_type, entity_id, kind, name, {days_ago} AS days_ago, count AS events"
        f" FROM {ServingTable.daily_activity.value} WHERE org_id = :org_id AND entity_type = :entity) "
    )


def _uses_traits(definitions: list[ConditionGroup]) -> bool:
    return any(isinstance(c, TraitCondition) for d in definitions for _, c in walk(d))


def _sqlite_escapes(session: Session, org_id: str, entity: EntityType) -> bool:
    model = AccountRow if entity == EntityType.account else ContactRow
    found = exists().where(model.org_id == org_id, func.instr(model.traits, "\\u") > 0)
    return bool(session.scalar(select(found)))


def matching_in_sql(
    session: Session, org_id: str, entity: EntityType, definition: ConditionGroup, now: datetime | None = None
) -> list[Member] | None:
    """The accounts or contacts ``definition`` holds now, by name then id, as
    ``serving.tags.matching`` gives them; None when SQL cannot decide (module docstring)."""
    now = now or utcnow()
    dialect = _dialect(session)
    tags = tag_definitions(session, org_id, entity)
    used = {t: TagTree(entity.value, tags[t]) for t in _used_tags(definition, tags)}
    traits = _uses_traits([definition, *(t.definition for t in used.values())])
    if traits and dialect == "sqlite" and _sqlite_escapes(session, org_id, entity):
        return None
    try:
        query = members_query(
            definition,
            org_id=org_id,
            entity=entity.value,
            dialect=dialect,
            id_column="view_id",
            id_value="",
            tags=used,
            relations=_RELATIONS,
        )
    except ValueError:  # a trait condition this dialect does not compile yet
        return None
    query = query.select("e.search_name", append=True)
    sql = _inputs(dialect, entity) + query.sql(dialect=dialect)
    params = {"org_id": org_id, "entity": entity.value, "as_of_us": to_micros(now), "today": now.date().isoformat()}
    try:
        with session.begin_nested():  # PostgreSQL: a cast that raises must not end the transaction
            rows = session.execute(text(sql), params).all()
    except DataError:  # traits PostgreSQL cannot read as JSONB
        return None
    # Sorted here, not by ORDER BY: PostgreSQL would sort by its collation, the keyset
    # cursors of the lists compare Python strings (code points).
    return sorted((Member(entity_id, search_name) for _, _, entity_id, search_name in rows), key=_by_name)


def _by_name(member: Member) -> tuple[str, str]:
    return member.search_name, member.entity_id
