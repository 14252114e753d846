"""After a contact's data is deleted, what rebuilds state from history leaves its events
out: the streaming pipeline's start-up (state per key, repairs, serving tables, the
history of a milestone created while it runs) and a backfill over archives holding it."""

from __future__ import annotations

import json
import sqlite3

from apache_beam.metrics import MetricsFilter

from tests.support import builders
from tests.support import deleted_contact as dc
from variance.appdb.session import make_engine, session_factory
from variance.core.bus import Source
from variance.core.engine.batch import current_milestone_changes
from variance.core.engine.keyed import CONTACT, MESSAGE
from variance.core.timeutil import format_timestamp, from_micros
from variance.core.vocabulary import WarehouseTable
from variance.pipelines.backfill import run_backfill
from variance.pipelines.config_source import AppDatabaseConfig
from variance.pipelines.runner import pipeline_options
from variance.pipelines.sinks import close_writers
from variance.pipelines.startup import start_up
from variance.warehouse.local import LakeReader
from variance.workspace.contact_deletion import delete_contact
from variance.workspace.orgs import act_as

CHANGES = WarehouseTable.milestone_changes.value


def _delete(scenario, contact_id: str) -> None:
    engine = make_engine(scenario.settings.resolved_database_url)
    try:
        with session_factory(engine)() as session, session.begin():
            delete_contact(session, act_as(session, scenario.org_id), contact_id)
    finally:
        engine.dispose()


def _current_changes(lake) -> set[tuple]:
    rows = [(CHANGES, r) for r in LakeReader(lake).current(CHANGES)]
    return {(entity, kind, count) for (_, _, entity, kind, _, count) in current_milestone_changes(rows)}


def test_a_restart_no_longer_counts_a_deleted_contact(tmp_path):
    scenario = dc.build(tmp_path)
    dc.write_lake(scenario)
    dc.fill_serving(scenario)
    lake = scenario.settings.lake_dir
    assert _current_changes(lake) == {("u1", "achieved", 2), ("u2", "achieved", 2), ("acme", "achieved", 2)}
    _delete(scenario, "u1")  # no lake rewrite yet: every u1 row is still in the lake

    started = start_up(scenario.settings, now_us=dc.NOW)

    org = scenario.org_id
    initial = started.initial
    assert initial(CONTACT, (org, "u1")) is None and initial(CONTACT, (org, "visitor")) is None
    assert initial(CONTACT, (org, "u2")) is not None
    assert [m for m in sorted(dc.U1_MESSAGES) if initial(MESSAGE, (org, m))] == []
    assert all(initial(MESSAGE, (org, m)) for m in dc.U2_MESSAGES)
    # PQL was reached only with u1's invites: the start-up retracts it; u1's own change is
    # left out of history (the lake rewrite removes it), u2's stands
    assert _current_changes(lake) == {("u1", "achieved", 2), ("u2", "achieved", 2)}
    filtered = LakeReader(lake, deleted_contacts=started.history.deleted_contacts)
    assert {(r["entity_id"], r["status"]) for r in filtered.current(CHANGES)} == {
        ("u2", "current"),
        ("acme", "retracted"),
    }
    with sqlite3.connect(scenario.settings.data_dir / "variance.db") as con:
        assert con.execute("select contact_id from contacts order by 1").fetchall() == [("u2",)]
        statuses = con.execute("select entity_id, achieved from milestone_status order by 1").fetchall()
        assert statuses == [("u2", 1)]  # acme no longer holds PQL
        assert con.execute("select count(*) from stream_items where contact_id != 'u2'").fetchone() == (0,)
        invites = con.execute("select count from event_types where name = 'Invited User'").fetchone()
        assert invites == (1,)  # the catalog counts u2's invite only
    config = AppDatabaseConfig(scenario.settings.resolved_database_url)(org)
    pql = next(spec for spec in config.milestones.values() if spec.event_name == "Invited User")
    assert [e.message_id for e in started.history(org, pql)] == ["t3"]  # a milestone made while running
    assert set(started.history.identity(org).users) == {"laptop"}


def _archive_line(event) -> dict:
    line = {
        "type": event.type,
        "messageId": event.message_id,
        "timestamp": format_timestamp(from_micros(event.event_time)),
    }
    for key, value in (("userId", event.user_id), ("anonymousId", event.anonymous_id), ("groupId", event.group_id)):
        if value:
            line[key] = value
    if event.type == "track":
        line["event"] = event.name
    elif event.type == "page":
        line["name"] = event.name
    if event.traits:
        line["traits"] = event.traits
    return line


def test_a_backfill_over_archives_holding_a_deleted_contact_leaves_it_out(tmp_path):
    scenario = dc.build(tmp_path)
    org = scenario.org_id
    engine = make_engine(scenario.settings.resolved_database_url)
    with session_factory(engine)() as session, session.begin():
        session.add(builders.contact(org, "u1"))  # seen by the app before the backfill
    engine.dispose()
    _delete(scenario, "u1")
    archive = tmp_path / "archive.jsonl"
    archive.write_text("".join(json.dumps(_archive_line(e)) + "\n" for e in scenario.events))
    source = Source(org, scenario.workspace.connection["id"], "web")
    options = pipeline_options([], streaming=False)

    result = run_backfill([str(archive)], source, scenario.settings, dc.NOW, options)
    close_writers()

    reader = LakeReader(scenario.settings.lake_dir)
    assert sorted(r["message_id"] for r in reader.current(WarehouseTable.events.value)) == sorted(dc.U2_MESSAGES)
    assert _current_changes(scenario.settings.lake_dir) == {("u2", "achieved", 2)}  # no PQL without u1's invites
    assert {(r["anonymous_id"], r["user_id"]) for r in reader.current(WarehouseTable.identity_links.value)} == {
        ("laptop", "u2")
    }
    [left_out] = result.metrics().query(MetricsFilter().with_name("events_left_out"))["counters"]
    assert left_out.committed == len(dc.U1_MESSAGES)
