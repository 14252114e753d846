"""The Flex Template launcher's program: template parameters -> settings -> a pipeline
submitted to Dataflow, then exit (the launcher waits for this process, not for the job).

Dataflow runs ``python launch.py --pipeline=streaming --events_subscription=... --project=...
--region=... --temp_location=... ...``: our parameters are read here, everything else
is a Beam/Dataflow option. The settings are those of ``core/settings.py``, set the way
every other part reads them, so the pipeline code is the same one ``variance pipeline``
runs; only the waiting loop and the local-runner restore are left out (Dataflow keeps
state across restarts itself).

The database URL is read from Secret Manager at launch (``--database_url_secret``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence

PIPELINES = ("streaming", "backfill")


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description="Variance Flex Template launcher")
    parser.add_argument("--pipeline", choices=PIPELINES, required=True)
    parser.add_argument("--events_subscription", default=None)
    parser.add_argument("--bigquery_dataset", required=True)
    parser.add_argument("--database_url_secret", required=True, help="projects/P/secrets/S/versions/V")
    parser.add_argument("--allowed_lateness", default=None)
    parser.add_argument("--dedupe_window", default=None)
    parser.add_argument("--input", default=None, help="backfill: gs:// file patterns, comma-separated")
    parser.add_argument("--connection", default=None, help="backfill: the connection id")
    parser.add_argument("--as_of", default=None, help="backfill: RFC 3339 time; default now")
    known, beam_args = parser.parse_known_args(list(argv))
    if known.pipeline == "streaming" and not known.events_subscription:
        parser.error("--events_subscription is required for the streaming pipeline")
    if known.pipeline == "backfill" and not (known.input and known.connection):
        parser.error("--input and --connection are required for the backfill")
    if not any(a == "--runner" or a.startswith("--runner=") for a in beam_args):
        beam_args = ["--runner=DataflowRunner", *beam_args]
    return known, beam_args


def read_secret(version: str) -> str:
    """A Secret Manager secret version's value (the launcher's service account reads it)."""
    from google.cloud import secretmanager

    client = secretmanager.SecretManagerServiceClient()
    return client.access_secret_version(name=version).payload.data.decode("utf-8")


def settings_for(known: argparse.Namespace, beam_args: list[str], secret: Callable[[str], str] = read_secret):
    from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions

    from variance.core.settings import Settings

    project = PipelineOptions(beam_args).view_as(GoogleCloudOptions).project
    values = {
        "GOOGLE_CLOUD_PROJECT": project,
        "VARIANCE_WAREHOUSE": "bigquery",
        "VARIANCE_BIGQUERY_DATASET": known.bigquery_dataset,
        "VARIANCE_DATABASE_URL": secret(known.database_url_secret),
    }
    if known.events_subscription:
        values["VARIANCE_EVENTS_SUBSCRIPTION"] = known.events_subscription
    if known.allowed_lateness:
        values["VARIANCE_ALLOWED_LATENESS"] = known.allowed_lateness
    if known.dedupe_window:
        values["VARIANCE_DEDUPE_WINDOW"] = known.dedupe_window
    return Settings(**values)


def connection_source(settings, connection_id: str):
    """The backfill's Source: the connection's organisation and name, from the app database."""
    from variance.appdb.models import Connection
    from variance.appdb.session import make_engine, session_factory
    from variance.core.bus import Source

    engine = make_engine(settings.resolved_database_url)
    try:
        with session_factory(engine)() as session:
            row = session.get(Connection, connection_id)
            if row is None:
                raise SystemExit(f"no connection {connection_id!r} in the app database")
            return Source(row.org_id, row.id, row.name)
    finally:
        engine.dispose()


def build(argv: Sequence[str], *, secret: Callable[[str], str] = read_secret, source_of=connection_source):
    """The pipeline object for these template parameters, built but not run."""
    import apache_beam as beam

    from variance.pipelines.runner import is_local, pipeline_options

    known, beam_args = parse(argv)
    streaming = known.pipeline == "streaming"
    options = pipeline_options(beam_args, streaming=streaming)
    if is_local(options):
        raise SystemExit("launch.py builds Dataflow jobs; use `variance pipeline` or `variance backfill` locally")
    settings = settings_for(known, beam_args, secret)
    p = beam.Pipeline(options=options)
    if streaming:
        from variance.pipelines.streaming import _read_messages, build_signals

        build_signals(p, _read_messages(p, settings, local=False), settings, local=False)
    else:
        from variance.core.timeutil import now_micros, parse_timestamp, to_micros
        from variance.pipelines.backfill import build_backfill

        as_of_us = to_micros(parse_timestamp(known.as_of)) if known.as_of else now_micros()
        files = [f.strip() for f in known.input.split(",") if f.strip()]
        build_backfill(p, files, source_of(settings, known.connection), settings, as_of_us)
    return p


def main(argv: Sequence[str] | None = None) -> None:
    import sys

    logging.basicConfig(level=logging.INFO)
    pipeline = build(sys.argv[1:] if argv is None else argv)
    result = pipeline.run()  # submits the job; the launcher must not wait for it to finish
    logging.info("submitted: %s", getattr(result, "job_id", lambda: "?")())


if __name__ == "__main__":
    main()
