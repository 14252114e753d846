"""A build while the pipeline writes: the real lake writer (warehouse/local.py) appends
events in a thread, flushing a new file every few milliseconds (each written under a
hidden temporary name and renamed into place), for the whole of a dbt build over the same
lake. The build must succeed, and files must have landed while it ran (else the test
proved nothing). A half-written file matching the sources' glob would fail the build
("No magic bytes found"): the lake's write-then-rename is what this test holds in place.

Not covered: the writer's compaction, which deletes the small files it merged; a build
whose scan lists a file just before compaction deletes it would fail (the writer's
default waits until files are a minute old, and compacts every 30 s)."""

from __future__ import annotations

import threading
import time

import duckdb

from tests.dbt import scenario as sc
from tests.dbt.conftest import write_lake
from variance.cli import dbt as cli_dbt
from variance.core.timeutil import from_micros, to_micros
from variance.core.vocabulary import WarehouseTable
from variance.warehouse.local import LakeWriter


def _new_events(template: dict, batch: int, size: int) -> list[tuple[str, dict]]:
    now = to_micros(from_micros(sc.AS_OF))
    return [
        (
            WarehouseTable.events.value,
            {**template, "message_id": f"concurrent-{batch}-{i}", "event_time": now - 1, "recorded_at": now},
        )
        for i in range(size)
    ]


def test_a_build_succeeds_while_the_lake_writer_adds_files(built, tmp_path):
    write_lake(tmp_path / "lake", built.backfill_rows)
    events_dir = tmp_path / "lake" / WarehouseTable.events.value
    template = next(row for table, row in built.backfill_rows if table == WarehouseTable.events.value)
    writer = LakeWriter(tmp_path / "lake", flush_rows=50, flush_seconds=0.01, compact_every_s=None)
    stop = threading.Event()
    landed = []

    def keep_writing() -> None:
        batch = 0
        while not stop.is_set():
            writer.append(_new_events(template, batch, 50))
            batch += 1
            landed.append(len(list(events_dir.glob("*.parquet"))))
            time.sleep(0.02)

    files_before = len(list(events_dir.glob("*.parquet")))
    thread = threading.Thread(target=keep_writing, name="pipeline-writes")
    thread.start()
    try:
        outcome = cli_dbt.build(
            data_dir=tmp_path, definitions=built.definitions, as_of=from_micros(sc.AS_OF), progress=False
        )
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert outcome.success, outcome.failures or outcome.error
    assert landed and landed[-1] - files_before > 20, "the writer should have added files during the build"
    marts = cli_dbt.LocalPaths(tmp_path.resolve()).published
    connection = duckdb.connect()
    built_events = connection.execute(
        f"select count(*) from read_parquet('{marts / 'fct_events.parquet'}')"
    ).fetchone()[0]
    connection.close()
    assert built_events >= len({(e.org_id, e.message_id) for e in built.scenario.events})
