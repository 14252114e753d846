"""Milestone status from changes and retractions, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

from sqlalchemy import update

from tests.serving.rows import DAY, HOUR, ORG, T0, at, change
from tests.support import events as ev
from variance.appdb.models import Milestone, MilestoneStatusRow
from variance.core.engine.batch import current_milestone_changes
from variance.core.engine.engine import OrgEngine

MIN = 60 * 1_000_000


def status(kind: str, t: int, count: int, achieved_at: int | None, *, entity="acme", version=1) -> dict:
    return {
        "org_id": ORG,
        "milestone_id": "mil_pql",
        "entity_id": entity,
        "achieved": kind == "achieved",
        "count": count,
        "changed_at": at(t),
        "achieved_at": at(achieved_at) if achieved_at is not None else None,
        "version": version,
    }


def statuses(db) -> list[dict]:
    return db.table(MilestoneStatusRow)


def retracted(kind, t, count, recorded=1):
    return change(kind, t, count, status="retracted", recorded=recorded)


ACHIEVED_AT = T0 + 3 * HOUR
LOST_AT = T0 + DAY + HOUR


def test_achieved_then_lost_keeps_the_achievement_that_was_lost(db):
    db.apply([change("achieved", ACHIEVED_AT, 3)])
    assert statuses(db) == [status("achieved", ACHIEVED_AT, 3, ACHIEVED_AT)]
    db.apply([change("lost", LOST_AT, 2)])
    assert statuses(db) == [status("lost", LOST_AT, 2, ACHIEVED_AT)]


def test_an_older_change_arriving_later_does_not_replace_a_newer_one(db):
    db.apply([change("lost", LOST_AT, 2)])
    assert statuses(db) == [status("lost", LOST_AT, 2, None)]
    db.apply([change("achieved", ACHIEVED_AT, 3)])
    assert statuses(db) == [status("lost", LOST_AT, 2, ACHIEVED_AT)]


def test_correcting_an_older_change_leaves_the_status_in_force(db):
    db.apply([change("achieved", ACHIEVED_AT, 3)])
    db.apply([change("lost", LOST_AT, 2)])
    db.apply([retracted("achieved", ACHIEVED_AT, 3), change("achieved", T0 + 2 * HOUR, 3)])
    assert statuses(db) == [status("lost", LOST_AT, 2, T0 + 2 * HOUR)]


def test_a_correction_of_the_change_in_force_moves_it(db):
    db.apply([change("achieved", ACHIEVED_AT, 3)])
    db.apply([change("lost", LOST_AT, 2)])
    db.apply([retracted("lost", LOST_AT, 2), change("lost", LOST_AT + HOUR, 2)])
    assert statuses(db) == [status("lost", LOST_AT + HOUR, 2, ACHIEVED_AT)]


def test_retracting_the_achievement_in_force_removes_the_status(db):
    db.apply([change("achieved", ACHIEVED_AT, 3)])
    stats = db.apply([retracted("achieved", ACHIEVED_AT, 3)])
    assert statuses(db) == [] and stats.milestone_statuses_removed == 1


def test_retracting_the_loss_in_force_restores_the_achievement(db):
    db.apply([change("achieved", ACHIEVED_AT, 3)])
    db.apply([change("lost", LOST_AT, 2)])
    db.apply([retracted("lost", LOST_AT, 2)])
    # count: the milestone's threshold, the count just after an achievement
    assert statuses(db) == [status("achieved", ACHIEVED_AT, 3, ACHIEVED_AT)]


def test_the_newest_row_of_a_change_wins_whatever_the_order(db):
    rows = [retracted("achieved", ACHIEVED_AT, 3, recorded=1), change("achieved", ACHIEVED_AT, 4, recorded=2)]
    for order in itertools.permutations(rows):
        db.apply([change("achieved", ACHIEVED_AT, 3)])
        db.apply(order)
        assert statuses(db) == [status("achieved", ACHIEVED_AT, 4, ACHIEVED_AT)]


def test_changes_of_another_version_or_a_deleted_milestone_are_skipped(db):
    db.apply([change("achieved", ACHIEVED_AT, 3), change("achieved", ACHIEVED_AT, 3, entity="globex")])
    with db.sessions() as session, session.begin():
        session.execute(update(Milestone).where(Milestone.id == "mil_pql").values(version=2))
    stats = db.apply([change("lost", LOST_AT, 2), change("achieved", ACHIEVED_AT, 9, milestone="mil_gone")])
    assert statuses(db) == []  # version 1 statuses are not the status of version 2
    assert (stats.milestone_changes_skipped, stats.milestone_statuses_removed) == (2, 2)
    db.apply([change("achieved", T0 + 2 * HOUR, 3, version=2)])
    assert statuses(db) == [status("achieved", T0 + 2 * HOUR, 3, T0 + 2 * HOUR, version=2)]


def test_streaming_corrections_end_at_the_engines_current_changes(db):
    """The engine's own rows, call by call: a loss, then a late event that retracts it
    (nothing replaces it yet), then the loss at its corrected time."""
    clock = itertools.count(1)
    engine = OrgEngine(ORG, lateness_us=DAY, clock=lambda: next(clock))
    engine.configure(ev.config(milestones=[ev.milestone(window_us=DAY)]))
    emitted: list = []

    def step(events, as_of):
        rows = [row for e in events for row in engine.process(e)] + engine.advance(as_of)
        emitted.extend(rows)
        db.apply(rows)
        latest = max(c for c in current_milestone_changes(emitted) if c[2] == "acme")[3:]
        held = statuses(db)[0]
        assert ("achieved" if held["achieved"] else "lost", held["changed_at"]) == (latest[0], at(latest[1]))
        return held

    group = ev.event("group", "g1", T0, user="u1", group="acme")
    tracks = [ev.track(f"t{i}", T0 + i * HOUR, user="u1") for i in (1, 2, 3)]
    assert step([group, *tracks], T0 + 4 * HOUR) == status("achieved", ACHIEVED_AT, 3, ACHIEVED_AT)
    assert step([], T0 + DAY + 90 * MIN) == status("lost", LOST_AT, 2, ACHIEVED_AT)
    late = ev.track("t4", T0 + DAY + 30 * MIN, user="u1")
    assert step([late], T0 + DAY + 90 * MIN) == status("achieved", ACHIEVED_AT, 3, ACHIEVED_AT)
    assert step([], T0 + DAY + 4 * HOUR) == status("lost", T0 + DAY + 2 * HOUR, 2, ACHIEVED_AT)
