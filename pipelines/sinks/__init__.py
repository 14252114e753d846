"""Sinks: the warehouse (local lake or BigQuery), the app database's serving tables, and
Slack, each in a module of its own, and ``WriteSignals``, the one composite that wires
them for streaming and backfill alike. Rows are ``(table, row)`` pairs built by the typed
records of ``variance.core.rows``.
"""

from variance.pipelines.sinks.serving import ServingBuffer, WriteServingTables
from variance.pipelines.sinks.shared import close_writers, flush_writer
from variance.pipelines.sinks.slack import PostToSlack
from variance.pipelines.sinks.warehouse import WriteToLocalWarehouse, to_warehouse
from variance.pipelines.sinks.write_signals import ACKS, DAILY_ACTIVITY, ROWS, WriteSignals

__all__ = [
    "ACKS",
    "DAILY_ACTIVITY",
    "ROWS",
    "PostToSlack",
    "ServingBuffer",
    "WriteServingTables",
    "WriteSignals",
    "WriteToLocalWarehouse",
    "close_writers",
    "flush_writer",
    "to_warehouse",
]
