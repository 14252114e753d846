"""The one start-up (pipelines/startup.py): state per key from the warehouse, repair rows,
the serving tables, and what Slack missed, from a lake a stop left half-written."""

from __future__ import annotations

import sqlite3

from variance.core.engine import records
from variance.core.engine.batch import current_milestone_changes, current_stream_matches, run_batch
from variance.core.engine.keyed import ACCOUNT, ANONYMOUS, CONTACT, MESSAGE, ContactKey
from variance.core.events import SignalEvent
from variance.core.milestone_engine import Change
from variance.core.rows import ACTIVITY
from variance.core.settings import Settings
from variance.core.vocabulary import ChangeKind, ChangeSource, RowStatus, WarehouseTable
from variance.pipelines.config_source import AppDatabaseConfig
from variance.pipelines.restore import RestoredKeys, RestoredState
from variance.pipelines.startup import start_up
from variance.samples.workspace import Workspace
from variance.warehouse.local import LakeReader, LakeWriter

HOUR = 3_600_000_000
DAY = 24 * HOUR
CHANGES, MATCHES = WarehouseTable.milestone_changes.value, WarehouseTable.stream_matches.value


def _setup(tmp_path):
    env = {"VARIANCE_DATA_DIR": str(tmp_path / "data")}
    workspace = Workspace.create(env, "Acme")
    workspace.add_connection("web", mapping="group")
    workspace.add_milestone("PQL", event="Invited User", threshold=2, window="1d")
    stream = workspace.add_stream("Acme")
    workspace.follow("account", "acme", stream=stream["id"])
    return env, workspace


def _events(workspace: Workspace, now: int) -> list[SignalEvent]:
    org, con = workspace.org_id, workspace.connection["id"]

    def call(kind: str, message_id: str, t: int, **kw) -> SignalEvent:
        return SignalEvent(org, con, "web", message_id, kind, t, t, **kw)

    return [
        call("group", "g1", now - 10 * HOUR, user_id="u1", group_id="acme"),
        call("track", "t1", now - 6 * HOUR, user_id="u1", name="Invited User"),
        call("track", "t2", now - 5 * HOUR, anonymous_id="visitor", name="Invited User"),
        call("identify", "i1", now - 7 * HOUR, user_id="u1", anonymous_id="visitor"),
    ]


def _start_after_a_stop_wrote(settings: Settings, written: list, now: int):
    """start_up over a lake holding ``written``; returns it and the lake's changes and
    matches after it."""
    writer = LakeWriter(settings.lake_dir, compact_every_s=None)
    writer.append(written)
    writer.close()
    started = start_up(settings, now_us=now)
    reader = LakeReader(settings.lake_dir)
    rows = [(CHANGES, r) for r in reader.current(CHANGES)] + [(MATCHES, r) for r in reader.current(MATCHES)]
    return started, rows


def test_start_up_repairs_what_a_stop_left_and_hands_each_key_its_state(tmp_path):
    env, workspace = _setup(tmp_path)
    settings = Settings(**env)
    now = 1_800_000_000_000_000
    events = _events(workspace, now)
    config = AppDatabaseConfig(settings.resolved_database_url)(workspace.org_id)
    full = [r for r in run_batch(config, events, now, 3 * DAY) if r[0] != ACTIVITY]
    # A stop after the events' rows were durable, before the milestone change and the
    # matches it and the link caused were.
    written = [r for r in full if r[0] not in (CHANGES, MATCHES)]

    started, rows = _start_after_a_stop_wrote(settings, written, now)

    assert current_milestone_changes(rows) == current_milestone_changes(full)
    assert current_stream_matches(rows) == current_stream_matches(full)
    assert len(current_stream_matches(full)) == 5  # t1, t2, the group and identify calls, PQL achieved
    with sqlite3.connect(settings.data_dir / "variance.db") as con:
        achieved = dict(con.execute("select entity_id, achieved from milestone_status"))
        items = con.execute("select count(*) from stream_items").fetchone()[0]
    assert achieved == {"acme": 1}
    assert items == 5
    assert "restored 1 organisations" in started.summary()

    initial = started.initial
    org = workspace.org_id
    assert initial(MESSAGE, (org, "t1")) and initial(MESSAGE, (org, "t1"))  # asked again: still seen
    assert initial(MESSAGE, (org, "never")) is None
    contact = initial(CONTACT, (org, "u1"))
    assert isinstance(contact, ContactKey)
    assert set(contact.entries) == {"t1", "t2", "g1", "i1"}  # what a late link could still move
    assert contact.entries["t2"].account == "acme"
    assert initial(CONTACT, (org, "u1")) is None  # handed out once
    assert initial(ANONYMOUS, (org, "visitor")).users.at(now) == "u1"
    assert initial(ACCOUNT, (org, "acme")).states
    assert (org, "acme") in initial.wake_keys(ACCOUNT)  # the 1-day window: a loss is due


def test_start_up_brings_milestone_matches_in_step_with_changes_a_kill_tore_apart(tmp_path):
    """The lake writes each table's file on its own: a kill can leave a change's row
    durable without its match, or a retraction's change row without its match's."""
    env, workspace = _setup(tmp_path)
    settings = Settings(**env)
    now = 1_800_000_000_000_000
    config = AppDatabaseConfig(settings.resolved_database_url)(workspace.org_id)
    full = [r for r in run_batch(config, _events(workspace, now), now, 3 * DAY) if r[0] != ACTIVITY]
    pql_match = [r for r in full if r[0] == MATCHES and r[1]["kind"] == "Milestone"]
    assert len(pql_match) == 1
    spec = next(iter(config.milestones.values()))
    retracted_change, its_match = records.change_rows(
        config,
        spec,
        "acme",
        Change(ChangeKind.achieved.value, now - 3 * HOUR, 2),
        RowStatus.current.value,
        ChangeSource.streaming.value,
        now - HOUR,
    )
    retracted_change[1]["status"] = RowStatus.retracted.value
    written = [r for r in full if r not in pql_match] + [retracted_change, its_match]

    started, rows = _start_after_a_stop_wrote(settings, written, now)

    assert current_milestone_changes(rows) == current_milestone_changes(full)
    assert current_stream_matches(rows) == current_stream_matches(full)
    by_message = {r["message_id"]: r["status"] for table, r in rows if table == MATCHES}
    assert by_message[its_match[1]["message_id"]] == RowStatus.retracted.value
    assert by_message[pql_match[0][1]["message_id"]] == RowStatus.current.value
    assert sorted(r[1]["status"] for r in started.restored.repairs if r[0] == MATCHES) == ["current", "retracted"]


def test_restored_state_answers_from_its_own_keys_only():
    keys = RestoredKeys(seen={("o", "m1")})
    keys.add(CONTACT, ("o", "u1"), "state of u1", wake=True)
    first, second = RestoredState(keys), RestoredState(RestoredKeys())
    assert second(MESSAGE, ("o", "m1")) is None
    assert second(CONTACT, ("o", "u1")) is None
    assert first.wake_keys(CONTACT) == [("o", "u1")] and first.wake_keys(ACCOUNT) == []
    assert first(CONTACT, ("o", "u1")) == "state of u1"
