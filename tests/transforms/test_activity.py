"""Daily activity counts with one-day event-time windows: early, on-time and late firings."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Duration

from tests.support.beam import streaming_pipeline
from tests.support.events import DAY, HOUR, T0
from variance.transforms.activity import CountDailyActivity

S = 1_000_000


def activity(t, entity="acme", name="Invited User"):
    return {
        "org_id": "org_a",
        "entity_type": "account",
        "entity_id": entity,
        "kind": "Action",
        "name": name,
        "event_time": t,
    }


def test_on_time_and_late_firings_replace_the_days_count():
    stream = (
        TestStream()
        .advance_watermark_to(T0 / S)
        .add_elements([activity(T0 + HOUR), activity(T0 + 2 * HOUR), activity(T0 + 3 * HOUR, name="Created Project")])
        .advance_watermark_to((T0 + DAY + HOUR) / S)  # the day closes: on-time panes
        .add_elements([activity(T0 + 5 * HOUR)])  # a late event for that day: a late pane with the new total
        .advance_watermark_to((T0 + DAY + 2 * HOUR) / S)
        .add_elements([activity(T0 + DAY + 3 * HOUR)])  # the next day
        .advance_watermark_to((T0 + 2 * DAY + HOUR) / S)
        .advance_watermark_to_infinity()
    )
    p = streaming_pipeline()
    rows = p | stream | CountDailyActivity(allowed_lateness_s=3 * 86_400)
    assert_that(
        rows | beam.Map(lambda r: (r[1]["day"], r[1]["name"], r[1]["count"])),
        equal_to(
            [
                ("2024-05-01", "Invited User", 2),
                ("2024-05-01", "Created Project", 1),
                ("2024-05-01", "Invited User", 3),  # late firing: the day's full count
                ("2024-05-02", "Invited User", 1),
            ]
        ),
    )
    p.run()


def test_events_beyond_the_allowed_lateness_are_not_counted():
    stream = (
        TestStream()
        .advance_watermark_to((T0 + 10 * DAY) / S)
        .add_elements([activity(T0 + HOUR)])  # 10 days late, lateness 3 days (+1 day margin)
        .advance_watermark_to((T0 + 11 * DAY) / S)
        .advance_watermark_to_infinity()
    )
    p = streaming_pipeline()
    rows = p | stream | CountDailyActivity(allowed_lateness_s=3 * 86_400)
    assert_that(rows, equal_to([]))
    p.run()


def test_lateness_margin_is_one_day_beyond_the_milestone_lateness():
    assert (
        CountDailyActivity(allowed_lateness_s=3 * 86_400)._allowed_lateness_s
        == Duration(seconds=4 * 86_400).micros // S
    )


def test_events_of_one_key_and_day_in_a_bundle_are_counted_as_one_and_late_ones_make_one_pane():
    """Counted once per key, day and bundle before the grouping: three late events that
    arrive together give one late pane with the day's full count, and a bundle of events
    of two days gives each day its own count."""
    stream = (
        TestStream()
        .advance_watermark_to(T0 / S)
        .add_elements([activity(T0 + HOUR), activity(T0 + 2 * HOUR), activity(T0 + DAY + HOUR)])
        .advance_watermark_to((T0 + 2 * DAY + HOUR) / S)  # both days close: on-time panes
        .add_elements([activity(T0 + 4 * HOUR), activity(T0 + 5 * HOUR), activity(T0 + 6 * HOUR)])
        .advance_watermark_to((T0 + 2 * DAY + 2 * HOUR) / S)
        .advance_watermark_to_infinity()
    )
    p = streaming_pipeline()
    rows = p | stream | CountDailyActivity(allowed_lateness_s=3 * 86_400)
    assert_that(
        rows | beam.Map(lambda r: (r[1]["day"], r[1]["count"])),
        equal_to([("2024-05-01", 2), ("2024-05-02", 1), ("2024-05-01", 5)]),
    )
    p.run()
