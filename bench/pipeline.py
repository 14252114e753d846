"""Pipeline benchmarks; numbers go to bench/results/pipeline.json.

- backfill: events/s of the Beam backfill (FnApiRunner) on generated events, beside a
  plain-Python run of the same logic (parse, engine, lake writes) in the same process;
- windows: the engine's cost per event with a 1-day and a 90-day milestone window;
- latency: publish -> stream match durable in the warehouse, at 100 events/s on the
  local runner, and the highest rate it sustains;
- restart: start to caught up (state rebuilt from the warehouse) for 100k and 1M events;
- read: the durable local Pub/Sub read against Beam's own local ReadFromPubSub.

    .venv/bin/python bench/pipeline.py [--sections backfill,windows,latency,restart,read] [--events 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench.common import RESULTS, percentile, write_results
from bench.generate import calls
from variance.core.bus import Source
from variance.core.engine.config import ConnectionSpec, MilestoneSpec, OrgConfig, SelectorSpec, StreamSpec
from variance.core.filters import PropertyFilter
from variance.core.rows import ACTIVITY
from variance.core.vocabulary import WarehouseTable
from variance.transforms.messages import DEAD_LETTERS, EVENTS

DAY = 86_400_000_000
ORG = "org_bench"
SOURCE = Source(ORG, "con_bench", "web")


def bench_config() -> OrgConfig:
    admin = (PropertyFilter(path="role", op="equals", value="admin"),)
    return OrgConfig.build(
        ORG,
        connections=[ConnectionSpec("con_bench", "web", "group")],
        milestones=[
            MilestoneSpec("mil_pql", "PQL", 1, "account", "Action", "Invited User", admin, 3, 30 * DAY),
            MilestoneSpec("mil_active", "Active", 1, "contact", "Action", None, (), 10, None),
        ],
        streams=[
            StreamSpec("str_follow", "Followed", "accounts_contacts"),
            StreamSpec(
                "str_pricing",
                "Pricing",
                "event_type",
                (SelectorSpec("Page", None, (PropertyFilter(path="path", op="starts_with", value="/pricing"),)),),
            ),
        ],
        follows=[("str_follow", "account", f"acct-{i}") for i in range(0, 500, 10)],
    )


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- backfill ----------------------------------------------------------------------------


def bench_backfill(n: int) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from variance.core.engine.batch import run_batch
    from variance.core.events import parse_archive_line
    from variance.core.segment import loads_untrusted
    from variance.core.timeutil import now_micros
    from variance.pipelines.backfill import ParseArchiveLineFn, compute_backfill
    from variance.pipelines.sinks import WriteToLocalWarehouse, close_writers
    from variance.samples.config import StaticConfig
    from variance.transforms.signals_batch import ACCOUNT_ROWS, CONTACT_ROWS
    from variance.warehouse.local import LakeReader, LakeWriter

    work = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    archive = work / "calls.jsonl"
    with open(archive, "wb") as out:
        for call in calls(n):
            out.write(orjson.dumps(call) + b"\n")
    config, as_of, lateness = bench_config(), now_micros(), 3 * DAY

    say(f"[backfill] plain Python over {n} events")
    started = time.perf_counter()
    with open(archive, "rb") as lines:
        events = [parse_archive_line(loads_untrusted(line), SOURCE) for line in lines]
    rows = run_batch(config, events, as_of, lateness)
    writer = LakeWriter(work / "lake-plain", compact_every_s=None)
    writer.append([r for r in rows if r[0] != ACTIVITY])
    writer.close()
    plain_s = time.perf_counter() - started

    def beam_run(lake: str, options: PipelineOptions) -> float:
        started = time.perf_counter()
        with beam.Pipeline(runner="FnApiRunner", options=options) as p:
            parsed = (
                p
                | beam.io.ReadFromText(str(archive))
                | beam.ParDo(ParseArchiveLineFn(SOURCE)).with_outputs(DEAD_LETTERS, main=EVENTS)
            )
            computed = compute_backfill(parsed.events, StaticConfig(config), lateness, as_of, rows_apart=True)
            for part in (CONTACT_ROWS, ACCOUNT_ROWS):  # written where made, as `variance backfill` does
                computed[part] | f"Write{part}" >> beam.ParDo(WriteToLocalWarehouse(str(work / lake), None, True))
        close_writers()
        return time.perf_counter() - started

    say(f"[backfill] Beam (FnApiRunner, in process) over {n} events")
    beam_s = beam_run("lake-beam", PipelineOptions())
    workers = os.cpu_count() or 1
    say(f"[backfill] Beam (FnApiRunner, {workers} worker processes, as `variance backfill` runs it) over {n} events")
    parallel = PipelineOptions(direct_num_workers=workers, direct_running_mode="multi_processing")
    parallel_s = beam_run("lake-parallel", parallel)
    written = {
        name: LakeReader(work / name).counts()[WarehouseTable.events.value]
        for name in ("lake-plain", "lake-beam", "lake-parallel")
    }
    assert written == {"lake-plain": n, "lake-beam": n, "lake-parallel": n}, written
    result = {
        "events": n,
        "beam_events_per_s": round(n / beam_s),
        "plain_python_events_per_s": round(n / plain_s),
        "ratio_to_plain_python": round(plain_s / beam_s, 3),
        "workers": workers,
        "beam_parallel_events_per_s": round(n / parallel_s),
        "parallel_speedup": round(beam_s / parallel_s, 2),
        "minutes_per_million_one_worker": round(beam_s / n * 1e6 / 60, 2),
        "minutes_per_million_parallel": round(parallel_s / n * 1e6 / 60, 2),
    }
    say(f"[backfill] {result}")
    return result


# -- milestone windows -------------------------------------------------------------------


def bench_windows(n: int = 100_000) -> dict:
    from variance.core.engine.engine import OrgEngine
    from variance.core.events import SignalEvent

    def run(window_us: int) -> float:
        config = OrgConfig.build(
            ORG,
            connections=[ConnectionSpec("con_bench", "web", "group")],
            milestones=[MilestoneSpec("m", "M", 1, "contact", "Action", "Invited User", (), 5000, window_us)],
        )
        engine = OrgEngine(ORG, lateness_us=3 * DAY, clock=lambda: 0)
        engine.configure(config)
        t0 = 1_700_000_000_000_000
        events = [
            SignalEvent(
                ORG, "con_bench", "web", f"m{i}", "track", t0 + i * 60_000_000, t0, user_id="u1", name="Invited User"
            )
            for i in range(n)
        ]
        started = time.perf_counter()
        for i, event in enumerate(events):
            engine.process(event)
            if i % 10 == 0:
                engine.advance(event.event_time)
        return (time.perf_counter() - started) / n * 1e6

    best = {"1d": min(run(DAY) for _ in range(3)), "90d": min(run(90 * DAY) for _ in range(3))}
    result = {
        "events": n,
        "us_per_event_window_1d": round(best["1d"], 2),
        "us_per_event_window_90d": round(best["90d"], 2),
        "ratio_90d_to_1d": round(best["90d"] / best["1d"], 3),
    }
    say(f"[windows] {result}")
    return result


# -- streaming latency and sustained rate --------------------------------------------------


def _stack(work: Path):
    """The emulator and the pipeline (no API: the benchmark publishes directly), with a
    workspace whose one stream matches every published event."""
    from variance.samples.workspace import Workspace
    from variance.stack.local import LocalStack

    stack = LocalStack(work)
    try:
        stack.start_emulator()
        workspace = Workspace.create(stack.env, "Bench")
        workspace.add_connection("web", mapping="group")
        workspace.add_stream("Everything", type_="event_type", selectors=[{"kind": "Action", "name": "Invited User"}])
        os.environ.update(stack.env)
        stack.start_pipeline()
    except BaseException:
        stack.stop()
        raise
    return stack, workspace


TICK_S = 0.05


def _publish_at(rate: float, seconds: float, org_id: str, connection_id: str, prefix: str) -> dict[str, float]:
    """Publish ``rate * seconds`` calls at ``rate`` per second, as Segment's clients send them:
    what is due every 50 ms goes as one batch (their libraries flush a batch every half
    second or 100 calls), through the API's own publisher. The load generator shares the two
    cores with the pipeline and the emulator, so it must cost what the API costs: Google's
    ``PublisherClient.publish`` of one call at a time spent about 0.9 ms of CPU per call
    here, and the emulator about 1 ms per Publish RPC, together more than the pipeline."""
    import asyncio

    from variance.clients.pubsub import EventPublisher
    from variance.core import bus
    from variance.core.settings import Settings
    from variance.core.timeutil import format_timestamp, now_micros

    total = int(rate * seconds)
    published: dict[str, float] = {}

    def message(i: int) -> bus.BusMessage:
        message_id = f"{prefix}-{i}"
        now = now_micros()
        data = {
            "type": "track",
            "userId": f"u{i % 50}",
            "event": "Invited User",
            "messageId": message_id,
            "timestamp": format_timestamp(now),
            "receivedAt": format_timestamp(now),
        }
        attributes = {
            bus.ORG_ID: org_id,
            bus.CONNECTION_ID: connection_id,
            bus.CONNECTION_NAME: "web",
            bus.MESSAGE_ID: message_id,
            bus.TYPE: "track",
            bus.EVENT_TIME: format_timestamp(now),
        }
        published[message_id] = time.time()
        return bus.BusMessage(orjson.dumps(data), attributes)

    async def run() -> None:
        publisher = EventPublisher(Settings())
        started = time.perf_counter()
        sent = 0
        pending: list[asyncio.Task] = []
        while sent < total:
            due = min(total, int((time.perf_counter() - started) * rate) + 1)
            pending.append(asyncio.ensure_future(publisher.publish([message(i) for i in range(sent, due)])))
            sent = due
            if sent < total:
                await asyncio.sleep(max(0.0, started + sent / rate - time.perf_counter(), TICK_S))
        await asyncio.gather(*pending)

    asyncio.run(run())
    return published


def _written_at(lake: Path, prefix: str) -> dict[str, float]:
    """When each match became durable: the modification time of the file holding it."""
    import duckdb

    files = sorted(str(p) for p in (lake / WarehouseTable.stream_matches.value).glob("*.parquet"))
    if not files:
        return {}
    con = duckdb.connect()
    rows = con.execute(
        f"select message_id, filename from read_parquet({files!r}, filename=true) where message_id like '{prefix}-%'"
    ).fetchall()
    mtimes = {f: os.stat(f).st_mtime for f in files if os.path.exists(f)}
    out: dict[str, float] = {}
    for message_id, filename in rows:
        if filename in mtimes:
            out[message_id] = min(out.get(message_id, 1e18), mtimes[filename])
    return out


def bench_latency() -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    stack, workspace = _stack(work)
    org, connection = workspace.org, workspace.connection
    lake = stack.lake_dir
    result: dict = {}
    try:
        say("[latency] 100 events/s for 30 s")
        published = _publish_at(100, 30, org["org_id"], connection["id"], "lat")
        deadline = time.time() + 30
        while time.time() < deadline and len(_written_at(lake, "lat")) < len(published):
            time.sleep(0.5)
        written = _written_at(lake, "lat")
        latencies = [written[m] - t for m, t in published.items() if m in written]
        result["rate_100_per_s"] = {
            "published": len(published),
            "written": len(latencies),
            "p50_s": round(percentile(latencies, 50), 3),
            "p95_s": round(percentile(latencies, 95), 3),
            "p99_s": round(percentile(latencies, 99), 3),
        }
        say(f"[latency] {result['rate_100_per_s']}")
        sustained = 100
        for rate in (200, 400, 800, 1000, 1200, 1600, 2000, 2400, 3200, 4800, 6400):
            say(f"[latency] {rate} events/s for 10 s")
            published = _publish_at(rate, 10, org["org_id"], connection["id"], f"r{rate}")
            end = time.time()
            deadline = end + 30
            while time.time() < deadline and len(_written_at(lake, f"r{rate}")) < len(published):
                time.sleep(0.5)
            written = _written_at(lake, f"r{rate}")
            drain = max(written.values()) - end if len(written) == len(published) else None
            late = [written[m] - t for m, t in published.items() if m in written]
            result[f"rate_{rate}_per_s"] = {
                "published": len(published),
                "written": len(written),
                "drain_after_last_publish_s": round(drain, 2) if drain is not None else None,
                "p95_s": round(percentile(late, 95), 3) if late else None,
            }
            say(f"[latency] {result[f'rate_{rate}_per_s']}")
            if drain is None or drain > 2.0:
                break
            sustained = rate
        result["highest_sustained_rate_per_s"] = sustained
    finally:
        stack.stop()
    return result


# -- restart -----------------------------------------------------------------------------


def bench_restart(sizes: list[int]) -> dict:
    from variance.appdb.models import Connection, Milestone, Organisation
    from variance.appdb.session import make_engine, migrate, session_factory
    from variance.core.engine.batch import run_batch
    from variance.core.events import parse_archive_line
    from variance.core.settings import Settings
    from variance.core.timeutil import now_micros
    from variance.warehouse.local import LakeWriter

    out = {}
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"bench-restart-{n}-"))
        settings = Settings(VARIANCE_DATA_DIR=str(work / "data"), PUBSUB_EMULATOR_HOST="127.0.0.1:1")
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        with session_factory(engine)() as session, session.begin():
            session.add(Organisation(id=ORG, name="Bench"))
            session.flush()
            session.add(
                Connection(
                    id="con_bench", org_id=ORG, name="web", secret_digest="x" * 64, secret_hint="...x", mapping="group"
                )
            )
            session.add(
                Milestone(
                    id="mil_pql",
                    org_id=ORG,
                    name="PQL",
                    entity="account",
                    event_kind="Action",
                    event_name="Invited User",
                    filters='[{"path":"role","op":"equals","value":"admin"}]',
                    threshold=3,
                    window="30d",
                    window_seconds=30 * 86400,
                    version=1,
                )
            )
            session.add(
                Milestone(
                    id="mil_active",
                    org_id=ORG,
                    name="Active",
                    entity="contact",
                    event_kind="Action",
                    event_name=None,
                    filters="[]",
                    threshold=10,
                    version=1,
                )
            )
        say(f"[restart] preparing a warehouse of {n} events")
        events = [parse_archive_line(call, SOURCE) for call in calls(n)]
        from variance.pipelines.config_source import load_org_config

        with session_factory(engine)() as session:
            config = load_org_config(session, ORG)
        rows = run_batch(config, events, now_micros(), 3 * DAY)
        del events
        writer = LakeWriter(settings.lake_dir, compact_every_s=None, flush_rows=200_000)
        writer.append([r for r in rows if r[0] != ACTIVITY])
        writer.close()
        del rows
        from variance.pipelines.startup import start_up

        say(f"[restart] restoring from {n} events")
        os.environ["VARIANCE_DATA_DIR"] = str(work / "data")
        started = time.perf_counter()
        start_up(settings)
        seconds = time.perf_counter() - started
        out[f"events_{n}"] = {"events": n, "restart_seconds": round(seconds, 2)}
        say(f"[restart] {out[f'events_{n}']}")
    return out


# -- durable read vs Beam's read ----------------------------------------------------------


def bench_read(backlog: int = 6000) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from variance.clients.emulator import free_port, start_emulator
    from variance.clients.pubsub import ensure_subscription, ensure_topic, publisher_client, subscriber_client
    from variance.core.settings import Settings
    from variance.pipelines import progress
    from variance.pipelines.sources.local_pubsub import ReadDurablyFromPubSub
    from variance.transforms.parse import ParseMessages

    work = Path(tempfile.mkdtemp(prefix="bench-read-"))
    emulator = start_emulator(free_port(), log_path=work / "emulator.log")
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.emulator_host
    result = {"backlog_messages": backlog}
    try:
        for name in ("durable_local_read", "beam_read_from_pubsub"):
            settings = Settings(
                PUBSUB_EMULATOR_HOST=emulator.emulator_host,
                VARIANCE_EVENTS_TOPIC=f"read-{name[:6]}",
                VARIANCE_EVENTS_SUBSCRIPTION=f"sub-{name[:6]}",
            )
            ensure_topic(publisher_client(settings), settings.topic_path)
            ensure_subscription(subscriber_client(settings), settings.subscription_path, settings.topic_path)
            os.environ.update(
                {
                    "VARIANCE_EVENTS_TOPIC": settings.events_topic,
                    "VARIANCE_EVENTS_SUBSCRIPTION": settings.events_subscription,
                }
            )
            _publish_at(1e9, backlog / 1e9, ORG, "con_bench", name)
            options = PipelineOptions()
            options.view_as(StandardOptions).streaming = True
            p = beam.Pipeline(runner="BundleBasedDirectRunner", options=options)
            if name == "durable_local_read":
                messages = p | ReadDurablyFromPubSub(settings)
            else:
                from variance.transforms.messages import ReceivedMessage

                messages = (
                    p
                    | beam.io.ReadFromPubSub(
                        subscription=settings.subscription_path, with_attributes=True, timestamp_attribute="event_time"
                    )
                    | beam.Map(lambda m: ReceivedMessage(m.data, dict(m.attributes), None))
                )
            # counted in an imported module: functions of a script are pickled with copies of its globals
            (messages | ParseMessages()).events | beam.Map(lambda _e, key=name: progress.add(key))
            started = time.perf_counter()
            running = p.run()
            deadline = time.perf_counter() + 300
            while progress.snapshot().get(name, 0) < backlog and time.perf_counter() < deadline:
                time.sleep(0.1)
            seconds = time.perf_counter() - started
            running.cancel()
            count = progress.snapshot().get(name, 0)
            result[name] = {"messages": count, "messages_per_s": round(count / seconds)}
            say(f"[read] {name}: {result[name]}")
        result["ratio_durable_to_beam"] = round(
            result["durable_local_read"]["messages_per_s"] / result["beam_read_from_pubsub"]["messages_per_s"], 2
        )
    finally:
        emulator.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="backfill,windows,latency,restart,read")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--restart-sizes", default="100000,1000000")
    args = parser.parse_args()
    previous = json.loads((RESULTS / "pipeline.json").read_text()) if (RESULTS / "pipeline.json").exists() else {}
    results = {k: v for k, v in previous.items() if k not in ("date", "machine")}
    sections = {
        "backfill": "backfill",
        "windows": "milestone_windows",
        "latency": "streaming",
        "restart": "restart",
        "read": "durable_read",
    }
    for section in args.sections.split(","):
        if section not in sections:
            parser.error(f"--sections: unknown section {section!r}; choose from {', '.join(sections)}")
        if section == "backfill":
            results["backfill"] = bench_backfill(args.events)
        elif section == "windows":
            results["milestone_windows"] = bench_windows()
        elif section == "latency":
            results["streaming"] = bench_latency()
        elif section == "restart":
            results["restart"] = bench_restart([int(s) for s in args.restart_sizes.split(",")])
        elif section == "read":
            results["durable_read"] = bench_read()
        # one results file for sections run at different times: each says when it ran
        results[sections[section]]["measured"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    path = write_results("pipeline", results)
    print(json.dumps(results, indent=2))
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
