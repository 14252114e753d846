"""The signals on a runner whose steps run in other processes, so every key's state is
encoded between steps (as on Dataflow), give the same results as the local runner."""

from __future__ import annotations

import pickle
import random

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from tests.support.events import DAY, HOUR, T0, config, event, milestone, track
from variance.core.engine.batch import current_milestone_changes, current_stream_matches, run_batch
from variance.core.engine.keyed import AccountKey, AnonymousKey, ContactKey
from variance.pipelines.runner import in_process_state
from variance.samples.config import StaticConfig
from variance.transforms.messages import Envelope
from variance.transforms.signals import ComputeSignals

AS_OF = T0 + 6 * DAY


def _scenario():
    rng = random.Random(7)
    users = [f"u{i}" for i in range(12)]
    events = [
        event("group", f"g-{u}", T0 - DAY, user=u, group=rng.choice(["acme", "globex", "initech"])) for u in users
    ]
    events.append(event("identify", "link-late", T0 + 2 * DAY, user="u1", anon="visitor-1"))
    for i in range(300):
        who = {"anon": "visitor-1"} if i % 17 == 0 else {"user": rng.choice(users)}
        events.append(track(f"t{i}", T0 + rng.randint(0, 5 * DAY // 1000) * 1000, **who))
    events += rng.sample(events, 20)  # duplicates
    rng.shuffle(events)
    cfg = config(
        milestones=[
            milestone(threshold=5, window_us=DAY),
            milestone("mil_active", name="Active", entity="contact", threshold=3, window_us=12 * HOUR),
            milestone("mil_first", name="First", entity="contact", threshold=2, window_us=None),
        ]
    )
    return cfg, events


def _run(options: PipelineOptions, cfg, events, out):
    def keep(rows):
        out.write_bytes(pickle.dumps(list(rows)))

    with TestPipeline(runner="FnApiRunner", options=options) as p:
        signals = (
            p
            | beam.Create([(e.org_id, Envelope(e)) for e in events])
            | ComputeSignals(StaticConfig(cfg), 3 * DAY, DAY, in_process_state(options), as_of_us=AS_OF)
        )
        assert_that(signals.rows, keep)
    return pickle.loads(out.read_bytes())


def test_two_worker_processes_give_the_local_runners_results(tmp_path):
    cfg, events = _scenario()
    expected = run_batch(cfg, events, AS_OF, 3 * DAY)
    local = _run(PipelineOptions(), cfg, events, tmp_path / "local.pickle")
    multi = PipelineOptions(direct_num_workers=2, direct_running_mode="multi_processing")
    assert not in_process_state(multi)  # state leaves the process: it is encoded
    spread = _run(multi, cfg, events, tmp_path / "multi.pickle")
    changes = current_milestone_changes(expected)
    assert len(changes) > 20
    assert current_milestone_changes(local) == changes
    assert current_milestone_changes(spread) == changes
    assert current_stream_matches(spread) == current_stream_matches(local) == current_stream_matches(expected)


def test_each_key_state_round_trips_through_its_encoding():
    cfg, events = _scenario()
    from variance.core.engine.keyed import Arrival, counted_milestones

    contact = ContactKey("org_a", "u1", "contact", 3 * DAY)
    for e in sorted(events, key=lambda e: e.event_time):
        if e.user_id == "u1" and e.kind is not None:
            contact.arrive(cfg, Arrival(e, None, counted_milestones(cfg, e), 0), 0)
    contact.advance(cfg, T0 + 3 * DAY, "streaming", 0)
    again = ContactKey.from_state(pickle.loads(pickle.dumps(contact.to_state())))
    assert again.to_state() == contact.to_state()
    assert again.advance(cfg, AS_OF, "streaming", 0) == contact.advance(cfg, AS_OF, "streaming", 0)
    account = AccountKey("org_a", "acme", "account", 3 * DAY)
    assert AccountKey.from_state(account.to_state()).to_state() == account.to_state()
    anonymous = AnonymousKey("org_a", "visitor-1", 3 * DAY)
    assert AnonymousKey.from_state(anonymous.to_state()).to_state() == anonymous.to_state()
