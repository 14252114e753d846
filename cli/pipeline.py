"""``variance pipeline`` (streaming) and ``variance backfill`` (batch)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import typer

from variance.cli.common import CliError, emit, say, settings
from variance.core.vocabulary import WarehouseTable

CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apache_beam", "google", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def pipeline(
    ctx: typer.Context,
    progress_every: float = typer.Option(10.0, "--progress-every", help="Seconds between progress lines"),
) -> None:
    """Run the streaming pipeline from the Pub/Sub subscription until SIGINT/SIGTERM.

    Beam options after the command go to Beam, e.g. ``--runner DataflowRunner --project P
    --region R --temp_location gs://... --setup_file ./setup.py``; without them it runs on
    Beam's local runner with a durable read of its own. Its phase and counters are kept in
    ``pipeline-state.json`` in the data folder (see ``variance.pipelines.progress``).
    """
    from variance.appdb.session import make_engine, migrate
    from variance.pipelines import progress
    from variance.pipelines.runner import is_local, pipeline_options
    from variance.pipelines.sinks import close_writers
    from variance.pipelines.streaming import run_streaming

    _logging()
    # Handlers first: a stop requested while starting must still stop cleanly.
    stopping = threading.Event()

    def _stop(signum, _frame):
        if stopping.is_set():
            return
        stopping.set()
        say(f"stopping ({signal.Signals(signum).name}): draining what is in flight")

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    config = settings()
    state = progress.StateFile(progress.state_path(config.data_dir))
    state.set("starting")
    options = pipeline_options(list(ctx.args), streaming=True)
    local = is_local(options)
    engine = make_engine(config.resolved_database_url)
    migrate(engine)
    engine.dispose()
    if local:
        from variance.pipelines.sources.local_pubsub import Lease

        if not config.uses_emulator and config.google_cloud_project == "variance-local":
            raise CliError("PUBSUB_EMULATOR_HOST is not set: start `variance emulator pubsub` and export it")
        try:
            Lease.of(config).ensure_subscription()
        except Exception as exc:
            raise CliError(f"cannot reach Pub/Sub at {config.pubsub_emulator_host or 'Google Cloud'} ({exc})") from None
    history = initial = None
    if local:
        from variance.pipelines.startup import start_up

        state.set("restoring")
        started_up = start_up(config)
        say(started_up.summary())
        history, initial = started_up.history, started_up.initial
    say(f"streaming from {config.subscription_path} ({'local runner' if local else 'Dataflow'}); Ctrl-C stops")
    result = run_streaming(config, options, history=history, initial=initial)
    state.set("running")
    reporter = progress.Reporter(progress_every, state).start()
    while not stopping.is_set():
        runner_state = str(result.state)
        if "FAILED" in runner_state or "DONE" in runner_state or "CANCELLED" in runner_state:
            reporter.stop()
            close_writers()
            state.set("failed")
            raise CliError(f"the pipeline stopped by itself ({runner_state}); see the log above")
        stopping.wait(0.2)
    state.set("stopping")
    started = time.monotonic()
    handed_back = 0
    try:
        result.cancel()
    finally:
        close_writers()  # flushes buffered rows and acknowledges what became durable
        reporter.stop()
        if local:
            handed_back = Lease.of(config).release()
    state.set("stopped")
    back = f"; {handed_back} messages in flight handed back to Pub/Sub" if handed_back else ""
    say(f"stopped in {time.monotonic() - started:.1f} s{back}")
    sys.stdout.flush()


def _files_then_options(arguments: list[str]) -> tuple[list[str], list[str]]:
    """The files, and Beam's options after them: Click hands the options it does not know
    to the variadic files argument, values and all."""
    for i, argument in enumerate(arguments):
        if argument.startswith("--"):
            return arguments[:i], arguments[i:]
    return arguments, []


def backfill(
    ctx: typer.Context,
    files: list[str] = typer.Argument(
        ..., help="JSON-lines files of Segment calls (.gz too), then Beam's options (--direct_num_workers 2 ...)"
    ),
    connection: str = typer.Option(..., "--connection", help="The connection the calls came through"),
    as_of: str = typer.Option(None, "--as-of", help="Compute milestones as of this time (RFC 3339); default now"),
) -> None:
    """Run the batch backfill over Segment archive files."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from variance.appdb.models import Connection
    from variance.appdb.session import make_engine, migrate, session_factory
    from variance.core.bus import Source
    from variance.core.timeutil import TimestampError, now_micros, parse_timestamp, to_micros
    from variance.pipelines import progress
    from variance.pipelines.backfill import count_lines, run_backfill
    from variance.pipelines.runner import backfill_options, worker_processes
    from variance.pipelines.sinks import close_writers

    _logging()
    config = settings()
    files, beam_args = _files_then_options(files)
    try:
        as_of_us = to_micros(parse_timestamp(as_of)) if as_of else now_micros()
    except TimestampError as exc:
        raise CliError(f"--as-of: {exc}") from None
    engine = make_engine(config.resolved_database_url)
    migrate(engine)
    with session_factory(engine)() as session:
        row = session.get(Connection, connection)
        if row is None:
            raise CliError(f"no connection {connection!r}; list them with `variance connections list --org ORG`")
        source = Source(row.org_id, row.id, row.name)
    engine.dispose()
    if not files:
        raise CliError("give at least one archive file before Beam's options")
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        raise CliError(f"no such file: {missing[0]}")
    total = count_lines(files)
    options = backfill_options([*beam_args, *ctx.args], total)
    workers = worker_processes(options)
    if workers:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    shared = Path(tempfile.mkdtemp(prefix="backfill-progress-", dir=config.data_dir)) if workers else None
    if shared is not None:
        progress.share_with_workers(shared)  # the workers count the lines they parse
        say(f"backfill: {total} lines on {workers} worker processes")
    done = threading.Event()
    outcome: dict = {}

    def _run() -> None:
        try:
            run_backfill(files, source, config, as_of_us, options)
        except Exception as exc:
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=_run, name="backfill")
    started = time.monotonic()
    worker.start()
    with Progress(
        TextColumn("backfill"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} lines"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("backfill", total=total)
        while not done.wait(0.25):
            bar.update(task, completed=progress.combined().get("lines", 0))
        bar.update(task, completed=progress.combined().get("lines", 0))
    worker.join()
    close_writers()
    counts = progress.combined()
    if shared is not None:
        shutil.rmtree(shared, ignore_errors=True)
    if "error" in outcome:
        raise CliError(f"the backfill failed: {outcome['error']}")
    elapsed = time.monotonic() - started
    emit(
        {
            "lines": counts.get("lines", 0),
            **{
                table.value: counts.get(table.value, 0)
                for table in (
                    WarehouseTable.events,
                    WarehouseTable.dead_letters,
                    WarehouseTable.milestone_changes,
                    WarehouseTable.stream_matches,
                )
            },
            "seconds": round(elapsed, 2),
        }
    )
