"""Slack delivery: matches per second delivered into a fake Slack (messages plus digests)
for one busy channel and for 50 channels, and the streaming pipeline's rate with Slack
answering at once compared with Slack taking 500 ms per call.

- ``one_channel`` / ``fifty_channels``: matches recorded in the outbox at ``--rate`` a
  second for ``--seconds`` (spread over the channels) while ``variance slack sender``'s loop
  runs in a thread against the fake Slack of the tests over real HTTP (1 message/s per
  channel with bursts of 3, 429 past that). Reported: matches delivered per second until the
  last one was in Slack, messages and digests posted, 429s seen, and the worst delay from
  recording to posting.
- ``pipeline``: the streaming pipeline itself, twice at the same time: two
  ``variance.stack.local.LocalStack`` (``variance pipeline`` and ``variance slack sender``
  as processes, on one Pub/Sub emulator), each with one stream posting to a channel of its
  own fake Slack, one answering at once and one taking 500 ms per call. Every event is
  published into both at ``--pipeline-rate`` a second for ``--pipeline-seconds``, and each
  is a match. Run side by side, both see the same machine: on a shared machine, runs one
  after the other differ by more than the 10% in question (two sequential runs of the
  ``sink`` comparison below, same code, gave ratios of 0.81 and 1.35). Reported
  for each: when the last match was recorded in the outbox (the pipeline's last write for
  Slack) and in the warehouse, after the last publish (the drain), the matches per second
  from the first publish to that point, and the posts its Slack got meanwhile. The goal:
  the rate with the slow Slack within 10% of the fast one (``slow_over_fast`` >= 0.9).
- ``sink``: the pipeline's Slack sink alone (``RecordSlackPosts`` in a Beam batch pipeline)
  over ``--matches`` matches while a sender in the same process drains the same outbox,
  against the same two Slacks.

The fake Slack is ``tests/support/fake_slack.py``, loaded from its file (the benchmarks are
not a package of the tests): the benchmark measures against the very server the tests
check the sender with. In ``pipeline`` it runs in this process and the sender reaches it
over HTTP through ``VARIANCE_SLACK_API_URL``.

    .venv/bin/python bench/slack.py [--sections delivery,pipeline,sink] [--rate 200 --seconds 5]
        [--pipeline-rate 150 --pipeline-seconds 20] [--matches 5000]

Sections not run keep their previous results in ``bench/results/slack.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
ROOT = _HERE.parent
# Last, not first: the repository's slack/ folder must not stand in for an installed package.
sys.path.append(str(ROOT))

from bench.common import RESULTS, write_results  # noqa: E402


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _fake_slack_module():
    spec = importlib.util.spec_from_file_location("bench_fake_slack", ROOT / "tests" / "support" / "fake_slack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _workspace(workdir: Path, channels: int, fake_url: str):
    from variance.appdb.session import make_engine, session_factory
    from variance.core.settings import Settings
    from variance.samples.workspace import Workspace

    env = {"VARIANCE_DATA_DIR": str(workdir / "data")}
    workspace = Workspace.create(env, "Bench")
    streams = [workspace.add_stream(f"Stream {i}", slack_channel=(f"C{i:05d}", f"#bench-{i}")) for i in range(channels)]
    settings = Settings(
        **env,
        VARIANCE_SLACK_TOKEN="xoxb-fake-token",
        VARIANCE_SLACK_TOKEN_ORG=workspace.org_id,
        VARIANCE_SLACK_API_URL=fake_url,
    )
    engine = make_engine(settings.resolved_database_url)
    return workspace, streams, settings, session_factory(engine), engine


def _entry(org_id: str, stream: dict, i: int):
    from variance.slack.outbox import OutboxEntry

    match = {
        "org_id": org_id,
        "stream_id": stream["id"],
        "message_id": f"m{i}",
        "event_time": 1_714_521_600_000_000 + i,
        "kind": "Action",
        "name": "Invited User",
        "contact_id": f"u{i % 97}",
        "account_id": f"acct-{i % 13}",
        "matched_by": "follow",
        "status": "current",
        "recorded_at": 1_714_521_600_000_000 + i,
    }
    payload = {"match": match, "stream_name": stream["name"], "properties": {"i": i}, "milestone": None}
    return OutboxEntry(org_id, stream["id"], f"m{i}", stream["slack_channel"]["id"], payload)


def delivery(channels: int, rate: int, seconds: float) -> dict:
    """Matches recorded at ``rate``/s over ``channels`` while the sender runs."""
    from sqlalchemy import func, select

    from variance.appdb.models import SlackOutboxRow
    from variance.slack.outbox import record
    from variance.slack.sender import Sender

    fake_slack = _fake_slack_module()
    with tempfile.TemporaryDirectory(prefix="bench-slack-") as tmp:
        fake = fake_slack.FakeSlack(channels=[fake_slack.Channel(f"C{i:05d}", f"bench-{i}") for i in range(channels)])
        fake.start()
        try:
            workspace, streams, settings, sessions, engine = _workspace(Path(tmp), channels, fake.url)
            sender = Sender(settings, sessions)
            stop = threading.Event()
            loop = threading.Thread(target=sender.run, args=(stop, 0.02), daemon=True)
            total = int(rate * seconds)
            recorded_at: dict[str, float] = {}
            started = time.monotonic()
            loop.start()
            tick, i = 0.1, 0
            while i < total:
                batch = [
                    _entry(workspace.org_id, streams[j % channels], j)
                    for j in range(i, min(total, i + int(rate * tick)))
                ]
                with sessions() as session, session.begin():
                    record(session, batch)
                now = time.monotonic()
                recorded_at.update({e.message_id: now for e in batch})
                i += len(batch)
                time.sleep(max(0.0, started + i / rate - time.monotonic()))
            while True:
                with sessions() as session:
                    done = session.scalar(select(func.count()).where(SlackOutboxRow.state.in_(("sent", "digested"))))
                if done >= total:
                    break
                if time.monotonic() - started > seconds + 120:
                    raise RuntimeError(f"only {done} of {total} delivered")
                time.sleep(0.05)
            finished = time.monotonic()
            stop.set()
            loop.join(10)
            digests = sum(1 for m in fake.messages if m["text"] and " matches" in m["text"] and "across" in m["text"])
            engine.dispose()
            return {
                "channels": channels,
                "matches": total,
                "recorded_per_s": rate,
                "seconds": round(finished - started, 2),
                "delivered_per_s": round(total / (finished - started), 1),
                "messages": len(fake.messages),
                "digests": digests,
                "rate_limited_429": fake.rate_limited,
            }
        finally:
            fake.stop()


def sink_rate(matches: int, slack_delay_s: float) -> dict:
    """The sink's rate over ``matches`` rows while a sender drains against Slack at ``slack_delay_s``."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from variance.core.engine.config import OrgConfig, StreamSpec
    from variance.core.vocabulary import WarehouseTable
    from variance.pipelines.sinks.slack import RecordSlackPosts
    from variance.slack.sender import Sender

    fake_slack = _fake_slack_module()
    with tempfile.TemporaryDirectory(prefix="bench-slack-") as tmp:
        fake = fake_slack.FakeSlack(channels=[fake_slack.Channel("C00000", "bench-0")], per_channel_burst=1000)
        fake.start()
        fake.delay = slack_delay_s
        try:
            workspace, streams, settings, sessions, engine = _workspace(Path(tmp), 1, fake.url)
            stream = streams[0]
            config = OrgConfig.build(
                workspace.org_id,
                [],
                [],
                [StreamSpec(stream["id"], stream["name"], "accounts_contacts", (), "C00000", "#b")],
                [],
            )

            rows = [
                (WarehouseTable.stream_matches.value, _entry(workspace.org_id, stream, i).payload["match"])
                for i in range(matches)
            ]
            settings_digest = settings.model_copy(update={"slack_digest_after": 1000})
            sender = Sender(settings_digest, sessions)
            stop = threading.Event()
            loop = threading.Thread(target=sender.run, args=(stop, 0.02), daemon=True)
            loop.start()
            started = time.monotonic()
            options = PipelineOptions(["--runner=FnApiRunner"])
            with beam.Pipeline(options=options) as p:
                p | beam.Create(rows) | beam.ParDo(RecordSlackPosts(lambda org: config, settings.resolved_database_url))
            elapsed = time.monotonic() - started
            stop.set()
            loop.join(30)
            engine.dispose()
            return {
                "slack_delay_s": slack_delay_s,
                "matches": matches,
                "seconds": round(elapsed, 2),
                "matches_per_s": round(matches / elapsed, 1),
                "slack_calls_meanwhile": len(fake.calls),
            }
        finally:
            fake.stop()


def _outbox_times(database_url: str, prefix: str) -> tuple[int, float | None]:
    """How many matches of this run are in the outbox, and when the last was recorded (epoch s)."""
    from sqlalchemy import create_engine, func, select

    from variance.appdb.models import SlackOutboxRow

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            count, last = connection.execute(
                select(func.count(), func.max(SlackOutboxRow.created_at)).where(
                    SlackOutboxRow.message_id.like(f"{prefix}-%")
                )
            ).one()
    finally:
        engine.dispose()
    if last is None:
        return int(count), None
    if last.tzinfo is None:  # SQLite hands the stored UTC time back naive
        last = last.replace(tzinfo=timezone.utc)
    return int(count), last.timestamp()


def _lake_times(lake: Path, prefix: str) -> tuple[int, float | None]:
    """How many matches of this run are in the lake's stream_matches, and when the file
    holding the last of them was written (epoch s)."""
    import duckdb

    from variance.core.vocabulary import WarehouseTable

    files = sorted(str(p) for p in (lake / WarehouseTable.stream_matches.value).glob("*.parquet"))
    if not files:
        return 0, None
    rows = (
        duckdb.connect()
        .execute(
            f"select filename, count(distinct message_id) from read_parquet({files!r}, filename=true) "
            "where message_id like ? group by filename",
            [f"{prefix}-%"],
        )
        .fetchall()
    )
    times = [os.stat(name).st_mtime for name, _n in rows if os.path.exists(name)]
    return sum(n for _f, n in rows), (max(times) if times else None)


@dataclass
class _Run:
    """One local stack whose only stream posts to a fake Slack answering after ``delay_s``."""

    delay_s: float
    fake: Any
    stack: Any
    org_id: str
    connection_id: str
    topic_path: str
    database_url: str


def _start_run(emulator, fake_slack, delay_s: float) -> _Run:
    from variance.core.settings import Settings
    from variance.samples.workspace import Workspace
    from variance.stack.local import LocalStack

    fake = fake_slack.FakeSlack(channels=[fake_slack.Channel("C00000", "bench-0")])
    fake.start()
    fake.delay = delay_s
    work = Path(tempfile.mkdtemp(prefix="bench-slack-pipeline-"))
    stack = LocalStack(
        work,
        emulator=emulator,
        env={"VARIANCE_SLACK_TOKEN": fake_slack.TOKEN, "VARIANCE_SLACK_API_URL": fake.url},
    )
    try:
        workspace = Workspace.create(stack.env, "Bench")
        workspace.add_connection("web", mapping="group")
        workspace.add_stream(
            "Everything",
            type_="event_type",
            selectors=[{"kind": "Action", "name": "Invited User"}],
            slack_channel=("C00000", "#bench-0"),
        )
        stack.env["VARIANCE_SLACK_TOKEN_ORG"] = workspace.org_id  # the sender posts for this organisation
        stack.start_pipeline()
    except BaseException:
        stack.stop()
        fake.stop()
        raise
    settings = Settings(**stack.env)
    return _Run(
        delay_s,
        fake,
        stack,
        workspace.org["org_id"],
        workspace.connection["id"],
        settings.topic_path,
        settings.resolved_database_url,
    )


def _stop_run(run: _Run) -> None:
    try:
        run.stack.stop()
    finally:
        run.fake.stop()
        shutil.rmtree(run.stack.workdir, ignore_errors=True)


def _publish(runs: list[_Run], rate: float, seconds: float, prefix: str, emulator_host: str) -> tuple[float, float]:
    """Every event once into each run's topic (for its organisation), paced at ``rate``;
    returns the wall-clock times of the first and the last publish."""
    import orjson
    from google.cloud import pubsub_v1

    from variance.clients.pubsub import publisher_client
    from variance.core import bus
    from variance.core.settings import Settings
    from variance.core.timeutil import format_timestamp, now_micros

    publisher = publisher_client(
        Settings(PUBSUB_EMULATOR_HOST=emulator_host),
        pubsub_v1.types.BatchSettings(max_messages=100, max_latency=0.001),
    )
    futures = []
    total = int(rate * seconds)
    started, first, last = time.perf_counter(), time.time(), 0.0
    for i in range(total):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        message_id, now = f"{prefix}-{i}", now_micros()
        data = orjson.dumps(
            {
                "type": "track",
                "userId": f"u{i % 50}",
                "event": "Invited User",
                "messageId": message_id,
                "timestamp": format_timestamp(now),
                "receivedAt": format_timestamp(now),
            }
        )
        for run in runs:
            attributes = {
                bus.ORG_ID: run.org_id,
                bus.CONNECTION_ID: run.connection_id,
                bus.CONNECTION_NAME: "web",
                bus.MESSAGE_ID: message_id,
                bus.TYPE: "track",
                bus.EVENT_TIME: format_timestamp(now),
            }
            futures.append(publisher.publish(run.topic_path, data, **attributes))
        last = time.time()
    for future in futures:
        future.result(timeout=120)
    return first, last


def _wait_for(runs: list[_Run], prefix: str, total: int, timeout_s: float) -> dict[float, dict]:
    """Wait until every run has all ``total`` matches in its outbox and its lake."""
    deadline = time.time() + timeout_s
    seen: dict[float, dict] = {}
    while True:
        for run in runs:
            outbox = _outbox_times(run.database_url, prefix)
            lake = _lake_times(run.stack.lake_dir, prefix)
            seen[run.delay_s] = {"outbox": outbox, "lake": lake}
        if all(v["outbox"][0] >= total and v["lake"][0] >= total for v in seen.values()):
            return seen
        if time.time() > deadline:
            counts = {d: (v["outbox"][0], v["lake"][0]) for d, v in seen.items()}
            raise RuntimeError(
                f"after {timeout_s:.0f} s not every match arrived (outbox, lake) per Slack delay: {counts}"
            )
        time.sleep(0.5)


def streaming(rate: float, seconds: float, delays: tuple[float, ...] = (0.0, 0.5)) -> dict:
    """The local streaming pipeline with Slack answering after each of ``delays``, all at
    once on one emulator and fed the same events at ``rate``/s, so that a busy machine
    slows every run alike and the ratio between them is Slack's doing alone."""
    from variance.clients.emulator import free_port, start_emulator

    fake_slack = _fake_slack_module()
    emulator_dir = Path(tempfile.mkdtemp(prefix="bench-slack-emulator-"))
    emulator = start_emulator(free_port(), log_path=emulator_dir / "emulator.log")
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.emulator_host
    runs: list[_Run] = []
    try:
        for delay in delays:
            say(f"[pipeline] starting a pipeline and a sender with Slack at {delay * 1000:.0f} ms a call")
            runs.append(_start_run(emulator, fake_slack, delay))
        # A few events first, so that every run is measured from a pipeline already past
        # its first bundles and a sender past its first post.
        _publish(runs, 10, 2, "warm", emulator.emulator_host)
        _wait_for(runs, "warm", 20, 180)
        total = int(rate * seconds)
        say(f"[pipeline] publishing {total} events at {rate:g}/s into each pipeline")
        first, last = _publish(runs, rate, seconds, "bench", emulator.emulator_host)
        seen = _wait_for(runs, "bench", total, 600)
        results = {}
        for run in runs:
            (_n, outbox_at), (_m, lake_at) = seen[run.delay_s]["outbox"], seen[run.delay_s]["lake"]
            assert outbox_at is not None and lake_at is not None
            posts = [m for m, _ in run.fake.calls if m == "chat.postMessage"]
            results[run.delay_s] = {
                "slack_delay_s": run.delay_s,
                "published": total,
                "offered_per_s": rate,
                "publish_seconds": round(last - first, 2),
                "outbox_drain_after_last_publish_s": round(outbox_at - last, 2),
                "outbox_matches_per_s": round(total / (outbox_at - first), 1),
                "warehouse_drain_after_last_publish_s": round(lake_at - last, 2),
                "warehouse_matches_per_s": round(total / (lake_at - first), 1),
                "slack_posts_meanwhile": len(posts),
            }
            say(f"[pipeline] {results[run.delay_s]}")
        return results
    finally:
        for run in runs:
            _stop_run(run)
        emulator.stop()
        shutil.rmtree(emulator_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="delivery,pipeline,sink", help="comma-separated")
    parser.add_argument("--rate", type=int, default=200, help="matches recorded per second (delivery)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pipeline-rate", type=float, default=150, help="events published per second (pipeline)")
    parser.add_argument("--pipeline-seconds", type=float, default=20.0)
    parser.add_argument("--matches", type=int, default=5000, help="matches through the pipeline's sink alone")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    unknown = sections - {"delivery", "pipeline", "sink"}
    if unknown:
        parser.error(f"--sections: unknown {', '.join(sorted(unknown))} (choose from delivery, pipeline, sink)")
    path = RESULTS / "slack.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    results = {k: v for k, v in previous.items() if k not in ("date", "machine")}
    results["load_1min"] = round(os.getloadavg()[0], 2)
    if "delivery" in sections:
        say("[delivery] one busy channel, then 50 channels")
        results["one_channel"] = delivery(1, args.rate, args.seconds)
        results["fifty_channels"] = delivery(50, args.rate, args.seconds)
    if "pipeline" in sections:
        runs = streaming(args.pipeline_rate, args.pipeline_seconds)
        fast, slow = runs[0.0], runs[0.5]
        results["pipeline"] = {
            "how": "both pipelines at once on one emulator, fed the same events",
            "slack_at_once": fast,
            "slack_500ms": slow,
            "slow_over_fast": round(slow["outbox_matches_per_s"] / fast["outbox_matches_per_s"], 3),
            "warehouse_slow_over_fast": round(slow["warehouse_matches_per_s"] / fast["warehouse_matches_per_s"], 3),
            "goal": "slow_over_fast >= 0.9",
        }
    if "sink" in sections:
        say("[sink] the Slack sink alone")
        sink_rate(min(args.matches, 1000), 0.0)  # warm-up: Beam's and SQLAlchemy's first use
        fast = sink_rate(args.matches, 0.0)
        slow = sink_rate(args.matches, 0.5)
        results["sink"] = {
            "slack_at_once": fast,
            "slack_500ms": slow,
            "slow_over_fast": round(slow["matches_per_s"] / fast["matches_per_s"], 3),
            "goal": "slow_over_fast >= 0.9",
        }
    written = write_results("slack", results)
    print(json.dumps(results, indent=2))
    print(f"results written to {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
