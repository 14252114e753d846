"""The batch backfill: Segment archive files (JSON lines, gzip too) of one connection,
through the same engine and sinks as streaming, as of a given time."""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from variance.core.bus import Source
from variance.core.events import ParseError, SignalEvent, parse_archive_line
from variance.core.rows import dead_letter
from variance.core.segment import SpecError, loads_untrusted
from variance.core.settings import Settings
from variance.core.vocabulary import Stage
from variance.pipelines import progress
from variance.pipelines.config_source import AppDatabaseConfig
from variance.pipelines.restore import DeletedContactsInForce
from variance.pipelines.runner import is_local
from variance.pipelines.sinks import ROWS, WriteSignals
from variance.transforms.contact_deletion import ExcludeDeletedContacts
from variance.transforms.messages import DEAD_LETTERS, EVENTS
from variance.transforms.signals_batch import ACCOUNT_ROWS, CONTACT_ROWS, ComputeSignalsBatch


@beam.typehints.with_input_types(str)
@beam.typehints.with_output_types(tuple[str, SignalEvent])
class ParseArchiveLineFn(beam.DoFn):
    """A line of a Segment archive -> (org_id, SignalEvent); a bad line -> its dead-letter
    row on ``DEAD_LETTERS``."""

    def __init__(self, source: Source):
        self.source = source

    def process(self, line: str):
        progress.add("lines")  # shared with the command when this runs in a worker process
        if not line.strip():
            return
        try:
            call = loads_untrusted(line.encode("utf-8", "surrogatepass"))
            event = parse_archive_line(call, self.source)
        except (SpecError, ParseError) as exc:
            letter = dead_letter(self.source.org_id, Stage.parse, str(exc), None, line, time.time_ns() // 1000)
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, letter.as_row())
            return
        yield (event.org_id, event)

    def finish_bundle(self):
        progress.flush_shared()


def compute_backfill(events, config_provider, lateness_us: int, as_of_us: int, rows_apart: bool = False) -> dict:
    """(org_id, SignalEvent) -> ``{ROWS: ..., ACTIVITY: ...}`` as of ``as_of_us``: the keyed
    signals grouped per entity (transforms/signals_batch.py), so a backfill spreads over
    workers by entity; nothing is grouped by organisation. ``rows_apart``: the rows as
    ``CONTACT_ROWS`` and ``ACCOUNT_ROWS`` (see ComputeSignalsBatch)."""
    return events | "ComputeSignals" >> ComputeSignalsBatch(
        config_provider, lateness_us, as_of_us, rows_apart=rows_apart
    )


def build_backfill(p: beam.Pipeline, files: list[str], source: Source, settings: Settings, as_of_us: int) -> None:
    config = AppDatabaseConfig(settings.resolved_database_url, settings.config_refresh_s)
    lines = (
        [p | f"Read{i}" >> beam.io.ReadFromText(f) for i, f in enumerate(files)] | "AllFiles" >> beam.Flatten()
        if len(files) > 1
        else p | "Read" >> beam.io.ReadFromText(files[0])
    )
    parsed = lines | "Parse" >> beam.ParDo(ParseArchiveLineFn(source)).with_outputs(DEAD_LETTERS, main=EVENTS)
    lateness_us = int(settings.allowed_lateness.total_seconds() * 1_000_000)
    deleted = DeletedContactsInForce(settings, [source.org_id])
    events = parsed[EVENTS] | "WithoutDeletedContacts" >> ExcludeDeletedContacts(deleted)
    # No daily activity counts: the serving rebuild at the pipeline's next start counts
    # them from the events. No Slack: a backfill posts nothing.
    if is_local(p.options):
        # Written where they are made: FnApiRunner would materialize a Flatten of them.
        computed = compute_backfill(events, config, lateness_us, as_of_us, rows_apart=True)
        parts = {
            "Contacts": computed[CONTACT_ROWS],
            "Accounts": computed[ACCOUNT_ROWS],
            "Letters": parsed[DEAD_LETTERS],
        }
        for name, rows in parts.items():
            {ROWS: rows} | f"WriteSignalsOf{name}" >> WriteSignals(settings, synchronous=True)
        return
    computed = compute_backfill(events, config, lateness_us, as_of_us)
    rows = (computed[ROWS], parsed[DEAD_LETTERS]) | "WarehouseRows" >> beam.Flatten()
    {ROWS: rows} | "WriteSignals" >> WriteSignals(settings, synchronous=True)


def run_backfill(files: list[str], source: Source, settings: Settings, as_of_us: int, options: PipelineOptions):
    p = beam.Pipeline(options=options)
    build_backfill(p, files, source, settings, as_of_us)
    result = p.run()
    result.wait_until_finish()
    return result


def count_lines(files: list[str]) -> int:
    """For the progress bar: a fast pass over the (possibly gzipped) files."""
    import gzip

    total = 0
    for name in files:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(name, "rb") as handle:
            for _ in handle:
                total += 1
    return total
