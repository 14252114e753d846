"""serving/tag_query.py: a definition's members in SQL over the serving tables equal
serving/tags.py's Python evaluation on the same data, on SQLite and PostgreSQL, for
traits (quotes, unicode, numbers as strings, booleans, nested, missing), milestones
(achieved within N days at the boundary), daily event counts (window edges, another
entity type), tags used and negated, another organisation; and where SQL cannot decide
it says so (None) instead of answering differently."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.support import builders
from tests.web.builders import daily
from variance.appdb.models import AccountRow, Milestone, SmartTag
from variance.appdb.session import make_engine, migrate, session_factory
from variance.core.tag_tree import dump_definition, parse_definition
from variance.core.vocabulary import EntityType
from variance.serving.tag_query import matching_in_sql
from variance.serving.tags import matching
from variance.workspace.orgs import create_org

NOW = datetime(2024, 6, 1, 12, tzinfo=timezone.utc)


def group(*conditions, match="all"):
    return {"type": "group", "match": match, "conditions": list(conditions)}


def trait(path, op, value=None):
    return {"type": "trait", "filter": {"path": path, "op": op, "value": value}}


def within(days):
    return {"type": "milestone", "milestone_id": "mil_pql", "status": "achieved_within", "days": days}


def count(op, value, days, kind="Action", name="Invited User"):
    return {"type": "event_count", "kind": kind, "name": name, "op": op, "value": value, "days": days}


def has(tag_id, yes=True):
    return {"type": "tag", "tag_id": tag_id, "has": yes}


TRAITS = {
    "a1": {"plan": "pro", "seats": 12, "name": 'O\'Brien "&" Co', "flag": True},
    "a2": {"plan": "free", "seats": "12", "company": {"tier": "gold"}, "flag": False},
    "a3": {"plan": "Pro", "seats": 12.0, "city": "Zürich 😀", "nothing": None},
    "a4": {},
    "a5": {"plan": "pro", "tags": ["x"], "big": 2**63 - 1},
    "a6": {"plan": "pro"},
    "a7": {"plan": "pro"},
}
# By code point "fig" sorts before "éclair", as the lists' keyset cursors compare them;
# a database collation would put "éclair" first.
NAMES = {"a6": "Éclair", "a7": "Fig"}

DEFINITIONS = {
    "equals is case-sensitive": group(trait("plan", "equals", "pro")),
    "a number never equals its string": group(trait("seats", "equals", 12)),
    "the string": group(trait("seats", "equals", "12")),
    "quotes": group(trait("name", "equals", 'O\'Brien "&" Co')),
    "unicode contains": group(trait("city", "contains", "ü")),
    "starts_with": group(trait("plan", "starts_with", "P")),
    "booleans": group(trait("flag", "not_equals", True)),
    "nested": group(trait("company.tier", "in", ["gold", "silver"])),
    "null is missing": group(trait("nothing", "not_exists")),
    "arrays are not traversed": group(trait("tags.0", "exists")),
    "big integers round": group(trait("big", "gte", 2**63)),
    "within 7 days, exactly 7 out": group(within(7)),
    "not achieved": group({"type": "milestone", "milestone_id": "mil_pql", "status": "not_achieved", "days": None}),
    "count over 7 days, today included": group(count("gte", 3, 7)),
    "count over 1 day": group(count("eq", 1, 1)),
    "no events is 0": group(count("lt", 1, 30, kind="Page", name=None)),
    "a tag used": group(has("tag_pro")),
    "a tag negated, or": group(has("tag_pro", False), trait("seats", "exists"), match="any"),
    "a tag using a tag": group(has("tag_pro_busy")),
    "a missing tag": group(has("tag_gone")),
    "the other entity's tag": group(has("tag_contacts")),
}


@pytest.fixture
def db(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        org = create_org(session, "Acme").org.id
        other = create_org(session, "Other").org.id
        session.add(
            Milestone(id="mil_pql", org_id=org, name="PQL", entity="account", event_kind="Action",
                      event_name="Invited User", threshold=3)
        )  # fmt: skip
        session.flush()
        session.add_all([builders.account(org, a, name=NAMES.get(a, a.upper()), traits=t) for a, t in TRAITS.items()])
        session.add_all(
            [
                builders.account(other, "a4", name="Theirs", traits={"plan": "pro"}),
                builders.achieved(org, "mil_pql", "a1", at=NOW - timedelta(days=2)),
                builders.achieved(org, "mil_pql", "a2", at=NOW - timedelta(days=7)),
                builders.achieved(other, "mil_pql", "a4", at=NOW),
                daily(org, "account", "a2", (NOW - timedelta(days=6)).date(), count=2),
                daily(org, "account", "a2", NOW.date(), count=1),
                daily(org, "account", "a3", (NOW - timedelta(days=7)).date(), count=9),
                daily(org, "account", "a3", (NOW + timedelta(days=1)).date(), count=9),
                daily(org, "contact", "a4", NOW.date(), count=5),
                daily(other, "account", "a4", NOW.date(), count=5),
                SmartTag(id="tag_pro", org_id=org, name="pro", entity="account",
                         definition=dump_definition(parse_definition(group(trait("plan", "equals", "pro"))))),
                SmartTag(id="tag_pro_busy", org_id=org, name="pro busy", entity="account",
                         definition=dump_definition(parse_definition(group(has("tag_pro"), count("gte", 1, 30))))),
                SmartTag(id="tag_contacts", org_id=org, name="c", entity="contact",
                         definition=dump_definition(parse_definition(group(trait("plan", "exists"))))),
            ]
        )  # fmt: skip
    yield sessions, org
    engine.dispose()


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_sql_members_equal_the_python_evaluation(db, name):
    sessions, org = db
    definition = parse_definition(DEFINITIONS[name])
    with sessions() as session:
        expected = matching(session, org, EntityType.account, definition, NOW)
        assert matching_in_sql(session, org, EntityType.account, definition, NOW) == expected


def test_the_data_tells_the_cases_apart(db):
    sessions, org = db
    with sessions() as session:
        ids = {
            name: [m.entity_id for m in matching_in_sql(session, org, EntityType.account, parse_definition(d), NOW)]
            for name, d in DEFINITIONS.items()
        }
    assert ids["equals is case-sensitive"] == ["a1", "a5", "a7", "a6"]
    assert ids["a number never equals its string"] == ["a1", "a3"]
    assert ids["within 7 days, exactly 7 out"] == ["a1"]
    assert ids["count over 7 days, today included"] == ["a2"]
    assert ids["a tag using a tag"] == []
    assert ids["the other entity's tag"] == []


def test_what_sql_cannot_decide_is_left_to_python(db, database_url):
    sessions, org = db
    with sessions() as session:
        stamp = parse_definition(group(trait("at", "gt", "2024-05-01")))
        assert matching_in_sql(session, org, EntityType.account, stamp, NOW) is None
        plan = parse_definition(group(trait("plan", "exists")))
        session.get(AccountRow, (org, "a4")).traits = '{"plan": "a\\u0000b"}'
        session.flush()
        assert matching_in_sql(session, org, EntityType.account, plan, NOW) is None
        assert [m.entity_id for m in matching(session, org, EntityType.account, plan, NOW)] == [
            "a1",
            "a2",
            "a3",
            "a4",
            "a5",
            "a7",
            "a6",
        ]
        # Nothing else went wrong in the transaction: it still answers.
        assert len(matching(session, org, EntityType.account, plan, NOW)) == 7
