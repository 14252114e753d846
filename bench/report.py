"""Every benchmark in one place: reads ``bench/results/*.json`` and writes ``bench/RESULTS.md``
(each benchmark's numbers, the ratios against the reference measured in the same run, the
goals and whether they are met, the date and the machine) and the README's generated
benchmark tables (the blocks between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``).

    .venv/bin/python bench/report.py [--check]

``make bench`` runs it last; run it alone after changing a results file or this report.
It only reads the results: nothing is measured here. ``tests/test_readme.py`` fails when the
README's tables differ from what this makes of the committed JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from variance.core.readme import generated_block, with_generated_block  # noqa: E402
from variance.core.vocabulary import ServingTable, WarehouseTable  # noqa: E402

# The benchmarks key their row counts by the table's name, as they write them.
EVENTS = WarehouseTable.events.value
CONTACTS = ServingTable.contacts.value
ACCOUNTS = ServingTable.accounts.value
STREAM_ITEMS = ServingTable.stream_items.value

RESULTS = ROOT / "bench" / "results"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
README = ROOT / "README.md"
SUMMARY_BLOCK = "bench:summary"


@dataclass(frozen=True)
class Goal:
    text: str
    met: bool

    def __str__(self) -> str:
        return f"{self.text}: {'met' if self.met else '**not met**'}"


@dataclass(frozen=True)
class Row:
    """One headline of a benchmark in the summary table."""

    measure: str
    result: str
    reference: str = "—"
    ratio: str = "—"
    goals: tuple[Goal, ...] = ()


@dataclass
class Report:
    name: str
    title: str
    command: str
    data: dict
    rows: list[Row] = field(default_factory=list)
    detail: str = ""


# ---- formatting -------------------------------------------------------------------------


def num(value: float | int | None, digits: int = 0) -> str:
    """Thousands separated; ``digits`` decimals for floats."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, int) or digits == 0:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def date_text(data: dict) -> str:
    date = data.get("date")
    if not date:
        return "not recorded"
    return date.replace("T", " ").replace("+00:00", " UTC")


def load_text(data: dict) -> str:
    load = (data.get("machine") or {}).get("load_1min", data.get("load_1min"))
    return "—" if load is None else f"{load}"


def machine_cells(data: dict) -> list[str]:
    machine = data.get("machine")
    if not machine:
        return ["not recorded"] * 5
    memory = machine.get("memory_gb")
    return [
        str(machine.get("cpus", "—")),
        machine.get("cpu_model") or f"{machine.get('processor', '—')}, model not recorded",
        f"{memory} GB" if memory is not None else "not recorded",
        machine.get("python", "—"),
        machine.get("platform", "—"),
    ]


def machine_line(data: dict) -> str:
    cores, cpu, memory, python, platform = machine_cells(data)
    if not data.get("machine"):
        when = f"Measured {date_text(data)}" if data.get("date") else "Date not recorded"
        return f"{when}; machine not recorded; load average {load_text(data)}."
    return (
        f"Measured {date_text(data)} on {cores} cores ({cpu}), memory {memory}, Python {python},"
        f" {platform}; load average {load_text(data)}."
    )


# ---- one function per benchmark -----------------------------------------------------------


def ingest(report: Report) -> None:
    data = report.data
    seconds = data.get("seconds_per_mode", 0) or 0
    names = {"batch_100": "`/v1/batch`, 100 events a request", "single_track": "single `/v1/track` calls"}
    rows = []

    def per_event_us(cpu: float, rate: float) -> str:
        return num(cpu / (rate * seconds) * 1e6, 1) if rate and seconds else "—"

    for mode, m in data["modes"].items():
        ref = m["reference"]
        rows.append(
            [
                names.get(mode, mode),
                num(m["events_per_s"]),
                f"{m['p50_ms']} ms",
                f"{m['p99_ms']} ms",
                str(m["failed_requests"]),
                per_event_us(m["cpu_seconds"]["api"], m["events_per_s"]),
                per_event_us(m["cpu_seconds"]["emulator"], m["events_per_s"]),
                num(ref["events_per_s"]),
                per_event_us(ref["cpu_seconds"]["api"], ref["events_per_s"]),
                f"{m['ratio_to_reference']}",
            ]
        )
        goals: tuple[Goal, ...] = ()
        if mode == "batch_100":
            goals = (
                Goal("≥ 5,000 events/s", m["events_per_s"] >= 5000),
                Goal("ratio ≥ 0.5", m["ratio_to_reference"] >= 0.5),
            )
        report.rows.append(
            Row(
                f"{names.get(mode, mode)}, publish confirmed",
                f"{num(m['events_per_s'])} events/s",
                f"{num(ref['events_per_s'])} events/s, publishing off",
                f"{m['ratio_to_reference']}",
                goals,
            )
        )
    report.detail = table(
        [
            "mode",
            "events/s",
            "p50",
            "p99",
            "failed",
            "API CPU µs/event",
            "emulator CPU µs/event",
            "reference events/s",
            "reference API CPU µs/event",
            "ratio",
        ],
        rows,
    ) + (f"\n{data.get('concurrency', '?')} concurrent connections, {num(seconds)} s per mode.\n")


def api(report: Report) -> None:
    endpoints = report.data["endpoints"]
    reference = endpoints.get("reference_healthz", {})
    rows = [
        [f"`{name}`", num(e["p50_ms"], 2), num(e["p99_ms"], 2), str(e.get("p50_ratio_to_reference", "(reference)"))]
        for name, e in endpoints.items()
    ]
    report.detail = table(["endpoint", "p50 ms", "p99 ms", "p50 / reference"], rows) + (
        f"\n{num(report.data.get(CONTACTS))} contacts, {num(report.data.get(ACCOUNTS))} accounts"
        f" in {report.data.get('database', '?')}; reference: `GET /healthz` on the same server.\n"
    )
    measured = {k: v for k, v in endpoints.items() if k != "reference_healthz"}
    if measured:
        name, slowest = max(measured.items(), key=lambda item: item[1]["p50_ms"])
        report.rows.append(
            Row(
                f"slowest endpoint by p50 (`{name}`), {report.data.get('database', '?')}",
                f"p50 {slowest['p50_ms']} ms, p99 {slowest['p99_ms']} ms",
                f"`/healthz` p50 {reference.get('p50_ms', '—')} ms",
                str(slowest.get("p50_ratio_to_reference", "—")),
            )
        )


def pipeline(report: Report) -> None:
    data = report.data
    rows = []
    if backfill := data.get("backfill"):
        ratio = backfill["ratio_to_plain_python"]
        goal = Goal("ratio ≥ 0.5", ratio >= 0.5)
        rows.append(
            [
                f"backfill, {num(backfill[EVENTS])} generated events (FnApiRunner in process, grouped per entity, "
                "lake writes)",
                f"{num(backfill['beam_events_per_s'])} events/s",
                f"plain Python, same logic, same process: {num(backfill['plain_python_events_per_s'])} events/s",
                str(ratio),
                str(goal),
            ]
        )
        report.rows.append(
            Row(
                "backfill (Beam batch)",
                f"{num(backfill['beam_events_per_s'])} events/s",
                f"{num(backfill['plain_python_events_per_s'])} events/s, plain Python",
                str(ratio),
                (goal,),
            )
        )
        if "beam_parallel_events_per_s" in backfill:
            minutes = backfill["minutes_per_million_parallel"]
            speedup = backfill["parallel_speedup"]
            goals = (
                Goal("1.5x on 2 cores", speedup >= 1.5),
                Goal("≤ 3.6 min per million", minutes <= 3.6),
                Goal("< 2 min per million", minutes < 2),
            )
            rows.append(
                [
                    f"backfill on {backfill['workers']} worker processes (`variance backfill` above 50,000 lines): "
                    f"{minutes} min per million events",
                    f"{num(backfill['beam_parallel_events_per_s'])} events/s",
                    f"in process, same run: {num(backfill['beam_events_per_s'])} events/s "
                    f"({backfill['minutes_per_million_one_worker']} min per million)",
                    f"{speedup}x",
                    ", ".join(map(str, goals)),
                ]
            )
            report.rows.append(
                Row(
                    "backfill on worker processes",
                    f"{num(backfill['beam_parallel_events_per_s'])} events/s",
                    f"{num(backfill['beam_events_per_s'])} events/s in process",
                    f"{speedup}x",
                    goals,
                )
            )
    if windows := data.get("milestone_windows"):
        ratio = windows["ratio_90d_to_1d"]
        goal = Goal("within 25%", ratio <= 1.25)
        rows.append(
            [
                f"milestone cost per event, 90-day window ({num(windows[EVENTS])} events)",
                f"{windows['us_per_event_window_90d']} µs",
                f"1-day window: {windows['us_per_event_window_1d']} µs",
                str(ratio),
                str(goal),
            ]
        )
        report.rows.append(
            Row(
                "milestone cost, 90-day vs 1-day window",
                f"{windows['us_per_event_window_90d']} µs/event",
                f"{windows['us_per_event_window_1d']} µs/event",
                str(ratio),
                (goal,),
            )
        )
    streaming = data.get("streaming", {})
    for key, run in streaming.items():
        if not isinstance(run, dict):
            continue
        rate = key.removeprefix("rate_").removesuffix("_per_s")
        parts = [f"{num(run['written'])} of {num(run['published'])} written"]
        if "p50_s" in run:
            parts.append(f"p50 {run['p50_s']} s")
        parts.append(f"p95 {run['p95_s']} s")
        if "p99_s" in run:
            parts.append(f"p99 {run['p99_s']} s")
        if "drain_after_last_publish_s" in run:
            parts.append(f"drained {run['drain_after_last_publish_s']} s after the last publish")
        goal = Goal("p95 < 2 s", run["p95_s"] < 2) if "p50_s" in run else None
        rows.append(
            [
                f"latency, publish to stream match durable, {rate} events/s (local runner)",
                ", ".join(parts),
                "—",
                "—",
                str(goal) if goal else "—",
            ]
        )
        if goal:
            report.rows.append(Row(f"streaming latency at {rate} events/s", f"p95 {run['p95_s']} s", goals=(goal,)))
    if (highest := streaming.get("highest_sustained_rate_per_s")) is not None:
        rate_goal = Goal("≥ 1,000 events/s", highest >= 1000)
        rows.append(
            [
                "highest sustained rate (drains within 2 s of the last publish)",
                f"{highest} events/s",
                "—",
                "—",
                str(rate_goal),
            ]
        )
        report.rows.append(
            Row("highest sustained streaming rate, local runner", f"{highest} events/s", goals=(rate_goal,))
        )
    if durable := data.get("durable_read"):
        rows.append(
            [
                f"durable local read, {num(durable['backlog_messages'])}-message backlog",
                f"{num(durable['durable_local_read']['messages_per_s'])} messages/s",
                f"Beam's local ReadFromPubSub: {num(durable['beam_read_from_pubsub']['messages_per_s'])} messages/s",
                str(durable["ratio_durable_to_beam"]),
                "—",
            ]
        )
    for run in data.get("restart", {}).values():
        if not isinstance(run, dict):
            continue
        goal = str(Goal("< 30 s", run["restart_seconds"] < 30)) if run[EVENTS] == 1_000_000 else "—"
        rows.append(
            [
                f"restart, start to caught up, {num(run[EVENTS])} events in the warehouse",
                f"{run['restart_seconds']} s",
                "—",
                "—",
                goal,
            ]
        )
    report.detail = table(["measure", "result", "reference (same run)", "ratio", "goal"], rows)
    sections = {
        "backfill": "backfill",
        "milestone_windows": "milestone windows",
        "streaming": "latency",
        "restart": "restart",
        "durable_read": "durable read",
    }
    when = [
        f"{label} {date_text({'date': data[key]['measured']})}"
        for key, label in sections.items()
        if isinstance(data.get(key), dict) and data[key].get("measured")
    ]
    if when:
        report.detail += "\nEach section's run: " + "; ".join(when) + " (the date above is the file's last write).\n"


def scale(report: Report) -> None:
    data = report.data
    keyed = data.get("keyed", [])
    rows = [
        [
            num(run["org_contacts"]),
            num(run["calls"]),
            num(sum(run["keys"].values())),
            f"{num(run['largest_state_bytes'])} B",
            f"{run['mean_state_bytes']} B",
            f"{run['encoded_bytes_per_event']} B",
            f"{run['cost_per_event_us']} µs",
            f"{run['hottest_key_share_of_messages'] * 100:.4f}%",
            f"{run['largest_key_share_of_state'] * 100:.4f}%",
        ]
        for run in keyed
    ]
    parts = [
        table(
            [
                "org contacts",
                "calls",
                "keys",
                "largest key state",
                "mean key state",
                "encoded bytes / call",
                "cost / call",
                "hottest key's share of messages",
                "largest key's share of state",
            ],
            rows,
        )
    ]
    ratios = data.get("ratios_largest_to_smallest_org", {})
    if ratios and keyed:
        small, large = keyed[0], keyed[-1]
        state_goal = Goal("≤ 1.3x", ratios["largest_state_bytes"] <= 1.3)
        cost_goal = Goal("≤ 1.5x", ratios["cost_per_event_us"] <= 1.5)
        span = f"{num(large['org_contacts'])} vs {num(small['org_contacts'])} contacts"
        report.rows.append(
            Row(
                f"largest key state, {span}",
                f"{num(large['largest_state_bytes'])} B",
                f"{num(small['largest_state_bytes'])} B",
                f"{ratios['largest_state_bytes']}",
                (state_goal,),
            )
        )
        report.rows.append(
            Row(
                f"cost per call, {span}",
                f"{large['cost_per_event_us']} µs",
                f"{small['cost_per_event_us']} µs",
                f"{ratios['cost_per_event_us']}",
                (cost_goal,),
            )
        )
        parts.append(
            f"\n{span}: largest state {ratios['largest_state_bytes']}x ({state_goal}), mean"
            f" {ratios['mean_state_bytes']}x, encoded bytes per call {ratios['encoded_bytes_per_event']}x,"
            f" cost per call {ratios['cost_per_event_us']}x ({cost_goal}).\n"
        )
    if reference := data.get("reference"):
        parts.append("\nThe previous design (one key per organisation), measured in the same run:\n\n")
        parts.append(
            table(
                ["org contacts", "calls", "state in one key", "pickle round trip"],
                [
                    [
                        num(r["org_contacts"]),
                        num(r["calls"]),
                        f"{r['state_bytes'] / 1e6:.1f} MB",
                        f"{r['round_trip_ms']} ms",
                    ]
                    for r in reference
                ],
            )
        )
    if fnapi := data.get("fnapi"):
        parts.append("\nFnApiRunner with one and two workers (`direct_num_workers`, `multi_processing`):\n\n")
        parts.append(
            table(
                ["org contacts", "form", "workers", "calls", "calls/s"],
                [
                    [num(r["org_contacts"]), r["form"], str(r["workers"]), num(r["calls"]), num(r["calls_per_s"])]
                    for r in fnapi
                ],
            )
        )
    report.detail = "".join(parts)


def dbt(report: Report) -> None:
    data = report.data
    rows = [
        [
            num(run["event_count"]),
            f"{run['build_s']} s",
            num(run["build_events_per_s"]),
            str(run["build_nodes"]),
            f"{run['run_s']} s ({run['run_models']} models)",
            f"{run['test_s']} s ({run['data_tests']} tests)",
            f"{run['reference_s']} s",
            f"{run['ratio_reference_to_build']}",
            str(run.get("load_1min", "—")),
        ]
        for run in data.get("runs", [])
    ]
    report.detail = table(
        [
            "events built",
            "`variance dbt build`",
            "events/s",
            "dbt nodes",
            "models only",
            "data tests only",
            "bare DuckDB reference",
            "reference / build",
            "load",
        ],
        rows,
    )
    if data.get("goal"):
        report.detail += f"\nGoal: {data['goal']}.\n"
    if runs := data.get("runs"):
        largest = max(runs, key=lambda run: run["event_count"])
        goals = (Goal("1M events < 15 s", largest["build_s"] < 15),) if largest["event_count"] >= 1_000_000 else ()
        report.rows.append(
            Row(
                f"`variance dbt build`, {num(largest['event_count'])} events",
                f"{largest['build_s']} s",
                f"bare DuckDB query: {largest['reference_s']} s",
                f"{largest['ratio_reference_to_build']}",
                goals,
            )
        )


def slack(report: Report) -> None:
    data = report.data
    rows = []
    for key, label in (("one_channel", "one busy channel"), ("fifty_channels", "50 channels")):
        if run := data.get(key):
            recording = run["matches"] / run["recorded_per_s"]
            rows.append(
                [
                    f"{label}, {run['recorded_per_s']} matches/s for {num(recording, 1)} s",
                    num(run["matches"]),
                    num(run["delivered_per_s"], 1),
                    f"{run['seconds']} s ({num(run['seconds'] - recording, 1)} s after the last match)",
                    f"{run['messages']} ({run['digests']})",
                    str(run["rate_limited_429"]),
                ]
            )
            report.rows.append(Row(f"Slack delivery, {label}", f"{num(run['delivered_per_s'], 1)} matches/s"))
    parts = [table(["case", "matches", "delivered/s", "all in Slack after", "messages (digests)", "429s"], rows)]
    # "pipeline" is the whole streaming pipeline as processes (earlier runs: the sink alone);
    # "sink" is the Slack sink alone in a Beam batch pipeline.
    sections = [data[key] for key in ("pipeline", "sink") if isinstance(data.get(key), dict)]
    sink_rows = []
    for section in sections:
        fast, slow = section["slack_at_once"], section["slack_500ms"]
        whole = "published" in fast
        label = (
            f"streaming pipeline (emulator, `variance pipeline`, sender as processes), {num(fast['published'])}"
            f" events at {num(fast['offered_per_s'])}/s"
            if whole
            else f"the pipeline's Slack sink alone, {num(fast['matches'])} matches"
        )
        rate_key = "outbox_matches_per_s" if whole else "matches_per_s"
        goal = Goal("ratio ≥ 0.9", section["slow_over_fast"] >= 0.9)
        for run, is_slow in ((fast, False), (slow, True)):
            drain = run.get("outbox_drain_after_last_publish_s")
            sink_rows.append(
                [
                    label if not is_slow else "",
                    f"{int(run['slack_delay_s'] * 1000)} ms a call" if run["slack_delay_s"] else "at once (reference)",
                    num(run[rate_key], 1),
                    f"{drain} s" if drain is not None else "—",
                    str(run.get("slack_posts_meanwhile", run.get("slack_calls_meanwhile", "—"))),
                    str(section["slow_over_fast"]) if is_slow else "—",
                    str(goal) if is_slow else "—",
                ]
            )
        report.rows.append(
            Row(
                ("streaming pipeline" if whole else "Slack sink")
                + f" with Slack at {int(slow['slack_delay_s'] * 1000)} ms a call",
                f"{num(slow[rate_key], 1)} matches/s",
                f"{num(fast[rate_key], 1)} matches/s, Slack at once",
                str(section["slow_over_fast"]),
                (goal,),
            )
        )
        if "warehouse_slow_over_fast" in section:
            sink_rows[-1][5] += f" (warehouse rows: {section['warehouse_slow_over_fast']})"
    if sink_rows:
        parts.append(
            "\n"
            + table(
                [
                    "matches recorded for Slack",
                    "Slack",
                    "matches/s",
                    "outbox drained after the last publish",
                    "Slack posts meanwhile",
                    "slow / fast",
                    "goal",
                ],
                sink_rows,
            )
        )
    report.detail = "".join(parts)


# Pages and partials under 100 ms at p95; a view's members and tag counts evaluate a whole
# view or tag per request, so they have 200 ms.
SLOW_WEB_READS = ("page_view_members", "api_view_members", "api_tag_counts")


def web(report: Report) -> None:
    data = report.data
    every = {**data.get("pages", {}), **data.get("reads", {})}
    reference = every.get("reference_healthz", {}).get("p50_ms")
    rows = []
    for name, page in every.items():
        ratio = (
            "(reference)" if name == "reference_healthz" else (num(page["p50_ms"] / reference, 1) if reference else "—")
        )
        budget = 200 if name in SLOW_WEB_READS else 100
        rows.append(
            [
                f"`{name}`",
                f"{page['p50_ms']} ms",
                f"{page['p95_ms']} ms",
                num(page.get("bytes")),
                ratio,
                "—" if name == "reference_healthz" else str(Goal(f"p95 < {budget} ms", page["p95_ms"] < budget)),
            ]
        )
    report.detail = table(["page or read", "p50", "p95", "bytes", "p50 / reference", "goal"], rows) + (
        f"\n{num(data.get(CONTACTS))} contacts, {num(data.get(ACCOUNTS))} accounts,"
        f" a stream of {num(data.get(STREAM_ITEMS))} items, in {data.get('database', '?')};"
        " reference: `GET /healthz` on the same server.\n"
    )
    measured = {k: v for k, v in every.items() if k != "reference_healthz"}
    fast = {k: v for k, v in measured.items() if k not in SLOW_WEB_READS}
    slow = {k: v for k, v in measured.items() if k in SLOW_WEB_READS}
    for group, budget, label in ((fast, 100, "pages and partials"), (slow, 200, "view members and tag counts")):
        if group:
            name, worst = max(group.items(), key=lambda item: item[1]["p95_ms"])
            report.rows.append(
                Row(
                    f"slowest of the {label} by p95 (`{name}`)",
                    f"p95 {worst['p95_ms']} ms",
                    f"`/healthz` p50 {reference} ms" if reference else "—",
                    num(worst["p50_ms"] / reference, 1) + " (p50)" if reference else "—",
                    (Goal(f"p95 < {budget} ms", worst["p95_ms"] < budget),),
                )
            )


def generic(report: Report) -> None:
    """A results file this report has no function for yet: every number it holds."""
    rows = []

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if prefix == "" and key in ("date", "machine"):
                    continue
                walk(f"{prefix}.{key}" if prefix else key, inner)
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                walk(f"{prefix}[{i}]", inner)
        else:
            rows.append([f"`{prefix}`", str(value)])

    walk("", report.data)
    report.detail = table(["field", "value"], rows)


BENCHMARKS: dict[str, tuple[str, Callable[[Report], None]]] = {
    "ingest": ("Ingestion", ingest),
    "api": ("Management API", api),
    "pipeline": ("Pipeline", pipeline),
    "scale": ("Scale", scale),
    "dbt": ("dbt", dbt),
    "slack": ("Slack", slack),
    "web": ("Web app", web),
}


def load(results: Path = RESULTS) -> list[Report]:
    """One report per results file, in ``make bench``'s order, then any others by name."""
    order = list(BENCHMARKS)
    paths = sorted(
        results.glob("*.json"), key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.stem)
    )
    reports = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"error: {path}: not a readable JSON results file ({exc})") from None
        # api-postgresql.json is bench/api.py --database postgresql: same shape, another database.
        base = path.stem.split("-", 1)[0]
        title, build = BENCHMARKS.get(base, (path.stem, generic))
        if base != path.stem:
            title = f"{title} ({path.stem.split('-', 1)[1]})"
        script = f"bench/{base}.py"
        report = Report(path.stem, title, f"`.venv/bin/python {script}`", data)
        try:
            build(report)
        except (KeyError, TypeError, ValueError) as exc:
            raise SystemExit(
                f"error: {path}: unexpected shape for {script}'s results ({type(exc).__name__}: {exc})"
            ) from None
        reports.append(report)
    return reports


def summary(reports: list[Report]) -> str:
    rows = []
    for report in reports:
        for i, row in enumerate(report.rows):
            rows.append(
                [
                    report.title if i == 0 else "",
                    (date_text(report.data)[:10] if report.data.get("date") else "not recorded") if i == 0 else "",
                    row.measure,
                    row.result,
                    row.reference,
                    row.ratio,
                    "; ".join(str(goal) for goal in row.goals) or "—",
                ]
            )
    machines = [
        [report.title, date_text(report.data), *machine_cells(report.data), load_text(report.data)]
        for report in reports
    ]
    return (
        table(["benchmark", "date", "measure", "result", "reference (same run)", "ratio", "goal"], rows)
        + "\n"
        + table(["benchmark", "measured", "cores", "CPU", "memory", "Python", "platform", "load"], machines)
    )


def block_name(report: Report) -> str:
    return f"bench:{report.name}"


def detail(report: Report) -> str:
    return f"{machine_line(report.data)}\n\n{report.detail}"


def results_markdown(reports: list[Report]) -> str:
    parts = [
        "# Benchmark results\n\n",
        "Generated by `bench/report.py` from `bench/results/*.json` (`make bench` runs every benchmark,"
        " then the report); do not edit by hand. Each ratio compares with a reference measured in the"
        " same run, so it holds however busy the machine was; the README explains what the numbers"
        " mean and why a goal is or is not met.\n\n",
        "## Summary\n\n",
        summary(reports),
    ]
    for report in reports:
        parts.append(f"\n## {report.title} ({report.command}, `bench/results/{report.name}.json`)\n\n")
        parts.append(detail(report))
    return "".join(parts)


def readme_blocks(reports: list[Report]) -> dict[str, str]:
    """What each generated block of the README holds."""
    return {SUMMARY_BLOCK: summary(reports), **{block_name(r): detail(r) for r in reports}}


def with_readme_blocks(text: str, reports: list[Report]) -> str:
    """The README with every benchmark block it has rewritten (a results file without a block
    is only in RESULTS.md)."""
    for name, body in readme_blocks(reports).items():
        if f"<!-- {name}:start" in text:
            text = with_generated_block(text, name, body)
    generated_block(text, SUMMARY_BLOCK)  # the summary must be there
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only say whether RESULTS.md and the README are up to date"
    )
    args = parser.parse_args(argv)
    reports = load()
    results_md = results_markdown(reports)
    readme = README.read_text(encoding="utf-8")
    try:
        new_readme = with_readme_blocks(readme, reports)
    except ValueError as exc:
        sys.stderr.write(f"error: {README}: {exc}\n")
        return 1
    stale = [
        p
        for p, old, new in (
            (RESULTS_MD, RESULTS_MD.read_text() if RESULTS_MD.exists() else "", results_md),
            (README, readme, new_readme),
        )
        if old != new
    ]
    if args.check:
        for path in stale:
            sys.stderr.write(
                f"{path.relative_to(ROOT)} differs from bench/results/*.json: run .venv/bin/python bench/report.py\n"
            )
        return 1 if stale else 0
    RESULTS_MD.write_text(results_md, encoding="utf-8")
    README.write_text(new_readme, encoding="utf-8")
    sys.stderr.write(
        f"{len(reports)} benchmarks: wrote {RESULTS_MD.relative_to(ROOT)} and the README's benchmark tables\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
