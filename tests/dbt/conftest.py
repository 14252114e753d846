"""One lake and one dbt build shared by the dbt tests (a build costs tens of seconds)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from tests.dbt import scenario as sc
from variance.cli import dbt as cli_dbt
from variance.core.timeutil import from_micros
from variance.core.vocabulary import WarehouseTable
from variance.core.warehouse import TABLES
from variance.pipelines.backfill import compute_backfill
from variance.samples.config import StaticConfig
from variance.transforms.messages import ROWS
from variance.warehouse.local import LakeWriter


@dataclass
class Built:
    data_dir: Path
    scenario: sc.Scenario
    backfill_rows: list
    streaming_rows: list
    definitions: cli_dbt.Definitions
    outcome: cli_dbt.DbtOutcome

    @property
    def marts(self) -> Path:
        return cli_dbt.LocalPaths(self.data_dir.resolve()).published


def backfill(scenario: sc.Scenario, tmp_path: Path) -> list:
    """The batch backfill's keyed transforms (pipelines/backfill.py) on Beam's batch runner."""
    out = tmp_path / "backfill-rows.pickle"

    def keep(rows):
        out.write_bytes(pickle.dumps(list(rows)))

    with TestPipeline(runner="FnApiRunner") as p:
        events = p | beam.Create([(e.org_id, e) for e in scenario.events])
        computed = compute_backfill(events, StaticConfig(*scenario.configs.values()), sc.LATENESS, sc.AS_OF)
        assert_that(computed[ROWS], keep)
    return [r for r in pickle.loads(out.read_bytes()) if r[0] in TABLES]


def write_lake(lake_dir: Path, *row_sets: list) -> None:
    for rows in row_sets:  # separate writers and files: keys repeat across them
        writer = LakeWriter(lake_dir, compact_every_s=None)
        writer.append(rows)
        writer.flush()
        writer.close()


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    data_dir = tmp_path_factory.mktemp("dbt-data")
    scenario = sc.build()
    backfill_rows = backfill(scenario, data_dir)
    streaming_rows = sc.streaming_rows(scenario)
    # The lake holds the streaming pipeline's rows (arrival order, corrections) and the
    # backfill's for the same events: every event key twice, links as each saw them.
    pipeline_tables = {
        t.value
        for t in (
            WarehouseTable.events,
            WarehouseTable.contacts,
            WarehouseTable.accounts,
            WarehouseTable.contact_account_links,
            WarehouseTable.identity_links,
            WarehouseTable.dead_letters,
        )
    }
    write_lake(
        data_dir / "lake",
        [r for r in streaming_rows if r[0] in pipeline_tables],
        backfill_rows,
    )
    definitions = sc.definitions(scenario)
    outcome = cli_dbt.build(data_dir=data_dir, definitions=definitions, as_of=from_micros(sc.AS_OF), progress=False)
    assert outcome.success, outcome.failures or outcome.error
    return Built(data_dir, scenario, backfill_rows, streaming_rows, definitions, outcome)
