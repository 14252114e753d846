"""core/tag_sql.py: smart tag and view trees compiled to SQL mean what core/tag_tree.py's
evaluator means. Each tree runs in DuckDB over a few entities (facts stored as the
relations the compiler documents) and must select exactly the entities ``evaluate`` holds;
the BigQuery form must parse as BigQuery and escape every value; a trait condition is the
filter compiler's own SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import duckdb
import orjson
import pytest
import sqlglot
from sqlglot import exp

from variance.core.filter_sql import filters_expression
from variance.core.filters import PropertyFilter
from variance.core.tag_sql import TagTree, compile_tree, members_query, tree_expression
from variance.core.tag_tree import EntityFacts, MilestoneFact, evaluate, evaluate_tags, parse_definition
from variance.core.timeutil import to_micros

NOW = datetime(2024, 5, 31, 15, 0, tzinfo=timezone.utc)
ORG = "org_t"


@dataclass
class Entity:
    """One account's facts, as the fixture stores them: traits, milestone statuses and
    daily activity rows ``(kind, name, days_ago, events)``."""

    entity_id: str
    traits: dict = field(default_factory=dict)
    milestones: dict[str, MilestoneFact] = field(default_factory=dict)
    activity: list[tuple[str, str | None, int, int]] = field(default_factory=list)

    def facts(self, tags: frozenset[str] = frozenset()) -> EntityFacts:
        def count(kind: str, name: str | None, days: int) -> int:
            return sum(n for k, nm, ago, n in self.activity if k == kind and nm == name and 0 <= ago < days)

        return EntityFacts(now=NOW, traits=self.traits, milestones=self.milestones, event_counts=count, tags=tags)


ENTITIES = [
    Entity("a1", {"plan": "pro", "seats": 12}, {"mil_pql": MilestoneFact(True, NOW - timedelta(days=2))}),
    Entity("a2", {"plan": "free"}, {"mil_pql": MilestoneFact(True, NOW - timedelta(days=7))}),
    Entity("a3", {"plan": "pro", "name": "O'Brien & Co"}, {"mil_pql": MilestoneFact(False, None)}),
    Entity("a4", {}, {}, [("Action", "Invited User", 0, 2), ("Action", "Invited User", 6, 3), ("Page", None, 1, 4)]),
    Entity("a5", {"seats": 3}, {}, [("Action", "Invited User", 7, 10), ("Milestone", "PQL", 0, 1)]),
]


def _tree(match: str, *conditions: dict) -> dict:
    return {"type": "group", "match": match, "conditions": list(conditions)}


def _trait(path: str, op: str, value=None) -> dict:
    return {"type": "trait", "filter": {"path": path, "op": op, "value": value}}


def _milestone(status: str, days: int | None = None) -> dict:
    return {"type": "milestone", "milestone_id": "mil_pql", "status": status, "days": days}


def _count(kind: str, name: str | None, op: str, value: int, days: int) -> dict:
    return {"type": "event_count", "kind": kind, "name": name, "op": op, "value": value, "days": days}


TAGS = {
    "tag_pro": parse_definition(_tree("all", _trait("plan", "equals", "pro"))),
    "tag_busy": parse_definition(_tree("any", _count("Action", "Invited User", "gte", 5, 7))),
}

TREES = {
    "trait equals and not_equals": _tree("any", _trait("plan", "equals", "pro"), _trait("seats", "not_equals", 3)),
    "a quote in a value": _tree("all", _trait("name", "equals", "O'Brien & Co")),
    "achieved": _tree("all", _milestone("achieved")),
    "not achieved (never evaluated included)": _tree("all", _milestone("not_achieved")),
    "achieved within 7 days (exactly 7 is out)": _tree("all", _milestone("achieved_within", 7)),
    "count over 7 days, today included": _tree("all", _count("Action", "Invited User", "gte", 5, 7)),
    "count over 1 day": _tree("all", _count("Action", "Invited User", "eq", 2, 1)),
    "no events is a count of 0": _tree("all", _count("Page", None, "lt", 1, 30)),
    "milestone events by name": _tree("all", _count("Milestone", "PQL", "gt", 0, 1)),
    "nested groups": _tree(
        "all", _tree("any", _milestone("achieved"), _trait("seats", "gt", 10)), _trait("plan", "exists")
    ),
    "a tag used and negated": _tree(
        "any", {"type": "tag", "tag_id": "tag_pro", "has": False}, {"type": "tag", "tag_id": "tag_busy", "has": True}
    ),
    "a missing tag is carried by nobody": _tree("any", {"type": "tag", "tag_id": "tag_gone", "has": True}),
}


@pytest.fixture(scope="module")
def warehouse():
    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    connection.execute(
        "create table entities (org_id text, entity_type text, entity_id text, traits text, as_of_us bigint)"
    )
    connection.execute(
        "create table milestone_status (org_id text, milestone_id text, entity_id text, achieved boolean, "
        "achieved_at_us bigint)"
    )
    connection.execute(
        "create table activity (org_id text, entity_type text, entity_id text, kind text, name text, "
        "days_ago bigint, events bigint)"
    )
    for e in ENTITIES:
        for org in (ORG, "org_other"):  # another organisation's identical rows must never count
            connection.execute(
                "insert into entities values (?, 'account', ?, ?, ?)",
                [org, e.entity_id, orjson.dumps(e.traits).decode(), to_micros(NOW)],
            )
            for milestone_id, fact in e.milestones.items():
                at = to_micros(fact.achieved_at) if fact.achieved_at else None
                connection.execute(
                    "insert into milestone_status values (?, ?, ?, ?, ?)",
                    [org, milestone_id, e.entity_id, fact.achieved, at],
                )
        for kind, name, ago, events in e.activity:
            connection.execute(
                "insert into activity values (?, 'account', ?, ?, ?, ?, ?)",
                [ORG, e.entity_id, kind, name or "", ago, events],
            )
    yield connection
    connection.close()


def _members(warehouse, definition, tags=None) -> set[str]:
    query = members_query(
        definition,
        org_id=ORG,
        entity="account",
        dialect="duckdb",
        id_column="tag_id",
        id_value="tag_x",
        tags={k: TagTree("account", v) for k, v in (tags or {}).items()},
    )
    return {row[2] for row in warehouse.execute(query.sql(dialect="duckdb")).fetchall()}


@pytest.mark.parametrize("name", list(TREES))
def test_sql_holds_exactly_the_entities_the_evaluator_holds(warehouse, name):
    definition = parse_definition(TREES[name])
    expected = set()
    for e in ENTITIES:
        carried = evaluate_tags(TAGS, e.facts())
        if evaluate(definition, e.facts(carried)):
            expected.add(e.entity_id)
    assert _members(warehouse, definition, TAGS) == expected


def test_the_fixture_tells_the_cases_apart(warehouse):
    """Each boundary above separates the entities (a tree matching all or none proves little)."""
    assert _members(warehouse, parse_definition(TREES["achieved within 7 days (exactly 7 is out)"]), TAGS) == {"a1"}
    assert _members(warehouse, parse_definition(TREES["count over 7 days, today included"]), TAGS) == {"a4"}
    assert _members(warehouse, parse_definition(TREES["a quote in a value"]), TAGS) == {"a3"}


def test_a_tag_that_would_inline_itself_is_false_not_infinite():
    looping = parse_definition(_tree("any", {"type": "tag", "tag_id": "tag_loop", "has": True}))
    sql = compile_tree(
        looping, entity="account", dialect="duckdb", tags={"tag_loop": TagTree("account", looping)}, using=("tag_loop",)
    )
    assert sql == "FALSE"


def test_a_tag_about_the_other_entity_type_is_carried_by_nobody():
    definition = parse_definition(_tree("all", {"type": "tag", "tag_id": "tag_pro", "has": True}))
    sql = compile_tree(
        definition, entity="contact", dialect="duckdb", tags={"tag_pro": TagTree("account", TAGS["tag_pro"])}
    )
    assert sql == "FALSE"


def test_a_trait_condition_is_the_filter_compilers_sql():
    f = {"path": "company.plan", "op": "starts_with", "value": "ent"}
    definition = parse_definition(_tree("all", {"type": "trait", "filter": f}))
    for dialect in ("duckdb", "bigquery"):
        expected = filters_expression([PropertyFilter(**f)], exp.column("traits", "e"), dialect)
        assert tree_expression(definition, entity="account", dialect=dialect) == expected


@pytest.mark.parametrize("name", list(TREES))
def test_bigquery_sql_parses_and_keeps_values_as_literals(name):
    definition = parse_definition(TREES[name])
    query = members_query(
        definition,
        org_id="org_'; drop table x; --",
        entity="account",
        dialect="bigquery",
        id_column="view_id",
        id_value="view_1",
        tags={k: TagTree("account", v) for k, v in TAGS.items()},
    ).sql(dialect="bigquery")
    (tree,) = sqlglot.parse(query, read="bigquery")
    assert not list(tree.find_all(exp.Anonymous)) or {a.name.upper() for a in tree.find_all(exp.Anonymous)} <= {
        "JSON_TYPE",
        "LAX_STRING",
        "LAX_FLOAT64",
        "LAX_BOOL",
        "STRPOS",
        "STARTS_WITH",
        "REGEXP_CONTAINS",
        "REGEXP_REPLACE",
    }
    strings = {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string}
    assert "org_'; drop table x; --" in strings  # one literal, never SQL text
    assert len(list(tree.find_all(exp.Drop))) == 0
