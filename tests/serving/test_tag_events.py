"""Smart tags kept current by the serving sink: rows applied through ``ServingBuffer``
make an account enter a tag without any command, the clock alone (an injected one, on
the buffer's own timer) makes it leave, and each entry and exit is one ``Tag`` event in
the feeds of the streams selecting it and in the Slack outbox. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import orjson
import pytest
from sqlalchemy import select

from tests.serving.rows import DAY, HOUR, ORG, T0, ServingDb, account_call, at, change
from tests.support.waiting import wait_for
from variance.appdb.models import (
    EventTypeRow,
    SlackOutboxRow,
    SmartTag,
    Stream,
    StreamItemRow,
    StreamSelector,
    TagMemberRow,
)
from variance.appdb.session import make_engine, migrate, session_factory
from variance.core.engine.config import OrgConfig, SelectorSpec, StreamSpec
from variance.core.timeutil import to_micros
from variance.core.vocabulary import EntityType
from variance.pipelines.sinks.serving import ServingBuffer, evaluate_tags, tag_message_id
from variance.serving.tags import TagChange

HOT = (
    '{"type":"group","match":"all","conditions":[{"type":"milestone","milestone_id":"mil_pql",'
    '"status":"achieved_within","days":7}]}'
)
ACHIEVED = T0 + HOUR


class Clock:
    """Now, moved by the test; read by the buffer's thread."""

    def __init__(self, micros: int):
        self._now = at(micros)
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            return self._now

    def set(self, micros: int) -> None:
        with self._lock:
            self._now = at(micros)


@pytest.fixture
def db(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    serving = ServingDb(session_factory(engine))
    serving.seed()
    with serving.sessions() as session, session.begin():
        session.add(SmartTag(id="tag_hot", org_id=ORG, name="Hot Trial", entity="account", definition=HOT))
        session.add(
            Stream(id="str_hot", org_id=ORG, name="Hot trials", type="event_type", visibility="team",
                   slack_channel_id="C0HOT", slack_channel_name="#hot")
        )  # fmt: skip
        session.add(Stream(id="str_quiet", org_id=ORG, name="Quiet", type="event_type", visibility="team"))
        session.flush()
        session.add_all(
            [
                StreamSelector(id="sel_1", org_id=ORG, stream_id="str_hot", kind="Tag", name="Hot Trial"),
                StreamSelector(id="sel_2", org_id=ORG, stream_id="str_quiet", kind="Tag", name="Other Tag"),
            ]
        )
    try:
        yield serving
    finally:
        engine.dispose()


def _members(db: ServingDb) -> list[tuple]:
    return [(r["tag_id"], r["entity_id"], r["since"]) for r in db.table(TagMemberRow)]


def _items(db: ServingDb) -> list[tuple]:
    return [
        (r["stream_id"], r["message_id"], r["event_time"], r["kind"], r["name"], r["account_id"],
         orjson.loads(r["properties"]))
        for r in db.table(StreamItemRow)
    ]  # fmt: skip


def _outbox(db: ServingDb) -> list[tuple]:
    with db.sessions() as session:
        rows = session.scalars(select(SlackOutboxRow).order_by(SlackOutboxRow.created_at)).all()
        return [(r.stream_id, r.message_id, r.channel_id, orjson.loads(r.payload)["tag"]) for r in rows]


def _message_id(entered_at: int) -> str:
    return f"tag:tag_hot:acme:{entered_at}"


def test_rows_through_the_sink_make_an_account_enter_and_the_clock_makes_it_leave(db, database_url):
    clock = Clock(T0 + 2 * HOUR)
    buffer = ServingBuffer(database_url, every_s=3600, clock=clock)
    try:
        buffer.append([account_call("g1", T0, "acme", name="Acme"), change("achieved", ACHIEVED, 3)])
        buffer.flush()
        entered = T0 + 2 * HOUR
        assert _members(db) == [("tag_hot", "acme", at(entered))]
        properties = {"tag_id": "tag_hot", "entered": True, "entity_type": "account", "entity_id": "acme"}
        assert _items(db) == [("str_hot", _message_id(entered), at(entered), "Tag", "Hot Trial", "acme", properties)]
        assert _outbox(db) == [
            ("str_hot", _message_id(entered), "C0HOT", {**properties, "tag_name": "Hot Trial", "changed_at": entered})
        ]
        assert [(r["kind"], r["name"], r["count"]) for r in db.table(EventTypeRow) if r["kind"] == "Tag"] == [
            ("Tag", "Hot Trial", 1)
        ]
        # the timer: when the 7 days run out
        assert buffer.tags.due_at(ORG) == at(ACHIEVED + 7 * DAY)
    finally:
        buffer.close()

    # The clock alone: a buffer whose own thread runs the timers, nothing applied.
    clock.set(ACHIEVED + 7 * DAY - 1)
    ticking = ServingBuffer(database_url, every_s=0.02, clock=clock)
    try:
        wait_for(lambda: ticking.tags.due_at(ORG) == at(ACHIEVED + 7 * DAY), timeout=30, what="the timer")
        assert _members(db) == [("tag_hot", "acme", at(entered))]  # 1 µs early: still in
        left = ACHIEVED + 7 * DAY + 5 * HOUR
        clock.set(left)
        wait_for(lambda: _members(db) == [], timeout=30, what="acme to leave Hot Trial")
        wait_for(lambda: len(_items(db)) == 2, timeout=30, what="the leave event")
    finally:
        ticking.close()
    leave = {"tag_id": "tag_hot", "entered": False, "entity_type": "account", "entity_id": "acme"}
    assert _items(db)[1] == ("str_hot", _message_id(left), at(left), "Tag", "Hot Trial", "acme", leave)
    assert [o[3] for o in _outbox(db)][1] == {**leave, "tag_name": "Hot Trial", "changed_at": left}
    assert ticking.tags.due_at(ORG) is None  # nothing the clock can change any more


def test_evaluating_twice_writes_one_event(db):
    db.apply([account_call("g1", T0, "acme", name="Acme"), change("achieved", ACHIEVED, 3)])
    config = OrgConfig.build(
        ORG, streams=[StreamSpec("str_hot", "Hot trials", "event_type", (SelectorSpec("Tag", "Hot Trial"),), "C0HOT")]
    )
    results = []
    for minutes in (0, 1):  # a second worker a minute later, or the timer after the batch
        with db.sessions() as session, session.begin():
            results.append(evaluate_tags(session, ORG, lambda _: config, at(T0 + 2 * HOUR + minutes * 60_000_000)))
    assert [(r.entered, r.left) for r in results] == [(1, 0), (0, 0)]
    assert [(i[0], i[1]) for i in _items(db)] == [("str_hot", _message_id(T0 + 2 * HOUR))]
    assert len(_outbox(db)) == 1
    # the same change written again (a retried transaction) is the same event
    with db.sessions() as session, session.begin():
        from variance.pipelines.sinks.serving import record_tag_events

        change_ = TagChange(ORG, "tag_hot", EntityType.account, "acme", True, at(T0 + 2 * HOUR))
        record_tag_events(session, ORG, [change_], config)
    assert len(_items(db)) == 1 and len(_outbox(db)) == 1


def test_an_entry_or_exit_another_writer_already_made_reports_nothing(db):
    """Two workers evaluating at once both see acme outside the tag; the one whose insert
    finds the row (PostgreSQL waits for the other to commit) reports no entry, and the
    same for a delete of a row already gone: a transition is one event."""
    from variance.serving.tags import _enter, _leave

    with db.sessions() as session, session.begin():
        session.add(TagMemberRow(org_id=ORG, tag_id="tag_hot", entity_id="acme", since=at(T0)))
    with db.sessions() as session, session.begin():
        assert _enter(session, ORG, "tag_hot", ["acme", "beta"], at(T0 + HOUR)) == ["beta"]
        assert _leave(session, ORG, "tag_hot", ["gone", "acme"]) == ["acme"]
    assert _members(db) == [("tag_hot", "beta", at(T0 + HOUR))]


def test_message_ids_are_deterministic_and_bounded():
    change_ = TagChange(ORG, "tag_hot", EntityType.account, "acme", True, at(T0))
    assert tag_message_id(change_) == f"tag:tag_hot:acme:{to_micros(at(T0))}"
    long = TagChange(ORG, "tag_hot", EntityType.account, "x" * 2000, False, at(T0))
    assert len(tag_message_id(long)) < 200 and tag_message_id(long) == tag_message_id(long)


def test_a_followed_contact_entering_a_contact_tag_reaches_the_follow_stream(db):
    """A contact tag's event carries the contact and its account, so follows of either match."""
    from tests.serving.rows import identify, link
    from variance.appdb.models import Follow

    with db.sessions() as session, session.begin():
        session.add(
            SmartTag(id="tag_vip", org_id=ORG, name="VIP", entity="contact",
                     definition='{"type":"group","match":"all","conditions":[{"type":"trait","filter":'
                                '{"path":"vip","op":"equals","value":true}}]}')
        )  # fmt: skip
        session.add(Stream(id="str_mine", org_id=ORG, name="Mine", type="accounts_contacts", visibility="team"))
        session.flush()
        session.add(Follow(id="fol_1", org_id=ORG, stream_id="str_mine", entity_type="account", entity_id="acme"))
    db.apply([identify("i1", T0, "u1", traits={"vip": True}), link("l1", T0, "u1", "acme")])
    from variance.pipelines.config_source import load_org_config

    with db.sessions() as session, session.begin():
        config = load_org_config(session, ORG)
        evaluate_tags(session, ORG, lambda _: config, at(T0 + HOUR), {"u1"})
    assert [(i[0], i[4], i[5]) for i in _items(db)] == [("str_mine", "VIP", "acme")]
    assert [r["contact_id"] for r in db.table(StreamItemRow)] == ["u1"]
