"""Typed rows: one record per warehouse table, checked against the schema, so a wrong
column fails here and not at write time."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from variance.core import rows as typed
from variance.core.rows import (
    DeadLetterRecord,
    IdentityLinkRecord,
    Record,
    SchemaMismatchError,
    WarehouseRecord,
    dead_letter,
)
from variance.core.vocabulary import ServingTable, Stage, WarehouseTable
from variance.core.warehouse import IDENTITY_LINKS, TABLES, invalid_reason


def warehouse_records() -> dict[str, type[WarehouseRecord]]:
    found = [
        value
        for value in vars(typed).values()
        if isinstance(value, type) and issubclass(value, WarehouseRecord) and value is not WarehouseRecord
    ]
    return {record.table.name: record for record in found}


def test_the_schema_defines_every_warehouse_table_of_the_vocabulary():
    assert list(TABLES) == [t.value for t in WarehouseTable]


def test_every_warehouse_table_has_one_record_with_its_columns_in_order():
    records = warehouse_records()
    assert sorted(records) == sorted(TABLES)
    for name, record in records.items():
        assert record.table_name == name
        assert tuple(f.name for f in fields(record)) == TABLES[name].column_names


def test_a_misspelt_or_missing_column_fails_when_the_row_is_built():
    with pytest.raises(TypeError, match="anonymus_id"):
        IdentityLinkRecord(org_id="o", anonymus_id="a", user_id="u", linked_at=1, message_id="m", recorded_at=2)
    with pytest.raises(TypeError, match="recorded_at"):
        IdentityLinkRecord(org_id="o", anonymous_id="a", user_id="u", linked_at=1, message_id="m")


def test_a_record_that_drifts_from_its_table_is_refused_when_defined():
    with pytest.raises(SchemaMismatchError, match="fields"):

        @typed._checked_against(IDENTITY_LINKS)
        @dataclass(kw_only=True)
        class MissingAColumn(WarehouseRecord):
            org_id: str
            anonymous_id: str
            user_id: str
            linked_at: int
            recorded_at: int

    with pytest.raises(SchemaMismatchError, match="linked_at must be `int`"):

        @typed._checked_against(IDENTITY_LINKS)
        @dataclass(kw_only=True)
        class WrongType(WarehouseRecord):
            org_id: str
            anonymous_id: str
            user_id: str
            linked_at: str
            message_id: str
            recorded_at: int

    with pytest.raises(SchemaMismatchError, match="without a default"):

        @typed._checked_against(IDENTITY_LINKS)
        @dataclass(kw_only=True)
        class RequiredWithADefault(WarehouseRecord):
            org_id: str
            anonymous_id: str
            user_id: str | None = None
            linked_at: int
            message_id: str
            recorded_at: int


def test_a_record_gives_the_row_a_sink_takes_and_reads_it_back():
    record = IdentityLinkRecord(org_id="o", anonymous_id="a", user_id="u", linked_at=1, message_id="m", recorded_at=2)
    table, row = record.as_row()
    assert table == WarehouseTable.identity_links.value and type(table) is str
    assert list(row) == list(IDENTITY_LINKS.column_names)
    assert invalid_reason(IDENTITY_LINKS, row) is None
    assert IdentityLinkRecord.from_row(row) == record
    with pytest.raises(TypeError):
        IdentityLinkRecord.from_row({**row, "stray": 1})


def test_dead_letters_have_ids_from_their_inputs_only():
    first = dead_letter("org_a", Stage.parse, "bad", "m1", b"{", 1)
    again = dead_letter("org_a", Stage.parse, "other reason", "m1", b"{", 2)
    assert first.dead_letter_id == again.dead_letter_id
    assert first.stage == "parse" and type(first.stage) is str
    assert dead_letter("org_a", Stage.slack, "x", "m1", {}, 1).dead_letter_id != first.dead_letter_id
    keyed = [dead_letter("org_a", Stage.slack, "x", "m1", {}, 1, key=f"org_a/{s}/m1") for s in ("s1", "s2")]
    assert keyed[0].dead_letter_id != keyed[1].dead_letter_id  # one event, two streams' posts
    assert dead_letter(None, Stage.parse, "x", None, "line", 1).payload == "line"
    assert isinstance(first, DeadLetterRecord)
    assert invalid_reason(TABLES[WarehouseTable.dead_letters.value], first.as_dict()) is None


def test_the_rows_that_are_not_warehouse_tables_say_where_they_go():
    assert typed.ActivityRecord.table_name == typed.ACTIVITY
    assert typed.DailyActivityRecord.table_name == ServingTable.daily_activity.value
    assert issubclass(typed.DailyActivityRecord, Record) and not issubclass(typed.DailyActivityRecord, WarehouseRecord)
