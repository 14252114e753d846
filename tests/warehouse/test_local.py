"""The local lake: durable appends acknowledged in order, the newest row per key, compaction
under concurrent readers, and a read-only SQL surface."""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from variance.core.warehouse import CONTACTS, DEAD_LETTERS, EVENTS, MILESTONE_CHANGES, STREAM_MATCHES, TABLES, row_key
from variance.warehouse import UnknownTableError, WarehouseWriteError
from variance.warehouse.local import (
    LakeQueryError,
    LakeReader,
    LakeWriter,
    arrow_schema,
    compact,
    compaction_held_off,
    lake_files,
)

T0 = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z
SEC = 1_000_000


def change(change_id: str, *, status: str = "current", recorded_at: int = T0, count: int = 3, org: str = "org_a"):
    return (
        MILESTONE_CHANGES.name,
        {
            "org_id": org,
            "change_id": change_id,
            "milestone_id": "mil_pql",
            "milestone_version": 1,
            "milestone_name": "PQL",
            "entity_type": "account",
            "entity_id": "acc_1",
            "kind": "achieved",
            "changed_at": T0 + 5 * SEC,
            "count": count,
            "status": status,
            "source": "streaming",
            "recorded_at": recorded_at,
        },
    )


def event(message_id: str, *, recorded_at: int = T0, account: str | None = "acc_1", **columns):
    row = {
        "org_id": "org_a",
        "message_id": message_id,
        "connection_id": "con_web",
        "connection_name": "web",
        "type": "track",
        "kind": "Action",
        "name": "Invited User",
        "event_time": T0 + SEC,
        "received_at": T0 + 2 * SEC,
        "user_id": "u1",
        "account_id": account,
        "properties": json.dumps({"role": "admin"}),
        "raw": json.dumps({"type": "track", "messageId": message_id}),
        "recorded_at": recorded_at,
    }
    row.update(columns)
    return (EVENTS.name, row)


@pytest.fixture
def lake(tmp_path):
    return tmp_path / "lake"


@pytest.fixture
def writer(lake):
    """A writer that flushes only when told, and never compacts by itself."""
    w = LakeWriter(lake, flush_seconds=3600, compact_every_s=None)
    yield w
    w.close()


def statuses(reader: LakeReader) -> dict[str, tuple[str, int]]:
    return {r["change_id"]: (r["status"], r["count"]) for r in reader.current(MILESTONE_CHANGES.name)}


def test_arrow_schema_follows_the_warehouse_definition():
    schema = arrow_schema(STREAM_MATCHES.name)
    assert [(f.name, str(f.type), f.nullable) for f in schema] == [
        ("org_id", "string", False),
        ("stream_id", "string", False),
        ("message_id", "string", False),
        ("event_time", "timestamp[us, tz=UTC]", False),
        ("kind", "string", False),
        ("name", "string", True),
        ("contact_id", "string", True),
        ("account_id", "string", True),
        ("matched_by", "string", False),
        ("status", "string", False),
        ("recorded_at", "timestamp[us, tz=UTC]", False),
    ]
    assert arrow_schema(EVENTS.name).field("properties").metadata == {b"variance_type": b"JSON"}


def test_rows_read_back_exactly_as_written_with_left_out_columns_null(lake, writer):
    _, row = event("m1", properties=json.dumps({"plan": "pro", "seats": 3}))
    writer.append([(EVENTS.name, row)])
    writer.flush()

    [back] = LakeReader(lake).current(EVENTS.name)

    assert back == {name: row.get(name) for name in TABLES[EVENTS.name].column_names}
    assert (back["anonymous_id"], back["traits"], back["context"]) == (None, None, None)


def test_tokens_are_reported_after_their_rows_are_readable_and_in_order(lake):
    seen: list[tuple[list[str], set[str]]] = []

    def on_durable(tokens):
        visible = {r["message_id"] for r in LakeReader(lake).current(EVENTS.name)}
        seen.append((list(tokens), visible))

    writer = LakeWriter(lake, flush_seconds=0.05, on_durable=on_durable, compact_every_s=None)
    for i in range(6):
        writer.append([event(f"m{i}")], tokens=[f"ack{i}"])
        time.sleep(0.03)
    writer.close()

    assert [t for tokens, _ in seen for t in tokens] == [f"ack{i}" for i in range(6)]
    for tokens, visible in seen:
        assert {"m" + t[3:] for t in tokens} <= visible
    assert not [n for n in os.listdir(lake / EVENTS.name) if n.startswith(".") and n.endswith(".tmp")]


def test_a_full_buffer_flushes_without_waiting_for_the_timer(lake):
    acked = threading.Event()
    writer = LakeWriter(lake, flush_rows=3, flush_seconds=3600, on_durable=lambda t: acked.set(), compact_every_s=None)
    writer.append([event("m1"), event("m2")], tokens=["a"])
    assert not acked.wait(0.3)
    writer.append([event("m3")])
    assert acked.wait(5)
    assert len(LakeReader(lake).current(EVENTS.name)) == 3
    writer.close()


def test_tokens_without_rows_are_reported_once_earlier_rows_are_durable(lake):
    reported = []
    writer = LakeWriter(lake, flush_seconds=3600, on_durable=reported.append, compact_every_s=None)
    writer.append([event("m1")], tokens=["a1"])
    writer.append([], tokens=["a2"])
    writer.flush()
    writer.close()
    assert reported == [["a1", "a2"]]


def test_a_failed_write_keeps_rows_and_tokens_until_a_later_flush_succeeds(lake, caplog):
    reported = []
    writer = LakeWriter(lake, flush_seconds=3600, on_durable=reported.append, compact_every_s=None)
    lake.mkdir(parents=True)
    (lake / EVENTS.name).write_text("not a folder")  # writing events fails
    writer.append([change("c1"), event("m1")], tokens=["a1"])

    with caplog.at_level(logging.ERROR), pytest.raises(WarehouseWriteError, match="1 rows are not durable yet"):
        writer.flush()

    assert reported == []
    assert "writing 1 events rows to the warehouse failed" in caplog.text
    assert "check free disk space and write permission" in caplog.text
    assert len(LakeReader(lake).current(MILESTONE_CHANGES.name)) == 1  # the table that could be written was

    writer.append([event("m2")], tokens=["a2"])
    (lake / EVENTS.name).unlink()
    writer.flush()
    writer.close()

    assert reported == [["a1", "a2"]]
    assert [r["message_id"] for r in LakeReader(lake).current(EVENTS.name)] == ["m1", "m2"]


def test_close_reports_rows_it_could_not_write(lake):
    reported = []
    writer = LakeWriter(lake, flush_seconds=3600, on_durable=reported.append, compact_every_s=None)
    lake.mkdir(parents=True)
    (lake / EVENTS.name).write_text("not a folder")
    writer.append([event("m1")], tokens=["a1"])
    with pytest.raises(WarehouseWriteError):
        writer.close()
    assert reported == []
    with pytest.raises(RuntimeError, match="closed"):
        writer.append([event("m2")])


def test_an_unknown_table_is_refused_and_nothing_is_buffered(writer):
    with pytest.raises(UnknownTableError, match="unknown warehouse table 'nope'"):
        writer.append([event("m1"), ("nope", {})], tokens=["a"])
    assert writer.pending_rows == 0


def test_rows_that_cannot_be_written_become_dead_letters(lake, writer):
    reported = []
    writer.on_durable = reported.append
    _, good = event("m_ok")
    _, no_org = event("m_no_org", org_id=None)
    _, bad_time = event("m_bad_time", event_time="2024-05-01")
    _, bad_json = event("m_bad_json", properties="{not json")
    _, extra = event("m_extra", colour="red")
    writer.append([(EVENTS.name, r) for r in (good, no_org, bad_time, bad_json, extra)], tokens=["a"])
    writer.flush()

    reader = LakeReader(lake)
    assert [r["message_id"] for r in reader.current(EVENTS.name)] == ["m_ok"]
    letters = {r["message_id"]: r for r in reader.current(DEAD_LETTERS.name)}
    assert {m: (r["stage"], r["reason"]) for m, r in letters.items()} == {
        "m_extra": ("warehouse", "events: unknown columns ['colour']"),
        "m_no_org": ("warehouse", "events: column org_id is required"),
        "m_bad_time": ("warehouse", "events: column event_time (TIMESTAMP) got str"),
        "m_bad_json": (
            "warehouse",
            "events: column properties is not valid JSON (unexpected character, expected a string key: line 1 column 2 (char 1))",
        ),
    }
    assert json.loads(letters["m_bad_time"]["payload"]) == {"table": EVENTS.name, "row": bad_time}
    assert reported == [["a"]]


def test_the_newest_row_per_key_wins_so_retractions_and_rewrites_resolve(lake, writer):
    writer.append([change("c1", recorded_at=T0 + 1), change("c2", recorded_at=T0 + 1)])
    writer.flush()
    # an out-of-order event: c1 is retracted, c3 replaces it; c2 is written again (a replay)
    writer.append([change("c1", status="retracted", recorded_at=T0 + 2), change("c3", recorded_at=T0 + 2)])
    writer.append([change("c2", recorded_at=T0 + 1)])
    writer.flush()
    # a late copy of an older row loses to the newer one already there
    writer.append([change("c1", status="current", recorded_at=T0)])
    writer.flush()

    reader = LakeReader(lake)
    assert statuses(reader) == {"c1": ("retracted", 3), "c2": ("current", 3), "c3": ("current", 3)}
    assert reader.query("select count(*) from milestone_changes where status = 'current'") == (["count_star()"], [(2,)])


def test_equal_recorded_at_the_later_written_row_wins(lake, writer):
    writer.append([change("c1", count=1), change("c1", count=2)])  # one file: the later row
    writer.flush()
    assert statuses(LakeReader(lake)) == {"c1": ("current", 2)}
    writer.append([change("c1", status="retracted", count=3)])  # a later file
    writer.flush()
    assert statuses(LakeReader(lake)) == {"c1": ("retracted", 3)}


def test_empty_tables_are_queryable_with_their_columns(lake):
    reader = LakeReader(lake)
    _, rows = reader.query("describe stream_matches")
    assert [(r[0], r[1]) for r in rows] == [
        ("org_id", "VARCHAR"),
        ("stream_id", "VARCHAR"),
        ("message_id", "VARCHAR"),
        ("event_time", "TIMESTAMP WITH TIME ZONE"),
        ("kind", "VARCHAR"),
        ("name", "VARCHAR"),
        ("contact_id", "VARCHAR"),
        ("account_id", "VARCHAR"),
        ("matched_by", "VARCHAR"),
        ("status", "VARCHAR"),
        ("recorded_at", "TIMESTAMP WITH TIME ZONE"),
    ]
    assert reader.query("select * from events") == (list(TABLES[EVENTS.name].column_names), [])
    assert reader.counts() == dict.fromkeys(TABLES, 0)
    assert reader.current(CONTACTS.name) == []


def test_json_columns_are_json_in_sql(lake, writer):
    writer.append([event("m1", properties=json.dumps({"role": "admin", "n": 2})), event("m2")])
    writer.flush()
    assert LakeReader(lake).query(
        "select message_id, properties->>'role', cast(properties->'n' as int) from events order by 1"
    ) == (
        ["message_id", "(properties ->> 'role')", "CAST((properties -> 'n') AS INTEGER)"],
        [("m1", "admin", 2), ("m2", "admin", None)],
    )


@pytest.mark.parametrize(
    "sql, message",
    [
        ("insert into events (org_id) values ('x')", "not INSERT"),
        ("copy (select 1) to 'out.csv'", "not COPY"),
        ("create table t as select 1", "not CREATE"),
        ("attach 'other.duckdb'", "not ATTACH"),
        ("set threads = 1", "not SET"),
        ("pragma version", "not PRAGMA"),
        ("explain analyze copy (select 1) to 'out.csv'", "not COPY"),
        ("select 1; drop view events", "give exactly one statement, got 2"),
        ("selec 1", 'Parser Error: syntax error at or near "selec"'),
    ],
)
def test_sql_that_writes_or_does_not_parse_is_refused(lake, sql, message):
    with pytest.raises(LakeQueryError) as refused:
        LakeReader(lake).query(sql)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert not (lake / "out.csv").exists()


def test_sql_cannot_read_outside_the_lake(lake, tmp_path):
    (tmp_path / "secret.csv").write_text("a\n1\n")
    with pytest.raises(LakeQueryError, match="file system operations are disabled"):
        LakeReader(lake).query(f"select * from read_csv('{tmp_path / 'secret.csv'}')")


def test_reading_stays_read_only_statements_pass(lake, writer):
    writer.append([event("m1")])
    writer.flush()
    reader = LakeReader(lake)
    assert reader.query("with e as (select * from events) select count(*) from e")[1] == [(1,)]
    assert reader.query("show tables")[1] == [(name,) for name in sorted(TABLES)]
    assert reader.query("explain select * from events")[0] == ["explain_key", "explain_value"]


def test_large_tables_stream_in_batches_with_a_filter(lake, writer):
    writer.append([event(f"m{i:05d}", account=f"acc_{i % 4}") for i in range(10_000)])
    writer.flush()
    reader = LakeReader(lake)

    rows = reader.iter_current(EVENTS.name, where="account_id = $account", params={"account": "acc_1"}, batch_rows=700)
    assert [r["message_id"] for r in rows] == [f"m{i:05d}" for i in range(1, 10_000, 4)]

    result = reader.query_batches("select message_id from events", batch_rows=1000)
    sizes = [batch.num_rows for batch in result]
    assert sum(sizes) == 10_000 and max(sizes) <= 1000


def parquet_rows(path) -> int:
    return pq.read_metadata(path).num_rows


def test_compaction_merges_small_files_keeping_the_newest_row_per_key(lake, writer):
    for r in range(5):
        writer.append([change(f"c{k}", recorded_at=T0 + r, count=r) for k in range(10)])
        writer.flush()
    before = lake_files(lake / MILESTONE_CHANGES.name)
    assert len(before) == 5

    assert compact(lake, min_age_s=3600) == 0  # too young
    assert compact(lake, min_age_s=0) == 5

    [merged] = lake_files(lake / MILESTONE_CHANGES.name)
    assert merged.name == before[-1].name.replace(".parquet", "~c001.parquet")
    assert parquet_rows(merged) == 10
    assert pq.read_schema(merged).remove_metadata() == arrow_schema(MILESTONE_CHANGES.name).remove_metadata()
    assert statuses(LakeReader(lake)) == {f"c{k}": ("current", 4) for k in range(10)}


def test_no_file_is_compacted_away_while_a_reader_holds_compaction_off(lake, writer):
    """A dbt build lists the lake's files, then reads them: the pipeline's compaction in
    another process must not remove one meanwhile (seen: a demo's build failed with "Cannot
    open file"). Writers go on adding files."""
    for r in range(4):
        writer.append([change(f"c{k}", recorded_at=T0 + r, count=r) for k in range(5)])
        writer.flush()
    listed = lake_files(lake / MILESTONE_CHANGES.name)
    with compaction_held_off(lake):
        assert compact(lake, min_age_s=0) == 0
        writer.append([change("c9", recorded_at=T0 + 9)])
        writer.flush()
        assert all(path.exists() for path in listed)
    assert compact(lake, min_age_s=0) == 5  # once released, compaction goes on
    assert statuses(LakeReader(lake))["c9"][0] == "current"


def test_after_compaction_later_writes_still_win_ties(lake, writer):
    writer.append([change("c1", count=1)])
    writer.flush()
    writer.append([change("c1", count=2)])
    writer.flush()
    compact(lake, min_age_s=0)
    writer.append([change("c1", count=3)])  # same recorded_at, written after the merged rows
    writer.flush()
    assert statuses(LakeReader(lake)) == {"c1": ("current", 3)}
    compact(lake, min_age_s=0)
    assert [p.name.count("~c") for p in lake_files(lake / MILESTONE_CHANGES.name)] == [1]
    assert statuses(LakeReader(lake)) == {"c1": ("current", 3)}


def test_compaction_leaves_big_files_and_makes_files_of_about_the_target_size(lake, writer):
    for r in range(6):
        writer.append([event(f"m{r}-{i}", raw=json.dumps({"pad": "x" * 2000, "i": i})) for i in range(20)])
        writer.flush()
    sizes = [p.stat().st_size for p in lake_files(lake / EVENTS.name)]
    target = sizes[0] * 2 + 1  # two files fit, three do not
    compact(lake, min_age_s=0, target_bytes=target)
    assert [parquet_rows(p) for p in lake_files(lake / EVENTS.name)] == [40, 40, 40]
    compact(lake, min_age_s=0, target_bytes=target)  # nothing left that is small enough to merge
    assert len(lake_files(lake / EVENTS.name)) == 3
    assert len(LakeReader(lake).current(EVENTS.name)) == 120


def test_readers_never_fail_or_see_a_key_twice_while_files_are_compacted(lake, writer):
    keys = 40
    writer.append([change(f"c{k}", recorded_at=T0, count=0) for k in range(keys)])
    writer.flush()
    stop = threading.Event()
    problems: list[str] = []
    reads: list[int] = []

    def read() -> None:
        reader = LakeReader(lake)
        last = 0
        while not stop.is_set():
            try:
                rows = reader.current(MILESTONE_CHANGES.name)
            except Exception as exc:
                problems.append(repr(exc))
                continue
            counts = {r["count"] for r in rows}
            if len(rows) != keys or len({r["change_id"] for r in rows}) != keys or len(counts) != 1:
                problems.append(f"inconsistent read: {len(rows)} rows, counts {sorted(counts)}")
            elif counts.pop() < last:
                problems.append("went back in time")
            else:
                last = rows[0]["count"]
                reads.append(last)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    for r in range(1, 31):
        writer.append([change(f"c{k}", recorded_at=T0 + r, count=r) for k in range(keys)])
        writer.flush()
        if r % 3 == 0:
            compact(lake, min_age_s=0)
        time.sleep(0.01)
    time.sleep(0.2)
    stop.set()
    for thread in readers:
        thread.join()

    assert problems == []
    assert len(reads) > 20 and reads[-1] == 30
    assert len(lake_files(lake / MILESTONE_CHANGES.name)) == 1


def test_the_writer_compacts_on_its_own_thread(lake):
    writer = LakeWriter(lake, flush_seconds=0.02, compact_every_s=0.1, compact_min_age_s=0)
    try:
        for i in range(20):
            writer.append([event(f"m{i}")])
            time.sleep(0.02)  # many small flushes, so there is something to compact
        # Wait for what is asserted, with no flush left for close() to add: every row
        # written (nothing buffered) and the writer's own thread down to at most 2 files.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            written = writer.pending_rows == 0 and len(LakeReader(lake).current(EVENTS.name)) == 20
            if written and len(lake_files(lake / EVENTS.name)) <= 2:
                break
            time.sleep(0.05)
        files = len(lake_files(lake / EVENTS.name))
        assert files <= 2, f"the writer's thread left {files} files within 60 s"
    finally:
        writer.close()
    assert len(lake_files(lake / EVENTS.name)) <= 2
    assert len(LakeReader(lake).current(EVENTS.name)) == 20


def test_leftover_temporary_files_are_never_read_and_are_removed_when_old(lake, writer):
    writer.append([event("m1")])
    writer.flush()
    leftover = lake / EVENTS.name / ".00000000000000000001-deadbeef-00000001.parquet.tmp"
    leftover.write_bytes(b"half a parquet file")
    assert len(LakeReader(lake).current(EVENTS.name)) == 1
    compact(lake, min_age_s=0)
    assert leftover.exists()  # it may still be being written
    os.utime(leftover, (time.time() - 7200, time.time() - 7200))
    compact(lake, min_age_s=0)
    assert not leftover.exists()


def test_files_of_an_older_schema_read_with_nulls_for_new_columns(lake):
    old = pa.table({"org_id": ["org_a"], "dead_letter_id": ["d1"], "stage": ["parse"], "reason": ["bad"]})
    old = old.append_column("recorded_at", pa.array([T0], pa.timestamp("us", tz="UTC")))
    (lake / DEAD_LETTERS.name).mkdir(parents=True)
    pq.write_table(old, lake / DEAD_LETTERS.name / "00000000000000000001-00000000-00000001.parquet")
    [row] = LakeReader(lake).current(DEAD_LETTERS.name)
    assert row == {
        "org_id": "org_a",
        "dead_letter_id": "d1",
        "stage": "parse",
        "reason": "bad",
        "message_id": None,
        "payload": None,
        "attributes": None,
        "recorded_at": T0,
    }


def test_row_key_resolution_matches_the_core_definition(lake, writer):
    rows = [change("c1"), change("c1", org="org_b"), change("c2")]
    writer.append(rows)
    writer.flush()
    keys = {row_key(TABLES[MILESTONE_CHANGES.name], r) for r in LakeReader(lake).current(MILESTONE_CHANGES.name)}
    assert keys == {row_key(TABLES[MILESTONE_CHANGES.name], r) for _, r in rows}


def test_the_settings_choose_the_lake_by_default(tmp_path):
    from variance.core.settings import Settings
    from variance.warehouse import open_reader, open_writer

    settings = Settings(VARIANCE_DATA_DIR=str(tmp_path / "data"))
    writer = open_writer(settings, compact_every_s=None)
    assert isinstance(writer, LakeWriter) and writer.lake_dir == tmp_path / "data" / "lake"
    writer.append([event("m1")])
    writer.close()
    reader = open_reader(settings)
    assert isinstance(reader, LakeReader)
    assert [r["message_id"] for r in reader.current(EVENTS.name)] == ["m1"]


def test_a_lone_row_is_flushed_on_time_even_when_maintenance_is_far_away(tmp_path):
    """Regression: the writer's thread slept until its next compaction before noticing
    the first buffered row, so acknowledgements waited up to 30 s."""
    import time

    from variance.warehouse.local import LakeWriter

    durable: list[str] = []
    writer = LakeWriter(tmp_path / "lake", flush_seconds=0.2, compact_every_s=3600, on_durable=durable.extend)
    try:
        writer.append(
            [(DEAD_LETTERS.name, {"dead_letter_id": "d1", "stage": "parse", "reason": "r", "recorded_at": 1})], ["t1"]
        )
        deadline = time.monotonic() + 5
        while not durable and time.monotonic() < deadline:
            time.sleep(0.05)
        assert durable == ["t1"]
        assert time.monotonic() < deadline - 3, "the flush should happen within about flush_seconds"
    finally:
        writer.close()


def test_the_events_table_is_written_last_in_each_flush(tmp_path, monkeypatch):
    """A crash in the middle of a flush must leave an event's other rows durable and its
    event row not, so the restarted pipeline processes the message again."""
    from variance.warehouse.local import LakeWriter

    order: list[str] = []
    writer = LakeWriter(tmp_path / "lake", compact_every_s=None)
    original = writer._write_rows

    def recording(table, rows):
        order.append(table)
        return original(table, rows)

    monkeypatch.setattr(writer, "_write_rows", recording)
    writer.append(
        [
            (
                EVENTS.name,
                {
                    "org_id": "o",
                    "message_id": "m",
                    "connection_id": "c",
                    "connection_name": "n",
                    "type": "track",
                    "event_time": 1,
                    "received_at": 1,
                    "raw": "{}",
                    "recorded_at": 1,
                },
            ),
            (
                STREAM_MATCHES.name,
                {
                    "org_id": "o",
                    "stream_id": "s",
                    "message_id": "m",
                    "event_time": 1,
                    "kind": "Action",
                    "matched_by": "selector",
                    "status": "current",
                    "recorded_at": 1,
                },
            ),
        ]
    )
    writer.flush()
    writer.close()
    assert order == [STREAM_MATCHES.name, EVENTS.name]
