"""Ingestion throughput: events/s accepted end to end (API -> Pub/Sub emulator, publish
confirmed) for /v1/batch (100 events a request) and for single /v1/track calls.

The reference is the same server binary and the same payloads with publishing switched
off (``variance api --discard-events``), measured in the same run, so the ratio says
what Pub/Sub costs on this machine however busy it is. Reference and publishing runs
alternate for ``--rounds`` rounds and the round with the median ratio is reported (all
rounds' ratios are kept), because one run on a shared machine can be off by a third. Each
run records the CPU its processes used, also in µs per event: where the cost of an event
goes (API, emulator, load generator) is steadier than a rate when other work competes.

    .venv/bin/python bench/ingest.py [--seconds 10] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import percentile, write_results
from variance.clients.pubsub import ensure_subscription, ensure_topic, publisher_client, subscriber_client
from variance.core.settings import Settings
from variance.samples.workspace import Workspace
from variance.stack.local import LocalStack
from variance.stack.processes import start_api


def _event(i: int) -> dict:
    return {
        "type": "track",
        "userId": f"user-{i % 5000}",
        "event": "Invited User",
        "properties": {"role": "admin" if i % 3 else "member", "plan": "pro", "seats": i % 50},
        "context": {"groupId": f"account-{i % 500}", "library": {"name": "bench", "version": "1"}},
        "timestamp": "2026-11-25T10:00:00.000Z",
    }


async def _load(url: str, path: str, make_body, seconds: float, concurrency: int, events_per_request: int, auth: dict):
    latencies: list[float] = []
    failures = 0
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=auth, limits=limits, timeout=30) as client:

        async def worker(worker_id: int) -> None:
            nonlocal failures
            n = 0
            while time.perf_counter() < stop_at:
                body = make_body(worker_id * 1_000_000 + n)
                n += 1
                started = time.perf_counter()
                try:
                    response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
                except httpx.TransportError:
                    failures += 1  # counted, not fatal: a busy machine can drop a connection
                    continue
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "events_per_s": round(len(latencies) * events_per_request / elapsed, 1),
        "requests": len(latencies),
        "failed_requests": failures,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
    }


def _cpu(api_pid: int, emulator_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the API and the emulator (the load generator is this process)."""
    import psutil

    def seconds(pid: int) -> float:
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system

    return {"api": seconds(api_pid), "emulator": seconds(emulator_pid), "load_generator": seconds(os.getpid())}


def _cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before[name], 1) for name in before}


def _measured(
    url: str, pids: tuple[int, int], path: str, body, seconds: float, concurrency: int, per_request: int, auth
):
    before = _cpu(*pids)
    run = asyncio.run(_load(url, path, body, seconds, concurrency, per_request, auth))
    after = _cpu(*pids)
    run["cpu_seconds"] = _cpu_delta(before, after)
    events = run["requests"] * per_request
    run["cpu_us_per_event"] = {
        name: round((after[name] - before[name]) / events * 1e6, 1) if events else None for name in before
    }
    return run


def _batch_body(seed: int) -> bytes:
    return json.dumps(
        {"batch": [dict(_event(seed * 100 + k), messageId=str(uuid.uuid4())) for k in range(100)]}
    ).encode()


def _single_body(seed: int) -> bytes:
    return json.dumps(dict(_event(seed), messageId=str(uuid.uuid4()))).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="per run")
    parser.add_argument("--rounds", type=int, default=3, help="reference/publishing pairs per mode")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    work = Path(tempfile.mkdtemp(prefix="variance-bench-"))
    stack = LocalStack(work)
    reference = None
    results: dict = {
        "seconds_per_mode": args.seconds,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "modes": {},
    }
    try:
        emulator = stack.start_emulator()
        settings = Settings(**stack.env)
        ensure_topic(publisher_client(settings), settings.topic_path)
        # A subscription attached, as the pipeline's would be, so the emulator stores every message.
        subscriber = subscriber_client(settings)
        ensure_subscription(subscriber, settings.subscription_path, settings.topic_path)
        conn = Workspace.create(stack.env, "Bench").add_connection("bench", mapping="group")
        auth = {"Authorization": "Basic " + base64.b64encode(f"{conn['secret']}:".encode()).decode()}
        publishing = stack.start_api()
        reference = start_api(stack.env, work / "api-ref.log", ["--discard-events"])
        for mode, path, body, per_request in (
            ("batch_100", "/v1/batch", _batch_body, 100),
            ("single_track", "/v1/track", _single_body, 1),
        ):
            print(f"[{mode}] warming up", file=sys.stderr, flush=True)
            asyncio.run(_load(publishing.url, path, body, 2, args.concurrency, per_request, auth))
            asyncio.run(_load(reference.url, path, body, 2, args.concurrency, per_request, auth))
            rounds = []
            for round_no in range(1, args.rounds + 1):
                label = f"[{mode}] round {round_no}/{args.rounds}:"
                print(f"{label} reference (publishing off) for {args.seconds:.0f} s", file=sys.stderr, flush=True)
                ref = _measured(
                    reference.url, (reference.process.pid, emulator.pid), path, body, args.seconds,
                    args.concurrency, per_request, auth,
                )  # fmt: skip
                print(f"{label} publishing to the emulator for {args.seconds:.0f} s", file=sys.stderr, flush=True)
                pub = _measured(
                    publishing.url, (publishing.process.pid, emulator.pid), path, body, args.seconds,
                    args.concurrency, per_request, auth,
                )  # fmt: skip
                pub["ratio_to_reference"] = (
                    round(pub["events_per_s"] / ref["events_per_s"], 3) if ref["events_per_s"] else None
                )
                pub["reference"] = ref
                rounds.append(pub)
                print(
                    f"{label} {pub['events_per_s']:.0f} events/s (p50 {pub['p50_ms']} ms, p99 {pub['p99_ms']} ms, "
                    f"API {pub['cpu_us_per_event']['api']} µs/event, emulator "
                    f"{pub['cpu_us_per_event']['emulator']} µs/event); reference {ref['events_per_s']:.0f} events/s "
                    f"(API {ref['cpu_us_per_event']['api']} µs/event); ratio {pub['ratio_to_reference']}",
                    file=sys.stderr,
                    flush=True,
                )
            ranked = sorted(rounds, key=lambda r: r["ratio_to_reference"] or 0)
            pub = dict(ranked[len(ranked) // 2])  # the median round, whole
            pub["ratio_rounds"] = [r["ratio_to_reference"] for r in rounds]
            results["modes"][mode] = pub
            ref = pub["reference"]
            print(
                f"[{mode}] {pub['events_per_s']:.0f} events/s (p50 {pub['p50_ms']} ms, p99 {pub['p99_ms']} ms); "
                f"reference {ref['events_per_s']:.0f} events/s; ratio {pub['ratio_to_reference']} "
                f"(median of {pub['ratio_rounds']})",
                flush=True,
            )
    finally:
        if reference is not None:
            reference.stop()
        stack.stop()
    path = write_results("ingest", results)
    print(f"results written to {path}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
