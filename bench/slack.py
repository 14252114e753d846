"""Slack delivery: matches per second delivered into a fake Slack (messages plus digests)
for one busy channel and for 50 channels, and the pipeline's Slack sink with Slack answering
at once compared with Slack taking 500 ms per call.

- ``one_channel`` / ``fifty_channels``: matches recorded in the outbox at ``--rate`` a
  second for ``--seconds`` (spread over the channels) while ``variance slack sender``'s loop
  runs in a thread against the fake Slack of the tests over real HTTP (1 message/s per
  channel with bursts of 3, 429 past that). Reported: matches delivered per second until the
  last one was in Slack, messages and digests posted, 429s seen, and the worst delay from
  recording to posting.
- ``pipeline``: the pipeline's Slack sink (``RecordSlackPosts`` in a Beam batch pipeline,
  the DoFn the streaming pipeline runs) over ``--matches`` matches, while a sender drains
  the same outbox against a fake Slack answering at once, then taking 500 ms per call. The
  goal: the pipeline's rate with the slow Slack within 10% of the fast one.

The fake Slack is ``tests/support/fake_slack.py``, loaded from its file: the benchmark
measures against the very server the tests check the sender with.

    .venv/bin/python bench/slack.py [--rate 200 --seconds 5 --matches 5000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
ROOT = _HERE.parent
RESULTS = _HERE / "results" / "slack.json"


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


def pipeline_rate(matches: int, slack_delay_s: float) -> dict:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=200, help="matches recorded per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--matches", type=int, default=5000, help="matches through the pipeline's sink")
    args = parser.parse_args()
    results = {
        "load_1min": round(os.getloadavg()[0], 2),
        "one_channel": delivery(1, args.rate, args.seconds),
        "fifty_channels": delivery(50, args.rate, args.seconds),
    }
    pipeline_rate(min(args.matches, 1000), 0.0)  # warm-up: Beam's and SQLAlchemy's first use
    fast = pipeline_rate(args.matches, 0.0)
    slow = pipeline_rate(args.matches, 0.5)
    results["pipeline"] = {
        "slack_at_once": fast,
        "slack_500ms": slow,
        "slow_over_fast": round(slow["matches_per_s"] / fast["matches_per_s"], 3),
        "goal": "slow_over_fast >= 0.9",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
