"""How the signals' state and cost grow with one organisation; numbers go to bench/results/scale.json.

One organisation of 1,000, 10,000 and 100,000 contacts, with the same events per contact
and the same contacts per account, so only the organisation grows.

- keyed: the keyed design (core/engine/keyed.py) driven in event time in plain Python, with
  every key's state encoded and decoded around each message exactly as a distributed
  runner's state API does (PlainStateCoder, the coder Dataflow gets): the largest encoded
  state of any key, the mean per key, encoded bytes per event, cost per event, how the
  work spreads over keys;
- reference: the organisation-wide engine pickled per event as the previous design stored
  it, for the sizes where that still finishes (measured in the same run);
- fnapi: the same transforms on Beam's FnApiRunner with state encoded (in memory, then two
  worker processes), events per second, for the parallelism question.

    .venv/bin/python bench/scale.py [--contacts 1000,10000,100000] [--fnapi-contacts 1000,10000]
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write_results
from variance.core.engine.config import ConnectionSpec, MilestoneSpec, OrgConfig
from variance.core.engine.engine import OrgEngine
from variance.core.engine.keyed import (
    ACCOUNT,
    ANONYMOUS,
    CONTACT,
    AccountCount,
    AccountKey,
    AnonymousArrival,
    AnonymousKey,
    AnonymousLink,
    Arrival,
    ContactKey,
    Recount,
    route,
)
from variance.core.events import SignalEvent
from variance.core.filters import PropertyFilter
from variance.transforms.state_coders import PlainStateCoder

DAY = 86_400_000_000
ORG = "org_scale"
EVENTS_PER_CONTACT = 10
CONTACTS_PER_ACCOUNT = 10
LATENESS = 3 * DAY
CACHE: dict = {}
T0 = 1_735_689_600_000_000  # 2025-01-01


def say(message: str) -> None:
    print(message, flush=True)


def scale_config() -> OrgConfig:
    admin = (PropertyFilter(path="role", op="equals", value="admin"),)
    return OrgConfig.build(
        ORG,
        connections=[ConnectionSpec("con", "web", "group")],
        milestones=[
            MilestoneSpec("mil_pql", "PQL", 1, "account", "Action", "Invited User", admin, 3, 30 * DAY),
            MilestoneSpec("mil_active", "Active", 1, "contact", "Action", None, (), 5, None),
        ],
    )


def events_of(contacts: int, seed: int = 1) -> list[SignalEvent]:
    """Each contact: a group call, EVENTS_PER_CONTACT track calls over 30 days; one in
    ten starts anonymous and is linked by an identify call later."""
    rng = random.Random(seed)
    out: list[SignalEvent] = []
    for c in range(contacts):
        user, account = f"user-{c}", f"acct-{c // CONTACTS_PER_ACCOUNT}"
        anonymous = f"anon-{c}" if c % 10 == 0 else None

        def call(kind: str, t: int, i: int, user: str = user, **kw) -> SignalEvent:
            return SignalEvent(ORG, "con", "web", f"{user}-{kind}-{i}", kind, t, t, **kw)

        out.append(call("group", T0, 0, user_id=user, group_id=account))
        for i in range(EVENTS_PER_CONTACT):
            t = T0 + rng.randint(1, 30 * DAY)
            role = "admin" if rng.random() < 0.5 else "member"
            who = {"anonymous_id": anonymous} if anonymous and i < 3 else {"user_id": user}
            out.append(call("track", t, i, name="Invited User", properties={"role": role}, **who))
        if anonymous:
            out.append(call("identify", T0 + 2 * DAY, 0, user_id=user, anonymous_id=anonymous))
    out.sort(key=lambda e: (e.event_time, e.message_id))
    return out


class KeyedDriver:
    """The keyed pipeline in plain Python, event time order, each key's state encoded
    after every message and decoded before the next, as a distributed runner does."""

    def __init__(self, config: OrgConfig):
        self.config = config
        self.coders = {
            ANONYMOUS: PlainStateCoder(AnonymousKey),
            CONTACT: PlainStateCoder(ContactKey),
            ACCOUNT: PlainStateCoder(AccountKey),
        }
        self.stored: dict[str, dict] = {ANONYMOUS: {}, CONTACT: {}, ACCOUNT: {}}
        self.messages: Counter = Counter()
        self.encoded_bytes = 0
        self.seen: set[str] = set()

    def _load(self, stage: str, key, make):
        blob = self.stored[stage].get(key)
        return make() if blob is None else self.coders[stage].decode(blob)

    def _store(self, stage: str, key, value) -> None:
        blob = self.coders[stage].encode(value)
        self.encoded_bytes += len(blob)
        self.stored[stage][key] = blob
        self.messages[(stage, key)] += 1

    def process(self, event: SignalEvent) -> None:
        if event.message_id in self.seen:
            return
        self.seen.add(event.message_id)
        for stage, key, message in route(self.config, event, None):
            self._deliver(stage, key, message, event.event_time)

    def _deliver(self, stage: str, key, message, now: int) -> None:
        config = self.config
        if stage == ANONYMOUS:
            holder = self._load(stage, key, lambda: AnonymousKey(key[0], key[1], LATENESS))
            if isinstance(message, AnonymousArrival):
                onward = [holder.arrive(message)]
            else:
                assert isinstance(message, AnonymousLink)
                onward = holder.link(message)
            holder.prune_before(now - LATENESS)
            self._store(stage, key, holder)
            for target, sent in onward:
                self._deliver(CONTACT, target, sent, now)
        elif stage == CONTACT:
            holder = self._load(stage, key, lambda: ContactKey(key[0], key[1], "contact", LATENESS))
            if isinstance(message, Arrival):
                _, out = holder.arrive(config, message, 0)
            else:
                assert isinstance(message, Recount)
                _, out = holder.recount(config, message)
            holder.advance(config, now, "streaming", 0)  # the key's timer at the event time
            self._store(stage, key, holder)
            for target, sent in out:
                self._deliver(ACCOUNT, target, sent, now)
        else:
            holder = self._load(stage, key, lambda: AccountKey(key[0], key[1], "account", LATENESS))
            assert isinstance(message, AccountCount)
            holder.receive(config, message)
            holder.advance(config, now, "streaming", 0)
            self._store(stage, key, holder)


def bench_keyed(contacts: int) -> dict:
    events = events_of(contacts)
    driver = KeyedDriver(scale_config())
    started = time.perf_counter()
    for event in events:
        driver.process(event)
    seconds = time.perf_counter() - started
    sizes = {(stage, key): len(blob) for stage, held in driver.stored.items() for key, blob in held.items()}
    largest_key, largest = max(sizes.items(), key=lambda kv: kv[1])
    hottest_key, hottest = driver.messages.most_common(1)[0]
    by_stage = defaultdict(int)
    for stage, _ in sizes:
        by_stage[stage] += 1
    total_state = sum(sizes.values())
    total_messages = sum(driver.messages.values())
    return {
        "org_contacts": contacts,
        "org_accounts": contacts // CONTACTS_PER_ACCOUNT,
        "calls": len(events),
        "keys": dict(by_stage) | {"message": len(driver.seen)},
        "largest_state_bytes": largest,
        "largest_state_key": f"{largest_key[0]}:{largest_key[1][1]}",
        "mean_state_bytes": round(total_state / len(sizes), 1),
        "encoded_bytes_per_event": round(driver.encoded_bytes / len(events), 1),
        "cost_per_event_us": round(seconds / len(events) * 1e6, 1),
        "largest_key_share_of_state": round(largest / total_state, 6),
        "hottest_key": f"{hottest_key[0]}:{hottest_key[1][1]}",
        "hottest_key_share_of_messages": round(hottest / total_messages, 6),
    }


def bench_reference(contacts: int, sample: int = 20) -> dict:
    """The previous design: one engine per organisation, pickled into one key's state;
    the round trip is timed on ``sample`` events after the whole history is in."""
    events = events_of(contacts)
    engine = OrgEngine(ORG, lateness_us=LATENESS)
    engine.configure(scale_config())
    for event in events:
        engine.process(event)
    engine.advance(events[-1].event_time)
    started = time.perf_counter()
    for _ in range(sample):
        blob = pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(blob)
    per_event = (time.perf_counter() - started) / sample
    return {
        "org_contacts": contacts,
        "calls": len(events),
        "state_bytes": len(blob),
        "round_trip_ms": round(per_event * 1e3, 2),
    }


def bench_fnapi(contacts: int, workers: int, grouped: bool) -> dict:
    """Events per second on FnApiRunner: the streaming steps with state encoded through the
    runner's state API (``grouped=False``), or the backfill's grouped form."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from variance.pipelines.backfill import compute_backfill
    from variance.samples.config import StaticConfig
    from variance.transforms.messages import ROWS, Envelope
    from variance.transforms.signals import ComputeSignals

    events = events_of(contacts)
    options = (
        PipelineOptions(direct_num_workers=workers, direct_running_mode="multi_processing", **CACHE)
        if workers > 1
        else PipelineOptions(**CACHE)
    )
    config = StaticConfig(scale_config())
    as_of = T0 + 40 * DAY
    started = time.perf_counter()
    with beam.Pipeline(runner="FnApiRunner", options=options) as p:
        if grouped:
            created = p | beam.Create([(e.org_id, e) for e in events], reshuffle=False)
            rows = compute_backfill(created, config, LATENESS, as_of)[ROWS]
        else:
            created = p | beam.Create([(e.org_id, Envelope(e)) for e in events], reshuffle=False)
            rows = (created | ComputeSignals(config, LATENESS, LATENESS, False, as_of_us=as_of)).rows
        _ = rows | beam.combiners.Count.Globally()
    seconds = time.perf_counter() - started
    return {
        "org_contacts": contacts,
        "form": "grouped (backfill)" if grouped else "stateful, encoded state",
        "workers": workers,
        "calls": len(events),
        "calls_per_s": round(len(events) / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", default="1000,10000,100000")
    parser.add_argument("--reference-contacts", default="1000,5000")
    parser.add_argument("--fnapi-contacts", default="1000,10000")
    args = parser.parse_args()
    results: dict = {"keyed": [], "reference": [], "fnapi": []}
    for n in [int(x) for x in args.contacts.split(",") if x]:
        say(f"[keyed] {n} contacts")
        results["keyed"].append(bench_keyed(n))
        say(f"  {results['keyed'][-1]}")
        write_results("scale", results)  # kept as it goes: the larger runs take minutes
    for n in [int(x) for x in args.reference_contacts.split(",") if x]:
        say(f"[reference] one organisation-wide engine, {n} contacts")
        results["reference"].append(bench_reference(n))
        say(f"  {results['reference'][-1]}")
    for n in [int(x) for x in args.fnapi_contacts.split(",") if x]:
        for grouped in (False, True):
            for workers in (1, 2):
                say(f"[fnapi] {n} contacts, {'grouped' if grouped else 'stateful'}, {workers} worker(s)")
                results["fnapi"].append(bench_fnapi(n, workers, grouped))
                say(f"  {results['fnapi'][-1]}")
    keyed = results["keyed"]
    if len(keyed) > 1:
        small, large = keyed[0], keyed[-1]
        results["ratios_largest_to_smallest_org"] = {
            metric: round(large[metric] / small[metric], 3)
            for metric in ("largest_state_bytes", "mean_state_bytes", "encoded_bytes_per_event", "cost_per_event_us")
        }
    path = write_results("scale", results)
    print(json.dumps(results, indent=2))
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
