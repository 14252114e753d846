"""The strongest test: the same events give the same current milestone changes and stream
matches in streaming (shuffled, with duplicates, delayed within the allowed lateness) as in
the batch backfill."""

from __future__ import annotations

import random

import apache_beam as beam
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that
from apache_beam.transforms.window import TimestampedValue

from tests.support.beam import StaticConfig, batch_pipeline, streaming_pipeline
from tests.support.events import (
    DAY,
    HOUR,
    MIN,
    T0,
    config,
    event,
    follow_stream,
    milestone,
    selector,
    selector_stream,
    track,
)
from variance.core.engine.batch import current_milestone_changes, current_stream_matches, run_batch
from variance.core.vocabulary import WarehouseTable
from variance.pipelines.backfill import compute_backfill
from variance.transforms.messages import ROWS, Envelope
from variance.transforms.signals import ComputeSignals

S = 1_000_000
MILESTONE_CHANGES, STREAM_MATCHES = WarehouseTable.milestone_changes.value, WarehouseTable.stream_matches.value
LATENESS = 2 * DAY
AS_OF = T0 + 8 * DAY


def scenario(seed: int):
    rng = random.Random(seed)
    users = [f"u{i}" for i in range(5)]
    links = [event("group", f"g-{u}", T0 - DAY, user=u, group=rng.choice(["acme", "globex"])) for u in users]
    links.append(event("identify", "i-anon", T0 - HOUR, user="u0", anon="anon-0"))
    tracks = []
    for i in range(60):
        t = T0 + rng.randint(0, 5 * DAY // 1000) * 1000  # TestStream works in milliseconds
        who = {"anon": "anon-0"} if rng.random() < 0.1 else {"user": rng.choice(users)}
        tracks.append(track(f"t{i}", t, **who, properties={"role": rng.choice(["admin", "member"])}))
    cfg = config(
        milestones=[
            milestone(filters=[{"path": "role", "op": "equals", "value": "admin"}], threshold=3, window_us=DAY),
            milestone("mil_active", name="Active", entity="contact", threshold=3, window_us=12 * HOUR),
            milestone("mil_first", name="First", entity="contact", threshold=1, window_us=None),
        ],
        streams=[
            follow_stream("s_acme"),
            selector_stream(
                "s_admins",
                selector("Action", "Invited User", filters=[{"path": "role", "op": "equals", "value": "admin"}]),
            ),
            selector_stream("s_pql", selector("Milestone", "PQL")),
        ],
        follows=[("s_acme", "account", "acme"), ("s_acme", "contact", "u3")],
    )
    return rng, cfg, links, tracks


def arrivals(rng, links, tracks):
    """Links first; then the events in arrival order: each delayed by up to a day behind
    the watermark (within the lateness), some delivered twice."""
    stream = TestStream().advance_watermark_to((T0 - 2 * DAY) / S)
    stream = stream.add_elements([TimestampedValue(("org_a", Envelope(e)), e.event_time / S) for e in links])
    arrived = [(e.event_time + rng.randint(0, DAY), e) for e in tracks]
    arrived += [(t + rng.randint(0, HOUR), e) for t, e in rng.sample(arrived, 15)]  # duplicates
    arrived.sort(key=lambda a: a[0])
    watermark = T0 - 2 * DAY
    for arrival_time, e in arrived:
        if arrival_time - DAY > watermark:  # the watermark trails arrivals by a day
            watermark = (arrival_time - DAY) // 1000 * 1000
            stream = stream.advance_watermark_to(watermark / S)
        stream = stream.add_elements([TimestampedValue(("org_a", Envelope(e)), e.event_time / S)])
    return stream.advance_watermark_to(AS_OF / S).advance_watermark_to((AS_OF + MIN) / S)


def collect(rows):
    return rows | beam.Filter(lambda r: r[0] in (MILESTONE_CHANGES, STREAM_MATCHES))


def check_equal(expected_rows):
    def check(rows):
        assert current_milestone_changes(rows) == current_milestone_changes(expected_rows)
        assert current_stream_matches(rows) == current_stream_matches(expected_rows)
        assert current_milestone_changes(rows), "the scenario should reach some milestones"

    return check


def test_streaming_equals_backfill_on_beam():
    for seed in (1, 2, 3):
        rng, cfg, links, tracks = scenario(seed)
        expected = run_batch(cfg, links + tracks, AS_OF, LATENESS)

        with batch_pipeline() as p:  # the Beam backfill, grouped per entity
            events = p | beam.Create([("org_a", e) for e in links + tracks])
            backfill = compute_backfill(events, StaticConfig(cfg), LATENESS, AS_OF)
            assert_that(collect(backfill[ROWS]), check_equal(expected))

        for in_process in (True, False):  # the streaming transforms in batch, state live or encoded
            with batch_pipeline() as p:
                events = p | beam.Create([("org_a", Envelope(e)) for e in links + tracks])
                signals = events | ComputeSignals(StaticConfig(cfg), LATENESS, DAY, in_process, as_of_us=AS_OF)
                assert_that(collect(signals.rows), check_equal(expected), label=f"Check{in_process}")

        p = streaming_pipeline()  # streaming, shuffled, duplicated and delayed
        signals = (
            p | arrivals(rng, links, tracks) | ComputeSignals(StaticConfig(cfg), LATENESS, DAY, in_process_state=True)
        )
        # changes up to AS_OF: the last watermark step lets every timer up to it fire
        rows = signals.rows | beam.Filter(lambda r: r[0] != MILESTONE_CHANGES or r[1]["changed_at"] <= AS_OF)
        assert_that(collect(rows), check_equal(expected))
        p.run()
