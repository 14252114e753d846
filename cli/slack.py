"""``variance slack``: the sender that drains the Slack outbox, and token key rotation."""

from __future__ import annotations

import logging
import os
import signal
import threading

import typer

from variance.cli.common import CliError, db_session, say, settings
from variance.core.rows import dead_letter
from variance.core.settings import WarehouseTarget
from variance.core.timeutil import now_micros
from variance.core.vocabulary import Stage
from variance.warehouse import open_writer

app = typer.Typer(help="Slack for streams: the sender, and token key rotation.", no_args_is_help=True)


@app.command("sender")
def sender(
    port: int = typer.Option(None, "--port", help="Serve GET /healthz here (default: $PORT, else none)"),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface for /healthz"),
    once: bool = typer.Option(False, "--once", help="Post what is due, then exit"),
) -> None:
    """Post what the pipeline recorded to Slack (or the local outbox without a token), at
    each channel's rate; SIGTERM or Ctrl-C stops it between two posts."""
    from variance.appdb.session import make_engine, migrate, session_factory
    from variance.slack.sender import Sender

    config = settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = make_engine(config.resolved_database_url)
    migrate(engine)
    writer = _dead_letter_writer(config)
    worker = Sender(config, session_factory(engine), on_dead=writer)
    if config.slack_token and not config.slack_token_org:
        say("warning: VARIANCE_SLACK_TOKEN is set without VARIANCE_SLACK_TOKEN_ORG, so no organisation uses it")
    if once:
        worker.recover()
        report = worker.drain()
        writer.close()
        say(f"posted {report.posted} messages for {report.rows_done} matches ({report.dead} dead letters)")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if port is None and os.environ.get("PORT"):
        port = int(os.environ["PORT"])  # Cloud Run says where to listen
    server = None
    if port is not None:
        from variance.slack.health import serve_health

        try:
            server = serve_health(worker, host, port)
        except OSError as exc:
            raise CliError(f"cannot serve /healthz on {host}:{port} ({exc}); choose another --port") from None
    where = f", /healthz on {host}:{server.server_address[1]}" if server else ""
    say(f"Slack sender started (pid {os.getpid()}{where})")
    try:
        worker.run(stop)
    finally:
        if server is not None:
            server.shutdown()
        writer.close()
        engine.dispose()
        say("Slack sender stopped")


@app.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored bot token with the first key of VARIANCE_TOKEN_ENCRYPTION_KEY."""
    from variance.slack.tokens import TokenKeyError, rotate_all

    try:
        with db_session() as session:
            count = rotate_all(session, settings())
    except TokenKeyError as exc:
        raise CliError(str(exc)) from None
    say(f"re-encrypted {count} bot tokens with the first key")


class _DeadLetterWriter:
    """Slack's dead letters (stage ``slack``) into the warehouse's dead letters, beside the
    pipeline's: the lake takes several writing processes (the pipeline compacts), BigQuery too."""

    def __init__(self, config):

        self._config = config
        self._writer = None
        self._open = open_writer

    def __call__(self, letters: list[dict]) -> None:

        if self._writer is None:
            local = self._config.warehouse != WarehouseTarget.bigquery
            # Locally the pipeline compacts the lake; this writer only adds a file now and
            # then. On BigQuery, Terraform made the tables, and the sender's role (dataEditor
            # on the dataset) may not create the dataset, which creating tables first asks.
            options = {"compact_every_s": None} if local else {"create_tables": False}
            self._writer = self._open(self._config, **options)
        rows = [
            dead_letter(
                letter["org_id"],
                Stage.slack,
                f"posting to Slack failed: {letter['reason']}",
                letter["message_id"],
                letter["payload"],
                now_micros(),
                {"stream_id": letter["stream_id"]},
                key=f"{letter['key']}/{letter['reason']}",
            ).as_row()
            for letter in letters
        ]
        self._writer.append(rows)
        self._writer.flush()  # rare, and worth seeing at once

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _dead_letter_writer(config) -> _DeadLetterWriter:
    return _DeadLetterWriter(config)
