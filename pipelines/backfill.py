"""The batch backfill: Segment archive files (JSON lines, gzip too) of one connection,
through the same engine and sinks as streaming, as of a given time."""

from __future__ import annotations

import time
from collections.abc import Iterable

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from variance.core.bus import Source
from variance.core.engine.batch import run_batch
from variance.core.engine.engine import dead_letter_row
from variance.core.events import ParseError, parse_archive_line
from variance.core.segment import SpecError, loads_untrusted
from variance.core.settings import Settings
from variance.pipelines import progress
from variance.pipelines.config_source import AppDatabaseConfig
from variance.pipelines.sinks import write_sinks

DEAD = "dead_letters"


class ParseArchiveLineFn(beam.DoFn):
    def __init__(self, source: Source):
        self.source = source

    def process(self, line: str):
        progress.add("lines")
        if not line.strip():
            return
        try:
            call = loads_untrusted(line.encode("utf-8", "surrogatepass"))
            event = parse_archive_line(call, self.source)
        except (SpecError, ParseError) as exc:
            yield beam.pvalue.TaggedOutput(
                DEAD,
                (DEAD, dead_letter_row(self.source.org_id, "parse", str(exc), None, line, time.time_ns() // 1000)),
            )
            return
        yield (event.org_id, event)


class ComputeOrgBatch(beam.DoFn):
    """All of one organisation's events through the engine in event-time order."""

    def __init__(self, config_provider, as_of_us: int, lateness_us: int):
        self.config_provider = config_provider
        self.as_of_us = as_of_us
        self.lateness_us = lateness_us

    def process(self, element) -> Iterable:
        org_id, events = element
        yield from run_batch(self.config_provider(org_id), events, self.as_of_us, self.lateness_us)


def build_backfill(p: beam.Pipeline, files: list[str], source: Source, settings: Settings, as_of_us: int):
    config = AppDatabaseConfig(settings.resolved_database_url, settings.config_refresh_s)
    lateness_us = int(settings.allowed_lateness.total_seconds() * 1_000_000)
    lines = (
        [p | f"Read{i}" >> beam.io.ReadFromText(f) for i, f in enumerate(files)] | "AllFiles" >> beam.Flatten()
        if len(files) > 1
        else p | "Read" >> beam.io.ReadFromText(files[0])
    )
    parsed = lines | "Parse" >> beam.ParDo(ParseArchiveLineFn(source)).with_outputs(DEAD, main="events")
    rows = (
        parsed.events
        | "ByOrganisation" >> beam.GroupByKey()
        | "Engine" >> beam.ParDo(ComputeOrgBatch(config, as_of_us, lateness_us))
    )
    everything = (rows, parsed[DEAD]) | "AllRows" >> beam.Flatten()
    write_sinks(everything, settings, synchronous=True)
    return everything


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
