"""WriteSignals: the one composite that wires the sinks, for streaming and backfill alike."""

from __future__ import annotations

from collections.abc import Mapping

import apache_beam as beam
from apache_beam.pvalue import PCollection

from variance.core.settings import Settings, WarehouseTarget
from variance.core.vocabulary import ServingTable
from variance.core.warehouse import Row
from variance.pipelines.sinks.local_sinks import WriteLocally
from variance.pipelines.sinks.serving import WriteServingTables
from variance.pipelines.sinks.slack import PostToSlack
from variance.pipelines.sinks.warehouse import WriteToLocalWarehouse, to_warehouse
from variance.transforms.messages import ACKS, ROWS, Ack

# The inputs WriteSignals takes, by name: ROWS (warehouse rows, required), DAILY_ACTIVITY
# (the daily activity counts' serving rows) and ACKS (``Ack``: messages to acknowledge, each
# with the warehouse rows it produced).
DAILY_ACTIVITY = ServingTable.daily_activity.value
__all__ = ["ACKS", "DAILY_ACTIVITY", "ROWS", "WriteSignals"]


def _rows_of(ack: Ack) -> tuple[Row, ...]:
    return ack.rows


class WriteSignals(beam.PTransform):
    """Everything the pipeline computed, to where it goes:

    - warehouse rows to the warehouse the settings choose (the local lake or BigQuery);
    - warehouse rows and the daily activity counts to the serving tables;
    - current stream matches to the Slack outbox, when a config provider is given
      (streaming; a backfill posts nothing), which ``variance slack sender`` posts;
    - acks (local streaming only) to the lake writer, each with its message's rows, so it
      acknowledges a message only once those rows are durable. Local streaming writes all
      of it in one step (``WriteLocally``).

    Applied to a dict of PCollections keyed by ``ROWS``, ``DAILY_ACTIVITY`` and ``ACKS``.
    """

    def __init__(self, settings: Settings, *, synchronous: bool = False, slack_config=None):
        super().__init__()
        self.settings = settings
        self.synchronous = synchronous
        self.slack_config = slack_config

    def expand(self, signals: Mapping[str, PCollection]) -> PCollection:
        settings = self.settings
        rows, daily, acks = signals[ROWS], signals.get(DAILY_ACTIVITY), signals.get(ACKS)
        local = settings.warehouse != WarehouseTarget.bigquery
        if local and acks is not None:
            return self._write_locally(rows, daily, acks)
        every_row = rows
        if acks is not None:
            acked_rows = acks | "RowsOfAcks" >> beam.FlatMap(_rows_of).with_output_types(Row)
            every_row = (rows, acked_rows) | "EveryRow" >> beam.Flatten()
        served = (every_row, daily) | "ServedRows" >> beam.Flatten() if daily is not None else every_row
        served | "ToServingTables" >> beam.ParDo(WriteServingTables(settings.resolved_database_url, self.synchronous))
        # Acks here are only a local runner's writing to BigQuery, which takes every row;
        # the lake takes acks whole in ``_write_locally``.
        to_write = [every_row]
        if self.slack_config is not None:
            posts = PostToSlack(self.slack_config, settings.resolved_database_url)
            to_write.append(every_row | "ToSlack" >> beam.ParDo(posts))
        into = to_write[0] if len(to_write) == 1 else tuple(to_write) | "ToWrite" >> beam.Flatten()
        label = "ToLocalWarehouse" if local else "ToBigQuery"
        return into | label >> to_warehouse(settings, self.synchronous)

    def _write_locally(self, rows: PCollection, daily: PCollection | None, acks: PCollection) -> PCollection:
        """Local streaming: the same sinks as one step (``WriteLocally`` says why)."""
        settings = self.settings
        url = settings.resolved_database_url
        sinks = WriteLocally(
            WriteToLocalWarehouse(str(settings.lake_dir), settings, self.synchronous),
            WriteServingTables(url, self.synchronous),
            PostToSlack(self.slack_config, url) if self.slack_config is not None else None,
        )
        inputs = (rows, acks) if daily is None else (rows, acks, daily)
        return inputs | "Everything" >> beam.Flatten() | "ToLocalSinks" >> beam.ParDo(sinks)
