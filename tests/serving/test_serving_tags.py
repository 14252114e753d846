"""Smart tag membership written into ``tag_members``: traits, milestones achieved within
N days, event counts over days, tags that use tags; entering and leaving as time passes;
another organisation never counted. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.support import builders
from tests.web.builders import daily
from variance.appdb.models import Milestone, SmartTag, TagMemberRow
from variance.appdb.session import make_engine, migrate, session_factory
from variance.core.tag_tree import dump_definition, parse_definition
from variance.serving.tags import refresh_tag_members
from variance.workspace.orgs import create_org

NOW = datetime(2024, 6, 1, 12, tzinfo=timezone.utc)


def group(*conditions, match="all"):
    return {"type": "group", "match": match, "conditions": list(conditions)}


def tag(org_id, tag_id, definition, entity="account"):
    return SmartTag(
        id=tag_id, org_id=org_id, name=tag_id, entity=entity, definition=dump_definition(parse_definition(definition))
    )


@pytest.fixture
def db(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    yield sessions
    engine.dispose()


def members(sessions, org_id):
    with sessions() as session:
        rows = session.execute(select(TagMemberRow.tag_id, TagMemberRow.entity_id).where(TagMemberRow.org_id == org_id))
        return sorted(rows.all())


def test_membership_follows_traits_milestones_counts_and_other_tags(db):
    with db() as session, session.begin():
        org = create_org(session, "Acme").org.id
        other = create_org(session, "Other").org.id
        session.add(
            Milestone(id="mil_pql", org_id=org, name="PQL", entity="account", event_kind="Action",
                      event_name="Invited User", threshold=3)
        )  # fmt: skip
        session.flush()
        session.add_all(
            [
                builders.account(org, "a1", name="One", traits={"plan": "pro"}),
                builders.account(org, "a2", name="Two", traits={"plan": "free"}),
                builders.account(org, "a3", name="Three", traits={"plan": "pro"}),
                builders.account(other, "a1", name="Theirs", traits={"plan": "pro"}),
                builders.achieved(org, "mil_pql", "a1", at=NOW - timedelta(days=2)),
                builders.achieved(org, "mil_pql", "a3", at=NOW - timedelta(days=10)),
                daily(org, "account", "a2", (NOW - timedelta(days=1)).date(), count=2),
                daily(org, "account", "a2", NOW.date(), count=1),
                daily(org, "account", "a3", (NOW - timedelta(days=40)).date(), count=9),
                tag(org, "tag_pro", group({"type": "trait", "filter": {"path": "plan", "op": "equals", "value": "pro"}})),
                tag(org, "tag_hot", group({"type": "milestone", "milestone_id": "mil_pql", "status": "achieved_within", "days": 7})),
                tag(org, "tag_busy", group({"type": "event_count", "kind": "Action", "name": "Invited User",
                                            "op": "gte", "value": 3, "days": 30})),
                tag(org, "tag_pro_not_hot", group({"type": "tag", "tag_id": "tag_pro", "has": True},
                                                  {"type": "tag", "tag_id": "tag_hot", "has": False})),
            ]
        )  # fmt: skip
    with db() as session, session.begin():
        result = refresh_tag_members(session, org, NOW)
    assert members(db, org) == [
        ("tag_busy", "a2"),
        ("tag_hot", "a1"),
        ("tag_pro", "a1"),
        ("tag_pro", "a3"),
        ("tag_pro_not_hot", "a3"),
    ]
    assert (result.entered, result.left) == (5, 0)
    assert members(db, other) == []
    # time alone: six days later a1's achievement is 8 days old, a2's counts still within 30 days
    with db() as session, session.begin():
        later = refresh_tag_members(session, org, NOW + timedelta(days=6))
    assert members(db, org) == [
        ("tag_busy", "a2"),
        ("tag_pro", "a1"),
        ("tag_pro", "a3"),
        ("tag_pro_not_hot", "a1"),
        ("tag_pro_not_hot", "a3"),
    ]
    assert (later.entered, later.left) == (1, 1)
    with db() as session:
        since = session.get(TagMemberRow, (org, "tag_pro_not_hot", "a1")).since
    assert since == NOW + timedelta(days=6)
    # refreshing again changes nothing
    with db() as session, session.begin():
        again = refresh_tag_members(session, org, NOW + timedelta(days=6))
    assert (again.entered, again.left) == (0, 0)
