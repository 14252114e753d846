"""The warehouse sink: rows to the local lake, ack ids acknowledged once the rows appended
before them are durable, and BigQuery chosen by the settings."""

from __future__ import annotations

import apache_beam as beam

from tests.support.beam import batch_pipeline
from variance.core.rows import IdentityLinkRecord
from variance.core.settings import Settings
from variance.core.warehouse import IDENTITY_LINKS
from variance.pipelines.sinks import WriteToLocalWarehouse, close_writers, to_warehouse
from variance.pipelines.sinks.shared import LAKE, shared_writer
from variance.transforms.messages import Ack
from variance.warehouse.bigquery import WriteWarehouseToBigQuery
from variance.warehouse.local import LakeReader, LakeWriter

T0 = 1_714_521_600_000_000


def link(message_id: str) -> tuple[str, dict]:
    return IdentityLinkRecord(
        org_id="org_a",
        anonymous_id=f"anon-{message_id}",
        user_id="u1",
        linked_at=T0,
        message_id=message_id,
        recorded_at=T0,
    ).as_row()


def test_rows_land_in_the_lake_as_written(tmp_path):
    lake = tmp_path / "lake"
    rows = [link("m1"), link("m2")]
    with batch_pipeline() as p:
        p | beam.Create(rows) | beam.ParDo(WriteToLocalWarehouse(str(lake), None, synchronous=True))
    close_writers()
    assert LakeReader(lake).current(IDENTITY_LINKS.name) == [row for _, row in rows]


def test_an_ack_is_acknowledged_only_once_its_rows_are_readable(tmp_path):
    lake = tmp_path / "lake"
    seen: list[tuple[str, set[str]]] = []

    def on_durable(tokens):
        visible = {r["message_id"] for r in LakeReader(lake).current(IDENTITY_LINKS.name)}
        seen.extend((token, visible) for token in tokens)

    shared_writer(LAKE, str(lake), lambda: LakeWriter(lake, on_durable=on_durable, compact_every_s=None))
    elements = [Ack("ack-m1", (link("m1"),)), link("m2"), Ack("ack-m3", (link("m3"),)), Ack("ack-dup")]
    with batch_pipeline() as p:
        p | beam.Create(elements) | beam.ParDo(WriteToLocalWarehouse(str(lake), None, synchronous=True))
    close_writers()
    assert sorted(token for token, _ in seen) == ["ack-dup", "ack-m1", "ack-m3"]
    for token, visible in seen:
        assert token == "ack-dup" or token.removeprefix("ack-") in visible
    assert {r["message_id"] for r in LakeReader(lake).current(IDENTITY_LINKS.name)} == {"m1", "m2", "m3"}


def test_the_settings_choose_bigquery_or_the_lake(tmp_path):
    bigquery = Settings(VARIANCE_WAREHOUSE="bigquery", GOOGLE_CLOUD_PROJECT="acme-prod")
    assert isinstance(to_warehouse(bigquery), WriteWarehouseToBigQuery)
    local = Settings(VARIANCE_DATA_DIR=str(tmp_path))
    lake = to_warehouse(local, synchronous=True, acknowledge=True)
    assert isinstance(lake.fn, WriteToLocalWarehouse)
    assert (lake.fn.lake_dir, lake.fn.settings, lake.fn.synchronous) == (str(local.lake_dir), local, True)
    assert to_warehouse(local).fn.settings is None  # nothing to acknowledge
