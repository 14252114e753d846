"""``variance emulator pubsub`` and ``variance api``: the long-running local services."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

import typer

from variance.cli.common import CliError, say, settings
from variance.clients.emulator import EmulatorError, port_is_free, start_emulator

emulator_app = typer.Typer(help="Local emulators of cloud services.", no_args_is_help=True)


@emulator_app.command("pubsub")
def pubsub(
    port: int = typer.Option(8085, "--port", help="Port to listen on (127.0.0.1)"),
    log_file: str = typer.Option(None, "--log-file", help="Write the emulator's own log here"),
) -> None:
    """Run Google's Pub/Sub emulator in the foreground until SIGINT/SIGTERM."""
    # Handlers first: a signal that arrives while the emulator starts must still stop it.
    stop = threading.Event()

    def _on_signal(signum, _frame):
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        emulator = start_emulator(port, log_path=Path(log_file) if log_file else None)
    except EmulatorError as exc:
        raise CliError(str(exc)) from None
    say(f"Pub/Sub emulator listening (pid {emulator.pid}); use: export PUBSUB_EMULATOR_HOST={emulator.emulator_host}")
    while not stop.is_set():
        if emulator.process.poll() is not None:
            raise CliError(f"the emulator exited unexpectedly (code {emulator.process.returncode})")
        stop.wait(0.5)
    emulator.stop()
    say("Pub/Sub emulator stopped")


def api(
    port: int = typer.Option(8000, "--port", help="Port to listen on"),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind"),
    migrate: bool = typer.Option(True, help="Upgrade the app database schema before serving"),
    discard_events: bool = typer.Option(
        False, "--discard-events", hidden=True, help="Benchmark reference only: accept events without publishing"
    ),
) -> None:
    """Serve the Segment-compatible ingestion API and the management API."""
    # The server (uvicorn, FastAPI and the routes: over a second to import) only for this
    # command; the CLI otherwise never imports variance.api.
    import uvicorn

    from variance.api.app import DiscardingPublisher, create_app
    from variance.appdb.session import make_engine
    from variance.appdb.session import migrate as run_migrations

    config = settings()
    if not port_is_free(port, host):
        raise CliError(f"port {port} on {host} is already in use; choose another with --port")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if migrate:
        engine = make_engine(config.resolved_database_url)
        run_migrations(engine)
        engine.dispose()
    if discard_events:
        say("WARNING: --discard-events: events are accepted and thrown away (benchmark reference mode)")
    if not config.uses_emulator and config.google_cloud_project == "variance-local":
        say("note: PUBSUB_EMULATOR_HOST is not set, so events go to Google Cloud Pub/Sub")
    app = create_app(config, DiscardingPublisher() if discard_events else None)
    database = config.resolved_database_url.split("@")[-1]  # never print a password
    say(f"Variance API on http://{host}:{port} (pid {os.getpid()}), database {database}")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
