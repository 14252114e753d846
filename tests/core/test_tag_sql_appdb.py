"""core/tag_sql.py in the app database's dialects: every tree of ``test_tag_sql.py`` runs
on a real SQLite and a real PostgreSQL over the relations the compiler documents, and
must select exactly the entities ``evaluate`` holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import create_engine, text

from tests.core.test_tag_sql import ENTITIES, NOW, ORG, TAGS, TREES, _trait, _tree
from variance.core.tag_sql import TagTree, members_query
from variance.core.tag_tree import evaluate, evaluate_tags, parse_definition
from variance.core.timeutil import to_micros

SCHEMA = [
    "create temporary table entities (org_id text, entity_type text, entity_id text, traits text, as_of_us bigint)",
    "create temporary table milestone_status (org_id text, milestone_id text, entity_id text, achieved boolean, "
    "achieved_at_us bigint)",
    "create temporary table activity (org_id text, entity_type text, entity_id text, kind text, name text, "
    "days_ago bigint, events bigint)",
]


def rows() -> Iterator[tuple[str, dict]]:
    for e in ENTITIES:
        for org in (ORG, "org_other"):  # another organisation's identical rows must never count
            yield "insert into entities values (:o, 'account', :e, :t, :n)", {
                "o": org, "e": e.entity_id, "t": orjson.dumps(e.traits).decode(), "n": to_micros(NOW)
            }  # fmt: skip
            for milestone_id, fact in e.milestones.items():
                at = to_micros(fact.achieved_at) if fact.achieved_at else None
                yield "insert into milestone_status values (:o, :m, :e, :a, :at)", {
                    "o": org, "m": milestone_id, "e": e.entity_id, "a": fact.achieved, "at": at
                }  # fmt: skip
        for kind, name, ago, events in e.activity:
            yield "insert into activity values (:o, 'account', :e, :k, :nm, :ago, :n)", {
                "o": ORG, "e": e.entity_id, "k": kind, "nm": name or "", "ago": ago, "n": events
            }  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def appdb(request: pytest.FixtureRequest):
    if request.param == "sqlite":
        connection = sqlite3.connect(":memory:")
        for statement in SCHEMA:
            connection.execute(statement)
        for statement, params in rows():
            connection.execute(statement, params)
        yield "sqlite", lambda sql: {row[2] for row in connection.execute(sql)}
        connection.close()
        return
    engine = create_engine(request.getfixturevalue("postgres_server"))
    with engine.connect() as conn:
        for statement in SCHEMA:
            conn.execute(text(statement))
        for statement, params in rows():
            conn.execute(text(statement), params)
        yield "postgres", lambda sql: {row[2] for row in conn.execute(text(sql))}
        conn.rollback()
    engine.dispose()


def members(appdb, definition) -> set[str]:
    dialect, run = appdb
    query = members_query(
        definition,
        org_id=ORG,
        entity="account",
        dialect=dialect,
        id_column="tag_id",
        id_value="tag_x",
        tags={k: TagTree("account", v) for k, v in TAGS.items()},
    )
    return run(query.sql(dialect=dialect))


TRAIT_TREES = {
    "numbers as strings never equal numbers": _tree("any", _trait("seats", "equals", "12"), _trait("seats", "in", [3])),
    "contains and starts_with, case-sensitive": _tree(
        "any", _trait("name", "contains", "'Brien"), _trait("plan", "starts_with", "Pr")
    ),
    "not_exists holds for a missing trait": _tree("all", _trait("name", "not_exists")),
}


@pytest.mark.parametrize("name", [*TREES, *TRAIT_TREES])
def test_sql_holds_exactly_the_entities_the_evaluator_holds(appdb, name):
    definition = parse_definition({**TREES, **TRAIT_TREES}[name])
    expected = {e.entity_id for e in ENTITIES if evaluate(definition, e.facts(evaluate_tags(TAGS, e.facts())))}
    assert members(appdb, definition) == expected


def test_the_fixture_tells_the_cases_apart(appdb):
    assert members(appdb, parse_definition(TREES["achieved within 7 days (exactly 7 is out)"])) == {"a1"}
    assert members(appdb, parse_definition(TREES["count over 7 days, today included"])) == {"a4"}
    assert members(appdb, parse_definition(TREES["a quote in a value"])) == {"a3"}
    assert members(appdb, parse_definition(TRAIT_TREES["numbers as strings never equal numbers"])) == {"a5"}
