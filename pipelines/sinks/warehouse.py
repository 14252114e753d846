"""The warehouse sink: the rows to the local lake (with the acknowledgements that wait for
them) or to BigQuery."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import apache_beam as beam

from variance.core.vocabulary import WarehouseTable
from variance.core.warehouse import Row
from variance.pipelines import progress
from variance.pipelines.sinks.shared import LAKE, shared_writer
from variance.transforms.messages import Ack

if TYPE_CHECKING:
    from variance.core.settings import Settings
    from variance.warehouse.local import LakeWriter


@beam.typehints.with_input_types(Row | Ack)
class WriteToLocalWarehouse(beam.DoFn):
    """Warehouse rows, ``(table, row)``, to the local lake. An ``Ack`` among them is
    appended as its rows followed by its ack id, which the writer reports (and the
    subscription's ``Lease`` acknowledges) once every row appended before it is durable;
    ``settings`` names that subscription (None: nothing to acknowledge, as in a backfill).
    ``synchronous`` flushes every bundle (batch)."""

    def __init__(self, lake_dir: str, settings: Settings | None = None, synchronous: bool = False):
        self.lake_dir = lake_dir
        self.settings = settings
        self.synchronous = synchronous

    def setup(self):
        self.writer = shared_writer(LAKE, self.lake_dir, self._new_writer)

    def _new_writer(self) -> LakeWriter:
        from variance.pipelines.sinks.lake import StreamingLakeWriter

        on_durable = None
        if self.settings is not None:
            from variance.pipelines.sources.local_pubsub import Lease

            on_durable = Lease.of(self.settings).acknowledge
        return StreamingLakeWriter(Path(self.lake_dir), on_durable=on_durable)

    def start_bundle(self):
        self.rows: list[Row] = []
        self.tokens: list[str] = []

    def process(self, element: Row | Ack):
        if isinstance(element, Ack):
            self.rows.extend(element.rows)
            self.tokens.append(element.ack_id)
        else:
            self.rows.append(element)
        if len(self.rows) >= self.HAND_OVER_ROWS:
            self._hand_over()

    # A batch bundle is a whole stage's input on FnApiRunner: hand rows to the writer as
    # they come rather than holding a million of them until the bundle ends. Order is
    # kept (an ack id still follows its rows), so acknowledgements mean the same.
    HAND_OVER_ROWS = 20_000

    def finish_bundle(self):
        self._hand_over()
        if self.synchronous:
            self.writer.flush()
            progress.flush_shared()  # the rows just counted, for a command in another process

    def _hand_over(self) -> None:
        if self.rows or self.tokens:
            for table, row in self.rows:  # the writer counts rows once they are durable
                if table == WarehouseTable.events:
                    progress.observe_event_time(row["received_at"])
            self.writer.append(self.rows, self.tokens)
        self.rows, self.tokens = [], []


def to_warehouse(settings: Settings, synchronous: bool = False, acknowledge: bool = False) -> beam.PTransform:
    """The transform writing warehouse rows where the settings say. ``acknowledge``: the
    local lake writer acknowledges the ``Ack``s among its input (local streaming)."""
    from variance.core.settings import WarehouseTarget

    if settings.warehouse == WarehouseTarget.bigquery:
        from variance.warehouse.bigquery import WriteWarehouseToBigQuery

        return WriteWarehouseToBigQuery(settings)
    return beam.ParDo(WriteToLocalWarehouse(str(settings.lake_dir), settings if acknowledge else None, synchronous))
