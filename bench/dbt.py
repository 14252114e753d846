"""`variance dbt build` on DuckDB over the lake at 100,000 and 1,000,000 events, beside the
reference measured in the same run: one bare DuckDB query that reads the same Parquet files
and computes the same windowed milestone counts and changes.

What is measured, at each size, after one warm-up build (first parse, DuckDB's caches):

- ``build_s``: what `variance dbt build` runs: every model (the milestone recomputation,
  tags, views included) and every data test, no dbt unit tests (they run in `make test`),
  and the marts published. Its as-of time differs from the warm-up's, as a new build's
  would, so this also shows that changed inputs do not make dbt re-parse the project.
- ``run_s``: the models only (``dbt run``), and ``test_s``: the data tests only
  (``dbt test``), each measured on its own right after.
- ``reference_s``: the bare DuckDB query; ``load_1min``: the machine's load average when
  the size started (the machine is shared; timings rise with it).

The lake is written directly as the pipeline's Parquet files (events and account links for
5,000 users in 500 accounts over 30 days), so the benchmark measures dbt, not the pipeline.

    .venv/bin/python bench/dbt.py [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa

# Run as a script, this file's folder would come first on sys.path and this module
# (bench/dbt.py) would shadow the dbt package: put the repository there instead.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_results  # noqa: E402
from variance.cli import dbt as cli_dbt  # noqa: E402
from variance.core.filters import PropertyFilter  # noqa: E402
from variance.core.tag_tree import parse_definition  # noqa: E402
from variance.core.timeutil import from_micros  # noqa: E402
from variance.core.vocabulary import WarehouseTable  # noqa: E402
from variance.core.warehouse import TABLES  # noqa: E402
from variance.warehouse.local import arrow_schema, write_parquet  # noqa: E402

USERS, ACCOUNTS, DAYS = 5000, 500, 30
T0 = 1_714_521_600_000_000
DAY = 86_400_000_000
ORG = "org_bench"
ACTIONS = np.array(["Invited User", "Created Project", "Connected Integration", "Exported Report"])
FILE_ROWS = 250_000
AS_OF_US = T0 + (DAYS + 1) * DAY


def _table(name: str, columns: dict) -> pa.Table:
    schema = arrow_schema(TABLES[name])
    n = len(next(iter(columns.values())))
    arrays = [pa.array(columns[f.name], type=f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def write_lake(lake: Path, n: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    users = np.array([f"user-{u}" for u in range(USERS)])
    account_of = np.array([f"acct-{u % ACCOUNTS}" for u in range(USERS)])
    link_times = T0 + np.arange(USERS, dtype=np.int64) * 1000
    links = _table(
        WarehouseTable.contact_account_links,
        {
            "org_id": [ORG] * USERS,
            "contact_id": users,
            "account_id": account_of,
            "linked_at": link_times,
            "message_id": [f"g-{u}" for u in range(USERS)],
            "method": ["group"] * USERS,
            "recorded_at": link_times,
        },
    )
    write_parquet(
        lake / WarehouseTable.contact_account_links.value / "00000000000000000001-bench0000-00000001.parquet", links
    )
    tracks = n - USERS
    times = np.sort(T0 + DAY // 10 + rng.integers(0, DAYS * DAY, tracks))
    who = rng.integers(0, USERS, tracks)
    roles = np.where(rng.random(tracks) < 0.3, "admin", "member")
    seats = rng.integers(1, 50, tracks)
    names = ACTIONS[rng.integers(0, len(ACTIONS), tracks)]
    for part, start in enumerate(range(0, tracks, FILE_ROWS)):
        end = min(start + FILE_ROWS, tracks)
        ids = [f"t-{i}" for i in range(start, end)]
        properties = [
            orjson.dumps({"role": r, "seats": int(s)}).decode()
            for r, s in zip(roles[start:end], seats[start:end], strict=True)
        ]
        events = _table(
            WarehouseTable.events,
            {
                "org_id": [ORG] * (end - start),
                "message_id": ids,
                "connection_id": ["con_bench"] * (end - start),
                "connection_name": ["web"] * (end - start),
                "type": ["track"] * (end - start),
                "kind": ["Action"] * (end - start),
                "name": names[start:end],
                "event_time": times[start:end],
                "received_at": times[start:end],
                "user_id": users[who[start:end]],
                "contact_id": users[who[start:end]],
                "account_id": account_of[who[start:end]],
                "properties": properties,
                "traits": ["{}"] * (end - start),
                "raw": ["{}"] * (end - start),
                "recorded_at": times[start:end],
            },
        )
        write_parquet(lake / WarehouseTable.events.value / f"{part + 2:020d}-bench0000-{part:08d}.parquet", events)
    group_calls = _table(
        WarehouseTable.events,
        {
            "org_id": [ORG] * USERS,
            "message_id": [f"g-{u}" for u in range(USERS)],
            "connection_id": ["con_bench"] * USERS,
            "connection_name": ["web"] * USERS,
            "type": ["group"] * USERS,
            "kind": ["Group"] * USERS,
            "event_time": link_times,
            "received_at": link_times,
            "user_id": users,
            "contact_id": users,
            "account_id": account_of,
            "group_id": account_of,
            "properties": ["{}"] * USERS,
            "traits": ['{"plan": "pro"}'] * USERS,
            "raw": ["{}"] * USERS,
            "recorded_at": link_times,
        },
    )
    write_parquet(lake / WarehouseTable.events.value / "00000000000000000000-bench0000-99999999.parquet", group_calls)


def definitions() -> cli_dbt.Definitions:
    admin = (PropertyFilter(path="role", op="equals", value="admin"),)
    found = cli_dbt.Definitions(
        milestones=[
            cli_dbt.MilestoneDef(ORG, "mil_pql", "PQL", 1, "account", "Action", "Invited User", admin, 3, 7 * 86400),
            cli_dbt.MilestoneDef(ORG, "mil_active", "Active", 1, "contact", "Action", "Created Project", (), 5, 86400),
            cli_dbt.MilestoneDef(
                ORG, "mil_first", "First export", 1, "contact", "Action", "Exported Report", (), 1, None
            ),
        ]
    )
    tree = {
        "type": "group",
        "match": "all",
        "conditions": [
            {"type": "milestone", "milestone_id": "mil_pql", "status": "achieved", "days": None},
            {"type": "event_count", "kind": "Action", "name": "Invited User", "op": "gte", "value": 5, "days": 7},
        ],
    }
    found.tags.append(cli_dbt.TreeDef(ORG, "tag_hot", "Hot", "account", parse_definition(tree)))
    found.views.append(
        cli_dbt.TreeDef(
            ORG, "view_hot", "Hot accounts", "account", parse_definition(tree), "team", "view_org_bench_hot_accounts"
        )
    )
    return found


REFERENCE = """
with matched as (
    select account_id as entity_id, event_time
    from read_parquet('{lake}/events/*.parquet')
    where kind = 'Action' and name = 'Invited User' and json_extract_string(properties, '$.role') = 'admin'
      and account_id is not null
),
deltas as (
    select entity_id, event_time as step_at, 1 as delta from matched
    union all
    select entity_id, event_time + interval 7 day as step_at, -1 as delta from matched
),
steps as (select entity_id, step_at, sum(delta) as net from deltas group by all),
counted as (select *, sum(net) over (partition by entity_id order by step_at) as after from steps)
select count(*) from counted where (after - net < 3) <> (after < 3) and step_at <= make_timestamp({as_of_us})::timestamptz
"""


def reference(lake: Path) -> tuple[float, int]:
    connection = duckdb.connect()
    started = time.perf_counter()
    changes = connection.execute(REFERENCE.format(lake=lake, as_of_us=AS_OF_US)).fetchone()[0]
    return time.perf_counter() - started, changes


def _timed(work: Path, as_of, command: str = "build") -> tuple[float, cli_dbt.DbtOutcome]:
    started = time.perf_counter()
    outcome = cli_dbt.build(data_dir=work, definitions=definitions(), as_of=as_of, progress=False, command=command)
    seconds = time.perf_counter() - started
    if not outcome.success:
        raise SystemExit(f"dbt {command} failed: {outcome.failures or outcome.error}")
    return seconds, outcome


def run(n: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bench-dbt-{n}-"))
    try:
        load = os.getloadavg()[0]
        write_lake(work / "lake", n)
        ref_seconds, ref_changes = reference(work / "lake")
        as_of = from_micros(AS_OF_US)
        _timed(work, from_micros(AS_OF_US + DAY))  # warm-up: first parse, extensions, caches
        build_seconds, outcome = _timed(work, as_of)
        changes = (
            duckdb.connect()
            .execute(
                f"select count(*) from read_parquet('{work}/lake/marts/fct_milestone_changes.parquet') "
                "where milestone_id = 'mil_pql'"
            )
            .fetchone()[0]
        )
        assert changes == ref_changes, (changes, ref_changes)
        run_seconds, ran = _timed(work, as_of, "run")
        test_seconds, tested = _timed(work, as_of, "test")
        return {
            "event_count": n,
            "build_s": round(build_seconds, 2),
            "build_events_per_s": round(n / build_seconds),
            "build_nodes": len(outcome.results),
            "run_s": round(run_seconds, 2),
            "run_models": len(ran.results),
            "test_s": round(test_seconds, 2),
            "data_tests": len(tested.results),
            "reference_s": round(ref_seconds, 3),
            "reference_events_per_s": round(n / ref_seconds),
            "ratio_reference_to_build": round(ref_seconds / build_seconds, 3),
            "pql_changes": changes,
            "load_1min": round(load, 2),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    sizes = parser.parse_args().sizes
    results = []
    for n in sizes:
        result = run(n)
        results.append(result)
        print(result, flush=True)
    path = write_results(
        "dbt",
        {
            "goal": "1M events built (variance dbt build: models and data tests) in under 15 s",
            "cpus_shared": "the machine's 2 cores are shared with other work; see load_1min",
            "runs": results,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
