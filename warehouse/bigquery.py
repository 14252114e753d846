"""The warehouse on BigQuery: the same tables, from the one definition in ``core/warehouse.py``.

Schemas come in the three shapes their users want (``google.cloud.bigquery.SchemaField``
for the client, Beam's ``TableSchema``, and the JSON schema that ``bq`` and Terraform
read), each table partitioned by day on ``partition_by`` and clustered on ``cluster_by``.

Rows are written by streaming inserts whose insert id is the row's key
(``row_key``), so BigQuery drops a re-sent row it has seen in the last minute or so
(best effort); dbt's newest-per-key staging models remove the rest.

Why not ``WriteToBigQuery`` itself: in Beam 2.77 its streaming-inserts path
(``_StreamToBigQuery.expand``) always runs ``InsertIdPrefixFn``, which sets each row's
insert id to ``<uuid4 per bundle>-<counter>``; the only choice it offers is
``ignore_insert_ids=True`` (no ids at all). Those ids are stable across Beam's own
retries of a bundle (they are committed by a reshuffle) but not across a re-sent Pub/Sub
message or a replay, which is what the row keys are for. So ``WriteTableToBigQuery``
uses the DoFn that ``WriteToBigQuery`` runs after that step, ``BigQueryWriteFn``, fed
with ``(table, (row, row_key))``: the same table creation (schema, partitioning,
clustering through ``additional_bq_parameters``), batching, retry strategy and
failed-row outputs, with our insert ids. ``BigQueryWriteFn`` is not in
``bigquery.__all__``; ``setup.py`` pins Beam to 2.77.x, and the tests check the calls it
makes against a local fake of the BigQuery API.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, BigQueryWriteFn
from apache_beam.io.gcp.bigquery_tools import RetryStrategy, parse_table_schema_from_json
from apache_beam.io.gcp.internal.clients.bigquery import TableSchema
from google.cloud import bigquery

from variance.core.timeutil import format_timestamp, to_micros
from variance.core.warehouse import DEAD_LETTERS, TABLES, Table, row_key
from variance.warehouse import BufferedWriter, OnDurable, invalid_reason, rejected_row, table_of

if TYPE_CHECKING:
    from variance.core.settings import Settings

log = logging.getLogger(__name__)

# WriteTableToBigQuery's outputs: the raw failures, and their dead-letter rows (DEAD_LETTERS.name).
FAILED_ROWS = "failed_rows"

# Errors BigQuery will give again however often a row is re-sent (Beam's own list).
PERMANENT_REASONS = frozenset(RetryStrategy._NON_TRANSIENT_ERRORS)


def _spec(table: Table | str) -> Table:
    return table_of(table) if isinstance(table, str) else table


def json_schema(table: Table | str) -> list[dict]:
    """The table's schema as BigQuery's JSON schema (``bq mk --schema``, Terraform)."""
    return [
        {
            "name": c.name,
            "type": c.type,
            "mode": "REQUIRED" if c.required else "NULLABLE",
            **({"description": c.description} if c.description else {}),
        }
        for c in _spec(table).columns
    ]


def bigquery_schema(table: Table | str) -> list[bigquery.SchemaField]:
    """The table's schema for the google-cloud-bigquery client."""
    return [bigquery.SchemaField.from_api_repr(field) for field in json_schema(table)]


def beam_table_schema(table: Table | str) -> TableSchema:
    """The table's schema as Beam's ``TableSchema``."""
    return parse_table_schema_from_json(json.dumps({"fields": json_schema(table)}))


def table_options(table: Table | str) -> dict:
    """Partitioning by day on ``partition_by`` and clustering on ``cluster_by``, in the
    REST API's shape (Beam's ``additional_bq_parameters``)."""
    spec = _spec(table)
    return {
        "timePartitioning": {"type": "DAY", "field": spec.partition_by},
        "clustering": {"fields": list(spec.cluster_by)},
    }


def bigquery_table(table: Table | str, project: str, dataset: str) -> bigquery.Table:
    """The full table definition for ``Client.create_table``."""
    spec = _spec(table)
    created = bigquery.Table(f"{project}.{dataset}.{spec.name}", schema=bigquery_schema(spec))
    created.description = spec.description
    created.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field=spec.partition_by
    )
    created.clustering_fields = list(spec.cluster_by)
    return created


def to_bigquery_row(table: Table | str, row: dict) -> dict:
    """A row in the pipeline's format as insertAll takes it: TIMESTAMP as RFC 3339 in UTC,
    JSON as its text (BigQuery parses a JSON column's string), nulls left out."""
    spec = _spec(table)
    out = {}
    for column in spec.columns:
        value = row.get(column.name)
        if value is None:
            continue
        out[column.name] = format_timestamp(value) if column.type == "TIMESTAMP" else value
    return out


def _from_bigquery_value(type_: str, value: Any) -> Any:
    """A value the client read back, in the pipeline's row format."""
    if value is None:
        return None
    if type_ == "TIMESTAMP":
        return to_micros(value) if isinstance(value, datetime) else value
    if type_ == "JSON" and not isinstance(value, str):
        return json.dumps(value, separators=(",", ":"))
    return value


def _first_reason(errors: list[dict]) -> str:
    first = errors[0] if errors else {}
    return str(first.get("reason") or "unknown")


# -- Beam ----------------------------------------------------------------------------------


class _ToInsert(beam.DoFn):
    """(destination, (insertAll row, insert id)) for a row in the pipeline's format; an
    invalid row goes to dead letters at once."""

    INVALID = "invalid"

    def __init__(self, table: str, destination: str):
        self.table = table
        self.destination = destination

    def process(self, row: dict):
        spec = TABLES[self.table]
        reason = invalid_reason(spec, row)
        if reason is not None:
            yield beam.pvalue.TaggedOutput(self.INVALID, rejected_row(self.table, row, reason))
            return
        yield self.destination, (to_bigquery_row(spec, row), row_key(spec, row))


def _failed_to_dead_letter(table: str):
    def convert(failed: tuple) -> dict:
        _destination, row, errors = failed
        messages = "; ".join(str(e.get("message") or e.get("reason")) for e in errors or [])
        return rejected_row(table, row, f"BigQuery rejected the row ({_first_reason(errors or [])}): {messages}")

    return convert


class WriteTableToBigQuery(beam.PTransform):
    """One table's rows (dicts in the pipeline's format) to BigQuery by streaming inserts,
    each with its row key as the insert id. Creates the table if needed, partitioned and
    clustered. Transient errors are retried; rows BigQuery rejects for good come out as
    ``dead_letters`` rows (``result["dead_letters"]``), with the raw failures in
    ``result["failed_rows"]`` as ``(destination, row, errors)``."""

    def __init__(
        self,
        table: str,
        project: str,
        dataset: str,
        *,
        batch_size: int = 500,
        test_client: Any = None,
        max_retries: int = 10_000,
    ):
        super().__init__()
        self.table = _spec(table).name
        self.project = project
        self.dataset = dataset
        self.batch_size = batch_size
        self.test_client = test_client
        self.max_retries = max_retries

    @property
    def destination(self) -> str:
        return f"{self.project}:{self.dataset}.{self.table}"

    def expand(self, rows):
        requests = rows | "ToInsertRequests" >> beam.ParDo(_ToInsert(self.table, self.destination)).with_outputs(
            _ToInsert.INVALID, main="requests"
        )
        write = BigQueryWriteFn(
            batch_size=self.batch_size,
            schema={"fields": json_schema(self.table)},
            create_disposition=BigQueryDisposition.CREATE_IF_NEEDED,
            write_disposition=BigQueryDisposition.WRITE_APPEND,
            test_client=self.test_client,
            retry_strategy=RetryStrategy.RETRY_ON_TRANSIENT_ERROR,
            additional_bq_parameters=table_options(self.table),
            ignore_insert_ids=False,
            with_batched_input=False,
            max_retries=self.max_retries,
        )
        written = requests.requests | "StreamingInserts" >> beam.ParDo(write).with_outputs(
            BigQueryWriteFn.FAILED_ROWS, BigQueryWriteFn.FAILED_ROWS_WITH_ERRORS, main="written"
        )
        failed = written[BigQueryWriteFn.FAILED_ROWS_WITH_ERRORS]
        rejected = failed | "FailedToDeadLetters" >> beam.Map(_failed_to_dead_letter(self.table))
        dead_letters = (requests[_ToInsert.INVALID], rejected) | "DeadLetters" >> beam.Flatten()
        return {FAILED_ROWS: failed, DEAD_LETTERS.name: dead_letters}


def write_to_bigquery(table: str, project: str, dataset: str, **options: Any) -> WriteTableToBigQuery:
    """The Beam transform writing one table's rows to ``project:dataset.table``."""
    return WriteTableToBigQuery(table, project, dataset, **options)


class _Route(beam.DoFn):
    """``(table, row)`` to the output named after the table; anything else (ack ids,
    serving-only rows) is not the warehouse's and is dropped."""

    def process(self, element):
        table, row = element
        if table in TABLES:
            yield beam.pvalue.TaggedOutput(table, row)


class WriteWarehouseToBigQuery(beam.PTransform):
    """Every warehouse row of the pipeline, ``(table, row)``, to its BigQuery table; rows
    BigQuery rejects land in ``dead_letters`` (whose own failures are logged by Beam)."""

    def __init__(self, settings: Settings, *, test_client: Any = None, batch_size: int = 500):
        super().__init__()
        self.project = settings.google_cloud_project
        self.dataset = settings.bigquery_dataset
        self.test_client = test_client
        self.batch_size = batch_size

    def _writer(self, table: str) -> WriteTableToBigQuery:
        return WriteTableToBigQuery(
            table, self.project, self.dataset, test_client=self.test_client, batch_size=self.batch_size
        )

    def expand(self, rows):
        routed = rows | "ByTable" >> beam.ParDo(_Route()).with_outputs(*TABLES)
        letters = []
        for name in TABLES:
            if name == DEAD_LETTERS.name:
                continue
            result = routed[name] | f"Write_{name}" >> self._writer(name)
            letters.append(result[DEAD_LETTERS.name])
        all_letters = (routed[DEAD_LETTERS.name], *letters) | "AllDeadLetters" >> beam.Flatten()
        return all_letters | f"Write_{DEAD_LETTERS.name}" >> self._writer(DEAD_LETTERS.name)


# -- outside Beam ----------------------------------------------------------------------------


class BigQueryWriter(BufferedWriter):
    """The ``WarehouseWriter`` on BigQuery for processes outside Beam (or on Beam's local
    runner): buffered streaming inserts with the row key as insert id; tokens are
    reported once every row before them is inserted or, rejected for good, written to
    ``dead_letters``. A transient failure keeps the rows buffered for the next flush."""

    def __init__(
        self,
        client: bigquery.Client,
        dataset: str,
        *,
        project: str | None = None,
        flush_rows: int = 500,
        flush_seconds: float = 0.5,
        on_durable: OnDurable | None = None,
        create_tables: bool = True,
        request_timeout_s: float = 30.0,
    ):
        self.client = client
        self.project = project or client.project
        self.dataset = dataset
        self.request_timeout_s = request_timeout_s
        if create_tables:
            self.create_tables()
        super().__init__(
            flush_rows=flush_rows, flush_seconds=flush_seconds, on_durable=on_durable, thread_name="bigquery-writer"
        )

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> BigQueryWriter:
        client = bigquery.Client(project=settings.google_cloud_project)
        return cls(client, settings.bigquery_dataset, **options)

    def create_tables(self) -> None:
        """Create the dataset and every table that does not exist yet."""
        self.client.create_dataset(f"{self.project}.{self.dataset}", exists_ok=True, timeout=self.request_timeout_s)
        for name in TABLES:
            self.client.create_table(
                bigquery_table(name, self.project, self.dataset), exists_ok=True, timeout=self.request_timeout_s
            )

    def _failure_advice(self) -> str:
        return (
            f"check access to BigQuery dataset {self.project}.{self.dataset}; the rows stay buffered and are "
            "retried, and their Pub/Sub messages are not acknowledged until they are written"
        )

    def _insert(self, table: str, rows: list[dict]) -> list[tuple[int, list[dict]]]:
        """insertAll in chunks; returns (index, errors) of the rows that failed."""
        spec = TABLES[table]
        failed = []
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            errors = self.client.insert_rows_json(
                f"{self.project}.{self.dataset}.{table}",
                [to_bigquery_row(spec, row) for row in chunk],
                row_ids=[row_key(spec, row) for row in chunk],
                skip_invalid_rows=True,
                ignore_unknown_values=False,
                timeout=self.request_timeout_s,
            )
            failed.extend((start + e["index"], e.get("errors") or []) for e in errors)
        return failed

    def _write_rows(self, table: str, rows: list[dict]) -> list[dict]:
        spec = TABLES[table]
        letters, valid = [], []
        for row in rows:
            reason = invalid_reason(spec, row)
            if reason is None:
                valid.append(row)
            else:
                letters.append(rejected_row(table, row, reason))
        retry = []
        for index, errors in self._insert(table, valid):
            if _first_reason(errors) in PERMANENT_REASONS:
                messages = "; ".join(str(e.get("message") or e.get("reason")) for e in errors)
                letters.append(rejected_row(table, valid[index], f"BigQuery rejected the row: {messages}"))
            else:
                retry.append(valid[index])
        if letters:
            for row in letters:
                log.warning("a %s row goes to dead_letters: %s", table, row["reason"])
            lost = self._insert(DEAD_LETTERS.name, letters)
            if lost:  # dead letters have stable ids: sending the rows again is harmless
                raise RuntimeError(f"{len(lost)} dead letters for {table} were not inserted: {lost[0][1]}")
        return retry


class BigQueryReader:
    """The ``WarehouseReader`` on BigQuery. ``where`` and ``sql`` are GoogleSQL, table
    names qualified as ``dataset.table``; ``params`` become named ``@parameters``."""

    def __init__(self, client: bigquery.Client, dataset: str, *, project: str | None = None):
        self.client = client
        self.project = project or client.project
        self.dataset = dataset

    @classmethod
    def from_settings(cls, settings: Settings) -> BigQueryReader:
        return cls(bigquery.Client(project=settings.google_cloud_project), settings.bigquery_dataset)

    def current_sql(self, table: str, where: str | None = None, order_by: str | None = None) -> str:
        """The newest row per key (greatest ``recorded_at``) of ``table``."""
        spec = table_of(table)
        key = ", ".join(f"`{k}`" for k in spec.key)
        return (
            f"select * except (_rank) from (select *, row_number() over (partition by {key} "
            f"order by recorded_at desc) as _rank from `{self.project}.{self.dataset}.{spec.name}`"
            + (f" where {where}" if where else "")
            + f") where _rank = 1 order by {order_by or key}"
        )

    def iter_current(
        self,
        table: str,
        where: str | None = None,
        params: dict | None = None,
        batch_rows: int = 50_000,
        order_by: str | None = None,
    ) -> Iterator[dict]:
        spec = table_of(table)
        types = {c.name: c.type for c in spec.columns}
        rows = self._rows(self.current_sql(table, where, order_by), params, batch_rows)
        for row in rows:
            yield {name: _from_bigquery_value(types[name], row.get(name)) for name in spec.column_names}

    def current(
        self, table: str, where: str | None = None, params: dict | None = None, order_by: str | None = None
    ) -> list[dict]:
        return list(self.iter_current(table, where, params, order_by=order_by))

    def query(self, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        result = self._rows(sql, params)
        rows = [tuple(row.values()) for row in result]
        return [field.name for field in result.schema], rows

    def _rows(self, sql: str, params: dict | None, page_size: int | None = None):
        config = bigquery.QueryJobConfig(query_parameters=list(_parameters(params or {})))
        return self.client.query_and_wait(sql, job_config=config, page_size=page_size)


def _parameters(params: dict) -> Iterable[bigquery.ScalarQueryParameter]:
    types = {bool: "BOOL", int: "INT64", float: "FLOAT64", str: "STRING", datetime: "TIMESTAMP"}
    for name, value in params.items():
        yield bigquery.ScalarQueryParameter(name, types.get(type(value), "STRING"), value)
