"""rebuild: an organisation's serving rows from its current warehouse rows, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.serving.rows import (
    DAY,
    HOUR,
    ORG,
    OTHER,
    T0,
    account_call,
    at,
    change,
    event,
    identify,
    link,
    match,
)
from tests.support import events as ev
from variance.appdb.models import (
    AccountRow,
    ContactRow,
    DailyActivityRow,
    EventTypeRow,
    MilestoneStatusRow,
    StreamItemRow,
)
from variance.core.engine.batch import current_rows, run_batch
from variance.core.timeutil import from_micros
from variance.core.vocabulary import ServingTable
from variance.core.warehouse import EVENTS, TABLES
from variance.serving import rebuild

DAILY_ACTIVITY = ServingTable.daily_activity.value

SERVING = (ContactRow, AccountRow, MilestoneStatusRow, StreamItemRow, EventTypeRow, DailyActivityRow)


def snapshot(db) -> dict:
    return {model.__name__: db.table(model) for model in SERVING}


def warehouse(rows) -> dict[str, list[dict]]:
    """The current rows per table, as the lake reader gives them (newest row per key)."""
    return {table: list(current_rows(rows, table).values()) for table in TABLES}


def run_rebuild(db, tables, org=ORG, **options):
    with db.sessions() as session, session.begin():
        return rebuild(session, org, tables, **options)


def daily_rows(rows) -> list:
    """What Beam's one-day windows make of the engine's activity rows."""
    counts = Counter(
        (
            r["org_id"],
            r["entity_type"],
            r["entity_id"],
            from_micros(r["event_time"]).date().isoformat(),
            r["kind"],
            r["name"],
        )
        for table, r in rows
        if table == "activity"
    )
    keys = ("org_id", "entity_type", "entity_id", "day", "kind", "name")
    return [(DAILY_ACTIVITY, {**dict(zip(keys, key, strict=True)), "count": n}) for key, n in counts.items()]


def engine_rows() -> list:
    config = ev.config(
        milestones=[ev.milestone(window_us=DAY)],
        streams=[ev.selector_stream("str_a", ev.selector("Action", "Invited User"))],
    )
    events = [
        ev.event("identify", "i1", T0, user="u1", traits={"name": "Ada", "email": "Ada@Acme.com", "plan": "pro"}),
        ev.event("group", "g1", T0 + 1, user="u1", group="acme", traits={"name": "Acme Inc"}),
        ev.event("identify", "i2", T0 + 2 * HOUR, user="u1", traits={"plan": "enterprise", "seats": 9}),
        ev.event("page", "p1", T0 + 5, anon="anon-7"),
        *(ev.track(f"t{i}", T0 + i * HOUR, user="u1") for i in (1, 2, 3)),
    ]
    return run_batch(config, events, T0 + 2 * DAY, lateness_us=DAY)


def test_rebuild_gives_what_applying_the_rows_gave(db):
    rows = engine_rows()
    db.apply(rows + daily_rows(rows))
    applied = snapshot(db)
    assert applied["MilestoneStatusRow"] != [] and len(applied["StreamItemRow"]) == 3
    stats = run_rebuild(db, warehouse(rows))
    assert snapshot(db) == applied
    assert (stats.contacts, stats.accounts, stats.milestone_statuses, stats.stream_items) == (2, 1, 1, 3)


def test_rebuild_is_exact_where_separate_calls_are_not(db):
    newer = [link("l2", T0 + 2 * HOUR, "u1", "globex"), identify("m2", T0 + 2 * HOUR, name="Ada Lovelace")]
    older = [link("l1", T0 + HOUR, "u1", "acme"), identify("m1", T0 + HOUR, name="Ada", traits={"plan": "pro"})]
    db.apply(newer)
    db.apply(older)
    contact = db.table(ContactRow)[0]
    assert (contact["account_id"], contact["name"]) == ("acme", "Ada")  # the later call won
    run_rebuild(db, warehouse(newer + older))
    contact = db.table(ContactRow)[0]
    assert (contact["account_id"], contact["name"], contact["traits"]) == ("globex", "Ada Lovelace", '{"plan":"pro"}')


def test_rebuild_replaces_only_that_organisations_rows(db):
    db.apply([event("e1", T0, contact="stale"), event("e1", T0, contact="theirs", org=OTHER), match("e1", T0)])
    run_rebuild(db, {EVENTS.name: [event("e2", T0 + HOUR, contact="u1")[1]]})
    assert [(r["org_id"], r["contact_id"]) for r in db.table(ContactRow)] == [(ORG, "u1"), (OTHER, "theirs")]
    assert db.table(StreamItemRow) == []
    assert [(r["org_id"], r["count"]) for r in db.table(EventTypeRow)] == [(ORG, 1), (OTHER, 1)]


def test_rebuild_keeps_the_newest_matches_and_only_current_changes(db):
    rows = [
        *(event(f"e{i}", T0 + i * HOUR, properties={"i": i}) for i in range(5)),
        *(match(f"e{i}", T0 + i * HOUR) for i in range(5)),
        match("e9", T0 + 9 * HOUR, status="retracted"),
        change("achieved", T0 + 3 * HOUR, 3),
        change("lost", T0 + DAY + HOUR, 2),
        change("achieved", T0 + DAY + 2 * HOUR, 3, status="retracted"),
        account_call("g1", T0, "acme", name="Acme"),
    ]
    run_rebuild(db, warehouse(rows), stream_retention=2)
    assert [(i["message_id"], i["properties"]) for i in db.table(StreamItemRow)] == [
        ("e3", '{"i":3}'),
        ("e4", '{"i":4}'),
    ]
    assert [(s["achieved"], s["changed_at"], s["achieved_at"]) for s in db.table(MilestoneStatusRow)] == [
        (False, at(T0 + DAY + HOUR), at(T0 + 3 * HOUR))
    ]
    daily = [(d["entity_id"], d["day"].isoformat(), d["count"]) for d in db.table(DailyActivityRow)]
    assert daily == [("u1", "2024-05-01", 5)]


def test_rebuild_refuses_another_organisations_rows(db):
    with pytest.raises(ValueError, match="org_b"):
        run_rebuild(db, {EVENTS.name: [event("e1", T0, org=OTHER)[1]]})


def test_rebuild_from_the_lakes_event_summary_equals_rebuild_from_its_rows(db, tmp_path):
    from variance.pipelines.restore import serving_event_summary, serving_tables
    from variance.warehouse.local import LakeReader, LakeWriter

    config = ev.config(
        milestones=[ev.milestone(window_us=DAY)],
        streams=[ev.selector_stream("str_a", ev.selector("Action", "Invited User"))],
    )
    events = [
        ev.event("identify", "i1", T0, user="u1", traits={"name": "Ada", "email": "ada@acme.com"}),
        ev.event("group", "g1", T0 + 1, user="u1", group="acme", traits={"name": "Acme Inc"}),
        ev.event("page", "p1", T0 + 5, anon="anon-7"),
        ev.event("alias", "a1", T0 + 6, user="u2", previous="anon-7"),
        ev.event("identify", "i2", T0 + DAY + 3, user="u2", anon="anon-9", traits={"plan": "pro"}),
        *(ev.track(f"t{i}", T0 + i * 7 * HOUR, user="u1", properties={"i": i}) for i in range(6)),
        ev.track("t9", T0 + 2 * DAY, anon="anon-9", properties={"late": True}),
    ]
    rows = run_batch(config, events, T0 + 3 * DAY, lateness_us=DAY)
    rows += [event("x1", T0, contact="theirs", org=OTHER)]
    writer = LakeWriter(tmp_path / "lake", compact_every_s=None)
    writer.append([r for r in rows if r[0] != "activity"])
    writer.close()
    reader = LakeReader(tmp_path / "lake")

    by_rows = run_rebuild(db, serving_tables(reader, ORG), stream_retention=4)
    from_rows = snapshot(db)
    summary = serving_event_summary(reader, ORG)
    by_summary = run_rebuild(
        db, serving_tables(reader, ORG, events=False), stream_retention=4, summarise_events=summary
    )

    assert snapshot(db) == from_rows
    assert by_summary == by_rows
    assert [i["message_id"] for i in from_rows["StreamItemRow"]] == ["t3", "t4", "t5", "t9"]
    daily = sorted(
        (d["day"].isoformat(), d["entity_type"], d["entity_id"], d["kind"], d["count"])
        for d in from_rows["DailyActivityRow"]
    )
    assert daily == [
        ("2024-05-01", "account", "acme", "Action", 3),  # t1..t3: the link came at t0 + 1
        ("2024-05-01", "account", "acme", "Group", 1),
        ("2024-05-01", "contact", "anon-7", "Page", 1),  # before the alias: still the visitor
        ("2024-05-01", "contact", "u1", "Action", 4),
        ("2024-05-01", "contact", "u1", "Group", 1),
        ("2024-05-01", "contact", "u1", "Identify", 1),
        ("2024-05-02", "account", "acme", "Action", 2),
        ("2024-05-02", "contact", "u1", "Action", 2),
        ("2024-05-02", "contact", "u2", "Identify", 1),
        ("2024-05-03", "contact", "u2", "Action", 1),  # the visitor's, linked the day before
    ]


def test_an_event_summary_is_for_a_rebuild_and_not_beside_the_events_rows(db):
    def summary(wanted):
        raise AssertionError("not called")

    with pytest.raises(ValueError, match="as rows or as a summary, not both"):
        run_rebuild(db, {EVENTS.name: []}, summarise_events=summary)
