"""Terraform's BigQuery tables are generated from core/warehouse.py; these tests fail
when the generated file and the core differ (regenerate with
``.venv/bin/python infra/generate_terraform.py``)."""

from __future__ import annotations

import dataclasses

from tests.support.infra import load_infra_module
from variance.core import bus
from variance.core.vocabulary import WarehouseTable
from variance.core.warehouse import TABLES


def _generator():
    return load_infra_module("generate_terraform.py", "infra_generate_terraform")


def test_generated_file_is_up_to_date():
    assert _generator().main(["--check"]) == 0


def test_terraform_tables_match_the_core(terraform):
    tables = terraform.locals["warehouse_tables"]
    assert set(tables) == set(TABLES)
    for name, table in TABLES.items():
        tf = tables[name]
        assert tf["description"] == table.description
        assert tf["partition_by"] == table.partition_by
        assert tf["cluster_by"] == list(table.cluster_by)
        assert tf["key"] == list(table.key)
        expected = [
            {
                "name": c.name,
                "type": c.type,
                "mode": "REQUIRED" if c.required else "NULLABLE",
                **({"description": c.description} if c.description else {}),
            }
            for c in table.columns
        ]
        assert tf["schema"] == expected, name


def test_terraform_schema_is_what_the_bigquery_writer_sends(terraform):
    from variance.warehouse.bigquery import json_schema, table_options

    for name in TABLES:
        tf = terraform.locals["warehouse_tables"][name]
        assert tf["schema"] == json_schema(name)
        assert table_options(name)["timePartitioning"]["field"] == tf["partition_by"]


def test_event_time_attribute_is_the_bus_contract(terraform):
    assert terraform.locals["bus_event_time_attribute"] == bus.EVENT_TIME


def test_a_change_in_the_core_makes_the_file_stale(monkeypatch):
    import variance.core.warehouse as warehouse

    events = warehouse.TABLES[WarehouseTable.events]
    extra = dataclasses.replace(events.columns[0], name="new_column", required=False)
    changed = dataclasses.replace(events, columns=(*events.columns, extra))
    monkeypatch.setitem(warehouse.TABLES, WarehouseTable.events, changed)
    assert _generator().main(["--check"]) == 1


def test_tables_use_the_generated_locals(terraform):
    table = terraform.resource("google_bigquery_table.warehouse")
    assert table["for_each"] == "${local.warehouse_tables}"
    assert table["schema"] == "${jsonencode(each.value.schema)}"
    assert table["time_partitioning"][0] == {"type": "DAY", "field": "${each.value.partition_by}"}
    assert table["clustering"] == "${each.value.cluster_by}"
    assert table["table_constraints"][0]["primary_key"][0]["columns"] == "${each.value.key}"
    assert table["deletion_protection"] is True
