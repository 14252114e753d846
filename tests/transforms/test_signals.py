"""ComputeSignals on Beam's local streaming runner, driven in event time by TestStream."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from tests.support.beam import StaticConfig, streaming_pipeline
from tests.support.events import DAY, HOUR, MIN, T0, config, event, milestone, track
from variance.core.vocabulary import Stage, WarehouseTable
from variance.transforms.messages import Envelope
from variance.transforms.signals import ComputeSignals

S = 1_000_000
EVENTS, DEAD_LETTERS = WarehouseTable.events.value, WarehouseTable.dead_letters.value
MILESTONE_CHANGES = WarehouseTable.milestone_changes.value


def at(e):
    return TimestampedValue((e.org_id, Envelope(e)), e.event_time / S)


def changes(rows):
    """(status, kind, entity, changed_at offset from T0 in hours, count) of milestone change rows."""
    return (
        rows
        | beam.Filter(lambda r: r[0] == MILESTONE_CHANGES)
        | beam.Map(
            lambda r: (
                r[1]["status"],
                r[1]["kind"],
                r[1]["entity_id"],
                (r[1]["changed_at"] - T0) // HOUR,
                r[1]["count"],
            )
        )
    )


def run(stream: TestStream, cfgs, lateness=3 * DAY):
    """The pipeline and ComputeSignals' warehouse rows."""
    p = streaming_pipeline()
    signals = p | stream | ComputeSignals(StaticConfig(*cfgs), lateness, DAY, in_process_state=True)
    return p, signals.rows


def test_achieved_when_the_watermark_passes_then_lost_then_achieved_again():
    cfg = config(milestones=[milestone(threshold=2, window_us=DAY)])
    group = event("group", "g1", T0 - HOUR, user="u1", group="acme")
    stream = (
        TestStream()
        .advance_watermark_to(T0 / S - 7200)
        .add_elements([at(group), at(track("t1", T0, user="u1")), at(track("t2", T0 + 2 * HOUR, user="u1"))])
        .advance_watermark_to((T0 + HOUR) / S)  # nothing yet: the 2nd event is in the future
        .advance_watermark_to((T0 + 3 * HOUR) / S)  # achieved at T0+2h
        .advance_watermark_to((T0 + DAY + HOUR) / S)  # T0's event expired: lost
        .add_elements([at(track("t3", T0 + DAY + HOUR, user="u1"))])
        .advance_watermark_to((T0 + DAY + 3 * HOUR) / S)  # back at 2: achieved again, lost when T0+2h expires
        .advance_watermark_to((T0 + 4 * DAY) / S)
        .advance_watermark_to_infinity()
    )
    p, rows = run(stream, [cfg])
    assert_that(
        changes(rows),
        equal_to(
            [
                ("current", "achieved", "acme", 2, 2),
                ("current", "lost", "acme", 24, 1),
                ("current", "achieved", "acme", 25, 2),
                ("current", "lost", "acme", 26, 1),
            ]
        ),
    )
    p.run()


def test_expiry_and_arrival_at_the_same_instant_emit_nothing():
    cfg = config(milestones=[milestone(threshold=2, window_us=DAY)])
    group = event("group", "g1", T0 - HOUR, user="u1", group="acme")
    stream = (
        TestStream()
        .add_elements([at(group), at(track("t1", T0, user="u1")), at(track("t2", T0 + 2 * HOUR, user="u1"))])
        .advance_watermark_to((T0 + 3 * HOUR) / S)
        .add_elements([at(track("t3", T0 + DAY, user="u1"))])  # T0's event expires as this one arrives
        .advance_watermark_to((T0 + DAY + HOUR) / S)
        .advance_watermark_to((T0 + 3 * DAY) / S)
        .advance_watermark_to_infinity()
    )
    p, rows = run(stream, [cfg])
    assert_that(changes(rows), equal_to([("current", "achieved", "acme", 2, 2), ("current", "lost", "acme", 26, 1)]))
    p.run()


def test_window_edge_an_event_exactly_w_before_another_does_not_count_with_it():
    cfg = config(milestones=[milestone(threshold=2, window_us=DAY)])
    group = event("group", "g1", T0 - HOUR, user="u1", group="acme")
    stream = (
        TestStream()
        .add_elements([at(group), at(track("t1", T0, user="u1")), at(track("t2", T0 + DAY, user="u1"))])
        .advance_watermark_to((T0 + 3 * DAY) / S)
        .advance_watermark_to_infinity()
    )
    p, rows = run(stream, [cfg])
    assert_that(changes(rows), equal_to([]))
    p.run()


def test_out_of_order_event_behind_the_watermark_corrects_history():
    cfg = config(milestones=[milestone(threshold=2, window_us=DAY)])
    group = event("group", "g1", T0 - 2 * DAY, user="u1", group="acme")
    stream = (
        TestStream()
        .add_elements([at(group), at(track("t1", T0, user="u1")), at(track("t2", T0 + 12 * HOUR, user="u1"))])
        .advance_watermark_to((T0 + 13 * HOUR) / S)  # achieved at T0+12h
        .add_elements([at(track("t0", T0 - 6 * HOUR, user="u1"))])  # late, within the lateness
        .advance_watermark_to((T0 + 14 * HOUR) / S)
        .advance_watermark_to((T0 + 3 * DAY) / S)
        .advance_watermark_to_infinity()
    )
    p, rows = run(stream, [cfg])
    assert_that(
        changes(rows),
        equal_to(
            [
                ("current", "achieved", "acme", 12, 2),
                ("retracted", "achieved", "acme", 12, 2),  # corrected:
                ("current", "achieved", "acme", 0, 2),  # the late event reached the threshold first
                ("current", "lost", "acme", 24, 1),
            ]
        ),
    )
    p.run()


def test_too_late_event_lands_in_the_warehouse_and_dead_letters_not_in_milestones():
    """Late is behind the time up to which the event's own contact is settled: u1's page
    view at T0 settles u1 to T0, so an event of u1 five days before it is too late."""
    cfg = config(milestones=[milestone(threshold=1, window_us=None)])
    group = event("group", "g1", T0 - 10 * DAY, user="u1", group="acme")
    old = track("old", T0 - 5 * DAY, user="u1")
    stream = (
        TestStream()
        .add_elements([at(group), at(track("x", T0, user="u2")), at(event("page", "p1", T0, user="u1"))])
        .advance_watermark_to((T0 + HOUR) / S)
        .add_elements([at(old)])  # 5 days behind a watermark with 3 days of lateness
        .advance_watermark_to((T0 + 2 * HOUR) / S)
        .advance_watermark_to_infinity()
    )
    p, rows = run(stream, [cfg])
    assert_that(
        rows
        | beam.Filter(lambda r: r[0] in (EVENTS, DEAD_LETTERS, MILESTONE_CHANGES))
        | beam.Map(lambda r: (r[0], r[1].get("message_id"), r[1].get("stage"))),
        equal_to(
            [
                (EVENTS, "g1", None),
                (EVENTS, "x", None),
                (EVENTS, "p1", None),
                (EVENTS, "old", None),
                (DEAD_LETTERS, "old", Stage.milestones.value),
            ]
        ),
    )
    p.run()


def test_an_old_event_of_a_quiet_contact_is_still_counted():
    """State is bounded per key: a contact whose milestones were settled only up to ten
    days ago can still count an event five days old, as the backfill does."""
    cfg = config(milestones=[milestone(threshold=1, window_us=None)])
    group = event("group", "g1", T0 - 10 * DAY, user="u1", group="acme")
    stream = (
        TestStream()
        .add_elements([at(group), at(track("x", T0, user="u2"))])
        .advance_watermark_to((T0 + HOUR) / S)
        .add_elements([at(track("old", T0 - 5 * DAY, user="u1"))])
        .advance_watermark_to_infinity()
    )
    p, rows = run(stream, [cfg])
    assert_that(
        changes(rows) | beam.Map(lambda c: (c[0], c[1], c[2], c[3] // 24, c[4])),
        equal_to([("current", "achieved", "acme", -5, 1)]),
    )
    p.run()


def test_two_organisations_with_the_same_user_ids_are_counted_apart():
    cfgs = [config(org=o, milestones=[milestone(threshold=2, window_us=None)]) for o in ("org_a", "org_b")]
    elements = [
        at(event("group", "g1", T0 - HOUR, org="org_a", user="u1", group="acme")),
        at(event("group", "g1", T0 - HOUR, org="org_b", user="u1", group="acme")),
        at(track("t1", T0, org="org_a", user="u1")),
        at(track("t1", T0 + MIN, org="org_b", user="u1")),
        at(track("t2", T0 + 2 * MIN, org="org_a", user="u1")),
    ]
    stream = TestStream().add_elements(elements).advance_watermark_to((T0 + DAY) / S).advance_watermark_to_infinity()
    p, rows = run(stream, cfgs)
    assert_that(
        rows | beam.Filter(lambda r: r[0] == MILESTONE_CHANGES) | beam.Map(lambda r: (r[1]["org_id"], r[1]["kind"])),
        equal_to([("org_a", "achieved")]),
    )
    p.run()


_SWITCHED: dict[str, bool] = {}


class SwitchingConfig:
    """Answers ``before`` until an event named ``switch`` was seen by the history, then
    ``after``: a milestone created while the pipeline runs."""

    def __init__(self, before, after, token: str):
        self.before, self.after, self.token = before, after, token

    def __call__(self, org_id):
        return self.after if _SWITCHED.get(self.token) else self.before


class History:
    def __init__(self, events, token: str):
        self.events, self.token = events, token

    def __call__(self, org_id, spec):
        return [e for e in self.events if e.org_id == org_id]


def _switch(element, token):
    if element[1].event.message_id == "t4":
        _SWITCHED[token] = True
    return element


def test_a_milestone_created_while_running_is_evaluated_over_history():
    token = "created-while-running"
    _SWITCHED.pop(token, None)
    before = config()
    after = config(milestones=[milestone(threshold=2, window_us=None)])
    past = [event("group", "g1", T0 - HOUR, user="u1", group="acme")] + [
        track(f"t{i}", T0 + i * HOUR, user="u1") for i in (1, 2, 3)
    ]
    stream = (
        TestStream()
        .add_elements([at(e) for e in past])
        .advance_watermark_to((T0 + 5 * HOUR) / S)
        .add_elements([at(track("t4", T0 + 6 * HOUR, user="u1"))])
        .advance_watermark_to((T0 + DAY) / S)
        .advance_watermark_to_infinity()
    )
    p = streaming_pipeline()
    rows = (
        p
        | stream
        | beam.Map(_switch, token)
        | ComputeSignals(SwitchingConfig(before, after, token), 3 * DAY, DAY, True, history=History(past, token))
    ).rows
    assert_that(
        rows
        | beam.Filter(lambda r: r[0] == MILESTONE_CHANGES)
        | beam.Map(lambda r: (r[1]["kind"], (r[1]["changed_at"] - T0) // HOUR, r[1]["count"], r[1]["source"])),
        equal_to([("achieved", 2, 2, "recompute")]),
    )
    p.run()


def test_the_configuration_watcher_hears_of_an_organisation_per_new_snapshot_not_per_bundle(monkeypatch):
    """Its key is the organisation's, so on many workers a ping per bundle would make it a
    hot key: a process pings once per configuration snapshot it sees, and again only after
    the refresh interval; another pipeline (another DoFn token) pings on its own."""
    from variance.transforms import signals

    clock = [1000.0]
    monkeypatch.setattr(signals.time, "monotonic", lambda: clock[0])
    first, changed = config(), config(milestones=[milestone(threshold=2, window_us=None)])
    route = signals.BucketDedupeAndRouteFn(StaticConfig(first), ping_every_s=30.0)
    assert route._should_ping("org_a", first)
    assert not route._should_ping("org_a", first)  # the next bundles
    assert route._should_ping("org_b", first)  # another organisation
    assert route._should_ping("org_a", changed)  # a new snapshot: a changed milestone
    assert not route._should_ping("org_a", changed)
    clock[0] += 31
    assert route._should_ping("org_a", changed)  # the refresh interval passed
    other = signals.BucketDedupeAndRouteFn(StaticConfig(first), ping_every_s=30.0)
    assert other._should_ping("org_a", changed)
