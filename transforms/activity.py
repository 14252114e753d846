"""Daily activity per entity and event type, with Beam's event-time windowing.

One-day fixed windows (UTC days). Early firings every few seconds of processing time
keep today's counts fresh; the on-time firing closes the day when the watermark passes
midnight; late firings (one per late event) update a day's count for as long as the
allowed lateness lasts. Panes accumulate, so every firing carries the day's full count
and the serving table simply replaces it. The engine already marks events too late for
milestones and drops them from ``activity``; the windows allow one more day than that so
Beam never drops silently what the engine let through.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.transforms import trigger, window
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.timestamp import Duration, Timestamp

from variance.core.rows import DailyActivityRecord
from variance.core.timeutil import from_micros
from variance.core.warehouse import Row

DAY_S = 86_400
DAY_US = DAY_S * 1_000_000
EARLY_FIRING_S = 5


class _CountPerDayInBundle(beam.DoFn):
    """Each key's events of one UTC day in this bundle, as one count: the windowing and the
    grouping after it (Beam's trigger machinery, a large share of the local runner's CPU,
    py-spy) then see a count per key, day and bundle instead of an element per event. The
    day is the one-day window the event falls in, so the windowing is applied to the counts
    (it assigns the same day from their time). A count keeps the earliest of its events'
    times, so it is as late or on time as they are."""

    def start_bundle(self):
        self._counts: dict[tuple, list] = {}

    def process(self, row: dict):
        t = row["event_time"]
        key = (row["org_id"], row["entity_type"], row["entity_id"], row["kind"], row["name"], t // DAY_US)
        held = self._counts.get(key)
        if held is None:
            self._counts[key] = [1, t]
        else:
            held[0] += 1
            held[1] = min(held[1], t)

    def finish_bundle(self):
        for key, (count, t) in self._counts.items():
            yield GlobalWindows.windowed_value((key[:-1], count), timestamp=Timestamp(micros=t))
        self._counts = {}


class _ToRow(beam.DoFn):
    def process(self, element, w=beam.DoFn.WindowParam):
        (org_id, entity_type, entity_id, kind, name), count = element
        day = from_micros(int(w.start.micros)).date().isoformat()
        yield DailyActivityRecord(
            org_id=org_id, entity_type=entity_type, entity_id=entity_id, day=day, kind=kind, name=name, count=count
        ).as_row()


@beam.typehints.with_input_types(dict[str, Any])
@beam.typehints.with_output_types(Row)
class CountDailyActivity(beam.PTransform):
    """The engine's activity rows (``ActivityRecord`` dicts) -> ``daily_activity`` rows
    (``DailyActivityRecord``: running counts per UTC day) for the serving tables."""

    def __init__(self, allowed_lateness_s: int):
        super().__init__()
        self._allowed_lateness_s = allowed_lateness_s + DAY_S

    def expand(self, activity):
        return (
            activity
            | "CountPerDayInBundle" >> beam.ParDo(_CountPerDayInBundle())
            | "OneDayWindows"
            >> beam.WindowInto(
                window.FixedWindows(DAY_S),
                trigger=trigger.AfterWatermark(
                    early=trigger.AfterProcessingTime(EARLY_FIRING_S), late=trigger.AfterCount(1)
                ),
                allowed_lateness=Duration(seconds=self._allowed_lateness_s),
                accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
            )
            | "Count" >> beam.CombinePerKey(sum)
            | "ToRows" >> beam.ParDo(_ToRow())
        )
