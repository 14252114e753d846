"""Deleting a contact's data (workspace/contact_deletion.py): the request recorded with
who asked and when, the contact gone from the app database at once, idempotent; on
SQLite and PostgreSQL."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, select

from tests.support import builders
from tests.support import deleted_contact as dc
from variance.appdb.models import (
    ContactDeletion,
    ContactRow,
    DailyActivityRow,
    Follow,
    MilestoneStatusRow,
    SlackOutboxRow,
    StreamItemRow,
    TagMemberRow,
    User,
)
from variance.appdb.session import make_engine, session_factory
from variance.core.vocabulary import AppTable, ServingTable, SlackDelivery
from variance.serving.contact_deletion import deleted_contacts
from variance.slack.outbox import match_key
from variance.workspace.contact_deletion import delete_contact
from variance.workspace.errors import Forbidden, NotFound
from variance.workspace.orgs import act_as

CONTACT_TAG = {
    "type": "group",
    "match": "all",
    "conditions": [{"type": "trait", "filter": {"path": "email", "op": "contains", "value": "@acme.com"}}],
}


def _outbox(org_id: str, stream_id: str, message_id: str, contact_id: str, state: SlackDelivery) -> SlackOutboxRow:
    payload = {"match": {"org_id": org_id, "stream_id": stream_id, "message_id": message_id, "contact_id": contact_id}}
    return SlackOutboxRow(
        key=match_key(org_id, stream_id, message_id),
        org_id=org_id,
        stream_id=stream_id,
        message_id=message_id,
        channel_id="C1",
        payload=orjson.dumps(payload).decode(),
        state=state.value,
    )


@pytest.fixture
def scenario(tmp_path, database_url):
    scenario = dc.build(tmp_path, database_url=database_url)
    dc.write_lake(scenario)
    dc.fill_serving(scenario)
    tag = scenario.workspace.add_tag("Acme people", entity="contact", definition=CONTACT_TAG)
    account_tag = scenario.workspace.add_tag("Acme", entity="account", definition=CONTACT_TAG)
    org, stream = scenario.org_id, scenario.stream_id
    with _sessions(scenario)() as session, session.begin():
        session.add_all(
            [
                builders.tag_member(org, tag["id"], "u1"),
                builders.tag_member(org, tag["id"], "u2"),
                builders.tag_member(org, account_tag["id"], "u1"),  # an account that happens to be called u1
                _outbox(org, stream, "t1", "u1", SlackDelivery.pending),
                _outbox(org, stream, "t2", "u1", SlackDelivery.sent),
                _outbox(org, stream, "t3", "u2", SlackDelivery.pending),
            ]
        )
    return scenario


def _sessions(scenario):
    engine = make_engine(scenario.settings.resolved_database_url)
    return session_factory(engine)


def _count(session, model, **where) -> int:
    query = select(func.count()).select_from(model)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    return session.scalar(query)


def test_deleting_a_contact_records_the_request_and_removes_it_from_the_app_at_once(scenario):
    org = scenario.org_id
    with _sessions(scenario)() as session, session.begin():
        admin = act_as(session, org)
        result = delete_contact(session, admin, "u1", lake_dir=scenario.settings.lake_dir)
        admin_email = session.get(User, admin.user_id).email

    assert result.already_requested is False
    assert result.removed_now.model_dump() == {
        ServingTable.contacts: 2,  # u1, and the visitor it was before its identify call (linked in the lake)
        ServingTable.tag_members: 1,
        AppTable.follows: 1,
        ServingTable.milestone_status: 1,  # Engaged; the account's PQL stays until the next rebuild
        ServingTable.stream_items: 7,  # its six events since its group call, and its Engaged change
        ServingTable.daily_activity: 6,  # (day, kind, name) of its events, the visitor's page view too
        AppTable.slack_outbox: 1,  # the pending post; the sent one cannot be taken back
    }
    assert (result.requested_by_user_id, result.requested_by_email) == (admin.user_id, admin_email)
    assert result.requested_at is not None and result.lake_rewritten_at is None
    assert any("variance warehouse compact" in step for step in result.later)
    assert any("Slack messages already posted" in step for step in result.later)

    with _sessions(scenario)() as session:
        assert session.scalars(select(ContactRow.contact_id).where(ContactRow.org_id == org)).all() == ["u2"]
        assert _count(session, TagMemberRow, entity_id="u1") == 1  # the account tag's row stays
        assert _count(session, TagMemberRow, entity_id="u2") == 1
        assert [(f.entity_type, f.entity_id) for f in session.scalars(select(Follow))] == [("account", "acme")]
        assert sorted(session.scalars(select(MilestoneStatusRow.entity_id))) == ["acme", "u2"]
        assert _count(session, StreamItemRow, contact_id="u1") == 0
        assert _count(session, StreamItemRow) == 6  # u2's five events and the account's PQL change
        assert _count(session, DailyActivityRow, entity_id="u1") == 0
        assert sorted((r.message_id, r.state) for r in session.scalars(select(SlackOutboxRow))) == [
            ("t2", "sent"),
            ("t3", "pending"),
        ]
        [request] = session.scalars(select(ContactDeletion)).all()
        assert (request.org_id, request.contact_id, request.requested_by_email) == (org, "u1", admin_email)
        assert [(d.org_id, d.contact_id, d.known_ids) for d in deleted_contacts(session)] == [(org, "u1", ("visitor",))]


def test_asking_again_answers_the_same_request_and_removes_rows_written_since(scenario):
    org = scenario.org_id
    with _sessions(scenario)() as session, session.begin():
        first = delete_contact(session, act_as(session, org), "u1")
    with _sessions(scenario)() as session, session.begin():
        session.add(builders.contact(org, "u1", email="ada@acme.com"))  # the running pipeline wrote it again
    with _sessions(scenario)() as session, session.begin():
        again = delete_contact(session, act_as(session, org), "u1")
    assert first.removed_now.contacts == 1  # without the lake, the visitor row waits for the next rewrite
    assert again.already_requested is True
    assert (again.id, again.requested_at) == (first.id, first.requested_at)
    assert again.removed_now.contacts == 1 and again.removed_now.follows == 0
    with _sessions(scenario)() as session, session.begin():
        third = delete_contact(session, act_as(session, org), "u1")
        assert _count(session, ContactDeletion) == 1
    assert sum(third.removed_now.model_dump().values()) == 0


def test_only_admins_delete_and_an_unknown_contact_is_not_found(scenario):
    org = scenario.org_id
    member = scenario.workspace.add_user("Mia", "mia@acme.com")
    with _sessions(scenario)() as session, session.begin():
        with pytest.raises(Forbidden, match="only an admin"):
            delete_contact(session, act_as(session, org, member["id"]), "u1")
        with pytest.raises(NotFound, match="no contact 'nobody' in this organisation"):
            delete_contact(session, act_as(session, org), "nobody")
    other = dc.Workspace.create(scenario.env, "Other")
    with _sessions(scenario)() as session, session.begin():
        with pytest.raises(NotFound, match="no contact 'u1'"):
            delete_contact(session, act_as(session, other.org_id), "u1")  # another organisation's contact
        assert _count(session, ContactDeletion) == 0
        assert _count(session, ContactRow, contact_id="u1") == 1
