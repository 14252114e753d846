"""workspace/view_members.py answers from SQL (serving/tag_query.py) and, where SQL cannot
decide (a timestamp comparison), from the Python evaluator: the same members, total and
pages either way, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.support import builders
from variance.appdb.models import View
from variance.appdb.session import make_engine, migrate, session_factory
from variance.core.tag_tree import dump_definition, parse_definition
from variance.serving import tag_query
from variance.workspace.orgs import act_as, create_org
from variance.workspace.view_members import view_members


def pro(*extra):
    conditions = [{"type": "trait", "filter": {"path": "plan", "op": "equals", "value": "pro"}}, *extra]
    return {"type": "group", "match": "all", "conditions": conditions}


SINCE = {"type": "trait", "filter": {"path": "since", "op": "gte", "value": "2024-01-01"}}


@pytest.fixture
def db(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        org = create_org(session, "Acme").org.id
        session.add_all(
            builders.account(
                org, f"a{i}", name=f"N{i:02d}", traits={"plan": "pro" if i % 3 else "free", "since": "2024-02-01"}
            )
            for i in range(12)
        )
        for view_id, definition in (("viw_sql", pro()), ("viw_python", pro(SINCE))):
            session.add(View(id=view_id, org_id=org, name=view_id, entity="account",
                             definition=dump_definition(parse_definition(definition)), visibility="team"))  # fmt: skip
    yield sessions, org
    engine.dispose()


def pages(session, principal, view_id):
    cursor, seen = None, []
    while True:
        page = view_members(session, principal, view_id, limit=3, cursor=cursor)
        seen.append(([m.entity_id for m in page.items], page.total))
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def test_sql_and_python_give_the_same_pages(db, monkeypatch):
    sessions, org = db
    asked = []
    real = tag_query.matching_in_sql
    monkeypatch.setattr(tag_query, "matching_in_sql", lambda *a, **k: asked.append(r := real(*a, **k)) or r)
    with sessions() as session:
        principal = act_as(session, org)
        by_sql = pages(session, principal, "viw_sql")
        by_python = pages(session, principal, "viw_python")
    assert asked[0] is not None and all(found is None for found in asked[len(by_sql) :])
    assert by_sql == by_python
    assert [ids for ids, _ in by_sql] == [["a1", "a2", "a4"], ["a5", "a7", "a8"], ["a10", "a11"]]
    assert {total for _, total in by_sql} == {8}
