"""``variance dbt``: the analysts' warehouse (the dbt project in ``dbt/``), built through
dbt's programmatic runner with the right profile, paths and variables.

What a build passes to dbt, and why. Everything reaches dbt as environment variables,
never as ``--vars``: dbt re-parses the whole project whenever the vars change (measured: 7 s,
the largest fixed cost of a build), while an environment variable read by a macro only at
execution time (under ``{% if execute %}``) is never recorded by the parser, so partial
parsing keeps working and a build re-parses nothing when the definitions or the as-of time
change. ``target/variance_inputs.json`` records exactly what each build was given.

- **The lake** (local target): each pipeline table's ``read_parquet`` file list, as
  ``VARIANCE_DBT_LAKE_<TABLE>`` (read by the sources in ``__sources.yml`` at parse time, so
  a change re-parses that one file). The list always starts with a zero-row Parquet file
  holding the table's schema (from ``core/warehouse.py``, written under the dbt folder,
  never in the lake), so a table the pipeline has not written yet is an empty, typed
  source instead of DuckDB's "No files found" error.
- **Definitions** (milestones, smart tags, views) as ``VARIANCE_DBT_DEFINITIONS`` (JSON),
  read from the app database at build time and compiled here to SQL for the target's
  dialect: every property filter through the core's compiler (``variance.core.filter_sql``)
  and every tag or view tree through ``variance.core.tag_sql`` (which uses the same filter
  compiler), all as sqlglot trees, so no value is ever spliced into SQL text. Why not a
  table exported into the lake: the filters must become SQL, only Python (the core's
  compilers) can make it, and dbt cannot execute SQL it reads from a table without
  ``run_query``, which is introspection (it hangs the offline BigQuery compile) and would
  run text from data.
- **The as-of time** (``VARIANCE_DBT_AS_OF``, RFC 3339): changes are computed up to and
  including it; unset, the moment the dbt run started.
- **Deleted contacts** (``VARIANCE_DBT_CONTACT_DELETIONS``, a JSON list of statements):
  on BigQuery, the DELETE statements of ``core.contact_deletion`` for every request in
  force, run by the project's ``on-run-start`` hook before any model reads the sources.
  Locally the build first rewrites the lake without those contacts instead (dbt-duckdb
  cannot delete from Parquet files it only reads).

Locally the marts are written by dbt-duckdb's external materialisation under
``VARIANCE_DATA_DIR/dbt/marts``; after a successful build each is *published* into
``VARIANCE_DATA_DIR/lake/marts/<model>.parquet`` (copied under a temporary name, fsynced,
renamed), with one file per team view, so readers (``variance warehouse query``) never
see a half-written file. dbt's own DuckDB database is in memory (see
:func:`dbt_environment`), so there is no database file for another process to lock.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import typer
from sqlglot import exp

from variance.cli.common import CliError, say, settings
from variance.core.contact_deletion import DeletedContact, bigquery_delete_statements
from variance.core.vocabulary import AppTable, WarehouseTable

app = typer.Typer(help="dbt: the analysts' models (staging, intermediate, marts) on DuckDB or BigQuery.")

Dialect = Literal["duckdb", "bigquery"]
TARGETS: dict[str, Dialect] = {"local": "duckdb", "bigquery": "bigquery"}
SOURCE_NAME = "variance"


def project_dir() -> Path:
    """The dbt project: ``VARIANCE_DBT_PROJECT_DIR``, else ``dbt/`` beside this package."""
    configured = os.environ.get("VARIANCE_DBT_PROJECT_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / "dbt"


# -- local paths -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalPaths:
    """Where a local build keeps its files, all under ``VARIANCE_DATA_DIR``."""

    data_dir: Path

    @property
    def lake(self) -> Path:
        return self.data_dir / "lake"

    @property
    def root(self) -> Path:
        return self.data_dir / "dbt"

    @property
    def duckdb(self) -> Path:
        """The database file ``variance dbt docs`` uses (a build's database is in memory)."""
        return self.root / "variance.duckdb"

    @property
    def work_marts(self) -> Path:
        """dbt's external materialisations (only dbt reads these)."""
        return self.root / "marts"

    @property
    def schemas(self) -> Path:
        return self.root / "lake_schema"

    @property
    def target(self) -> Path:
        return self.root / "target"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def published(self) -> Path:
        """The marts readers open: ``lake/marts/<model>.parquet``."""
        from variance.warehouse.local import marts_dir

        return marts_dir(self.lake)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


LAKE_VARIABLE_PREFIX = "VARIANCE_DBT_LAKE_"
DEFINITIONS_VARIABLE = "VARIANCE_DBT_DEFINITIONS"
AS_OF_VARIABLE = "VARIANCE_DBT_AS_OF"
CONTACT_DELETIONS_VARIABLE = "VARIANCE_DBT_CONTACT_DELETIONS"


def lake_variable(table: str) -> str:
    """The environment variable holding one pipeline table's file list."""
    return LAKE_VARIABLE_PREFIX + table.upper()


def lake_files(paths: LocalPaths) -> dict[str, str]:
    """Each table's ``read_parquet`` file list (SQL), writing the schema files it starts with."""
    import pyarrow.parquet as pq

    from variance.core.warehouse import TABLES
    from variance.warehouse.local import arrow_schema, write_parquet

    listing: dict[str, str] = {}
    for name, table in TABLES.items():
        schema_file = paths.schemas / f"{name}.parquet"
        schema = arrow_schema(table)
        if not schema_file.exists() or not pq.read_schema(schema_file).equals(schema):
            write_parquet(schema_file, schema.empty_table())
        files = [str(schema_file.resolve())]
        table_dir = paths.lake / name
        if table_dir.is_dir() and any(n.endswith(".parquet") and not n.startswith(".") for n in os.listdir(table_dir)):
            files.append(str(table_dir.resolve() / "*.parquet"))
        listing[name] = "[" + ", ".join(_sql_string(f) for f in files) + "]"
    return listing


# -- sources, generated from the one schema definition -----------------------------------------


def sources_yaml() -> str:
    """``dbt/models/staging/__sources.yml`` as generated from ``core/warehouse.py``; a test
    checks the committed file against it (``variance dbt sources --write`` rewrites it)."""
    from variance.core.warehouse import TABLES

    def quoted(text: str) -> str:
        return json.dumps(text)

    lines = [
        "# Generated from variance.core.warehouse by `variance dbt sources --write`; do not edit by hand.",
        "version: 2",
        "",
        "sources:",
        f"  - name: {SOURCE_NAME}",
        "    description: The tables the signals pipeline writes (core/warehouse.py), one row per key after staging.",
        "    database: \"{{ env_var('GOOGLE_CLOUD_PROJECT', 'variance-local') }}\"",
        "    schema: \"{{ env_var('VARIANCE_BIGQUERY_DATASET', 'variance') }}\"",
        "    tables:",
    ]
    for name, table in TABLES.items():
        location = (
            f"read_parquet({{{{ env_var('{lake_variable(name)}', '[]') }}}}, union_by_name = true, "
            "filename = '_lake_file', file_row_number = true)"
        )
        lines += [
            f"      - name: {name}",
            f"        description: {quoted(table.description)}",
            "        meta:",
            f"          key: {quoted(', '.join(table.key))}",
            f"          partition_by: {table.partition_by}",
            f"          external_location: {quoted(location)}",
        ]
        required = [c.name for c in table.columns if c.required]
        if required:  # checked here, on the files, not on staging's de-duplicating views
            lines += [
                "        data_tests:",
                "          - not_null_columns:",
                "              arguments:",
                f"                columns: [{', '.join(quoted(c) for c in required)}]",
            ]
        lines.append("        columns:")
        for column in table.columns:
            lines.append(f"          - name: {column.name}")
            lines.append(f"            data_type: {column.type}")
            if column.description:
                lines.append(f"            description: {quoted(column.description)}")
            if column.required:
                lines.append("            meta: {required: true}")
    return "\n".join(lines) + "\n"


def sources_path() -> Path:
    return project_dir() / "models" / "staging" / "__sources.yml"


# -- definitions from the app database -----------------------------------------------------------


@dataclass(frozen=True)
class MilestoneDef:
    org_id: str
    id: str
    name: str
    version: int
    entity: str
    kind: str
    event_name: str | None
    filters: tuple  # of PropertyFilter
    threshold: int
    window_seconds: int | None


@dataclass(frozen=True)
class TreeDef:
    """A smart tag or a view: a definition tree over one entity type."""

    org_id: str
    id: str
    name: str
    entity: str
    definition: Any  # ConditionGroup
    visibility: str | None = None  # views only
    warehouse_name: str | None = None  # team views only


@dataclass
class Definitions:
    milestones: list[MilestoneDef] = field(default_factory=list)
    tags: list[TreeDef] = field(default_factory=list)
    views: list[TreeDef] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


def warehouse_view_names(views: Sequence[tuple[str, str, str]]) -> dict[str, str]:
    """A stable warehouse name per team view ``(org_id, view_id, name)``:
    ``view_<org>_<view name>`` (lower case, underscores); the organisation's id in it means
    no two organisations can collide, and a second view of one organisation with the same
    name slug gets the end of its id appended (ids decide who keeps the plain name)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for org_id, view_id, name in sorted(views, key=lambda v: (v[0], v[1])):
        base = f"view_{_slug(org_id)}_{_slug(name)}"[:900]
        chosen = base if base not in taken else f"{base}_{_slug(view_id)[-8:]}"
        taken.add(chosen)
        names[view_id] = chosen
    return names


def load_definitions(session) -> Definitions:
    """Every organisation's milestones, smart tags and views (team views get their name)."""
    import orjson
    from sqlalchemy import select

    from variance.appdb.models import Milestone, SmartTag, View
    from variance.core.filters import PropertyFilter
    from variance.core.tag_tree import parse_definition

    found = Definitions()
    for m in session.scalars(select(Milestone).order_by(Milestone.org_id, Milestone.id)):
        found.milestones.append(
            MilestoneDef(
                m.org_id,
                m.id,
                m.name,
                m.version,
                m.entity,
                m.event_kind,
                m.event_name,
                tuple(PropertyFilter.model_validate(f) for f in orjson.loads(m.filters or "[]")),
                m.threshold,
                m.window_seconds or None,
            )
        )
    for t in session.scalars(select(SmartTag).order_by(SmartTag.org_id, SmartTag.id)):
        found.tags.append(TreeDef(t.org_id, t.id, t.name, t.entity, parse_definition(t.definition)))
    views = list(session.scalars(select(View).order_by(View.org_id, View.id)))
    names = warehouse_view_names([(v.org_id, v.id, v.name) for v in views if v.visibility == "team"])
    for v in views:
        found.views.append(
            TreeDef(v.org_id, v.id, v.name, v.entity, parse_definition(v.definition), v.visibility, names.get(v.id))
        )
    return found


# -- definitions compiled to SQL ------------------------------------------------------------------


def _lit(value: str | int | None, type_: str) -> exp.Expression:
    """A typed literal (NULL keeps its type in a UNION ALL of rows)."""
    if value is None:
        return exp.cast(exp.Null(), type_)
    if isinstance(value, int):
        return exp.cast(exp.Literal.number(value), type_)
    return exp.cast(exp.Literal.string(value), type_)


def _row(values: dict[str, exp.Expression], dialect: Dialect) -> str:
    return exp.select(*(exp.alias_(v, k) for k, v in values.items())).sql(dialect=dialect)


def _eq(column: exp.Expression, value: exp.Expression) -> exp.Expression:
    return exp.EQ(this=column, expression=value)


def milestone_sql(m: MilestoneDef, dialect: Dialect) -> dict[str, str]:
    """``row``: the definition as one row of ``stg_app__milestones``; ``matching``: a
    SELECT over the relation ``events`` (``int_events_attributed``'s columns, as
    ``int_milestone_events_matched`` names it) of the events this milestone counts, with the
    entity they count for."""
    from variance.core.filter_sql import filters_expression

    row = _row(
        {
            "org_id": _lit(m.org_id, "TEXT"),
            "milestone_id": _lit(m.id, "TEXT"),
            "milestone_version": _lit(m.version, "BIGINT"),
            "milestone_name": _lit(m.name, "TEXT"),
            "entity_type": _lit(m.entity, "TEXT"),
            "event_kind": _lit(m.kind, "TEXT"),
            "event_name": _lit(m.event_name, "TEXT"),
            "threshold": _lit(m.threshold, "BIGINT"),
            "window_seconds": _lit(m.window_seconds, "BIGINT"),
        },
        dialect,
    )
    entity = exp.column("contact_id" if m.entity == "contact" else "account_id", "e")
    conditions = [
        _eq(exp.column("org_id", "e"), exp.Literal.string(m.org_id)),
        _eq(exp.column("kind", "e"), exp.Literal.string(m.kind)),
        exp.Not(this=exp.Is(this=entity.copy(), expression=exp.Null())),
    ]
    if m.event_name is not None:
        conditions.append(_eq(exp.column("name", "e"), exp.Literal.string(m.event_name)))
    if m.filters:
        conditions.append(filters_expression(m.filters, exp.column("filter_properties", "e"), dialect))
    events = (
        exp.select(
            exp.alias_(_lit(m.org_id, "TEXT"), "org_id"),
            exp.alias_(_lit(m.id, "TEXT"), "milestone_id"),
            exp.alias_(entity, "entity_id"),
            exp.column("event_time", "e"),
            exp.column("message_id", "e"),
        )
        .from_(exp.alias_(exp.to_table(WarehouseTable.events.value), "e", table=True))
        .where(exp.and_(*conditions))
    )
    return {"row": row, "matching": events.sql(dialect=dialect)}


def tree_sql(tree: TreeDef, tags: dict[tuple[str, str], TreeDef], dialect: Dialect, id_column: str) -> dict[str, str]:
    """``row``: the tag or view as a definitions row; ``members``: a SELECT over a relation
    ``entities`` of the entities it holds (compiled by :mod:`variance.core.tag_sql`)."""
    from variance.core.tag_sql import TagTree, members_query

    values = {
        "org_id": _lit(tree.org_id, "TEXT"),
        id_column: _lit(tree.id, "TEXT"),
        "name": _lit(tree.name, "TEXT"),
        "entity_type": _lit(tree.entity, "TEXT"),
    }
    if id_column == "view_id":
        values["visibility"] = _lit(tree.visibility, "TEXT")
        values["warehouse_name"] = _lit(tree.warehouse_name, "TEXT")
    members = members_query(
        tree.definition,
        org_id=tree.org_id,
        entity=tree.entity,
        dialect=dialect,
        id_column=id_column,
        id_value=tree.id,
        tags={tag_id: TagTree(t.entity, t.definition) for (org, tag_id), t in tags.items() if org == tree.org_id},
        using=(tree.id,) if id_column == "tag_id" else (),
    )
    return {"row": _row(values, dialect), "members": members.sql(dialect=dialect)}


def compile_definitions(found: Definitions, dialect: Dialect) -> dict[str, Any]:
    """The definitions for one dialect (``VARIANCE_DBT_DEFINITIONS``): the rows of the app
    tables ``milestones``, ``smart_tags`` and ``views`` with their SQL, keyed as the dbt
    macro ``union_definitions`` reads them."""
    tags = {(t.org_id, t.id): t for t in found.tags}
    return {
        "dialect": dialect,
        AppTable.milestones.value: [milestone_sql(m, dialect) for m in found.milestones],
        AppTable.smart_tags.value: [tree_sql(t, tags, dialect, "tag_id") for t in found.tags],
        AppTable.views.value: [
            {**tree_sql(v, tags, dialect, "view_id"), "warehouse_name": v.warehouse_name, "entity_type": v.entity}
            for v in found.views
        ],
    }


# -- running dbt -----------------------------------------------------------------------------------


def format_as_of(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    from variance.core.timeutil import TimestampError, parse_timestamp

    try:
        return parse_timestamp(text)
    except TimestampError as exc:
        raise CliError(f"--as-of {text!r}: {exc}") from None


def build_inputs(definitions: Definitions, target: str, as_of: datetime | None, lake: dict[str, str]) -> dict[str, str]:
    """What one build is given, as the environment variables the project reads (see the
    module docstring): the lake's file lists, the compiled definitions and the as-of time."""
    inputs = {lake_variable(name): files for name, files in lake.items()}
    inputs[DEFINITIONS_VARIABLE] = json.dumps(compile_definitions(definitions, TARGETS[target]), sort_keys=True)
    inputs[AS_OF_VARIABLE] = format_as_of(as_of) if as_of else ""
    return inputs


def dbt_environment(target: str, data_dir: Path, *, database_file: bool = False) -> dict[str, str]:
    """Environment variables the profile and project read.

    Locally, dbt's DuckDB database is in memory: it only holds what one invocation builds
    on the way to the marts (staging views, intermediate tables, the marts' views over
    their Parquet files), and the marts outlive it as files. Writing the intermediate
    tables to a database file cost about 1.6 s per million rows (DuckDB compresses them
    for disk), there is no file for another process to lock, and each build starts clean.
    ``database_file`` keeps a file instead (``variance dbt docs``, whose catalog is read
    from the database by a second invocation)."""
    env = {"VARIANCE_DBT_TARGET": target, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    paths = LocalPaths(data_dir.resolve())
    # dbt's own variables for its target and log folders, kept under the data dir
    env["DBT_TARGET_PATH"] = str(paths.target if target == "local" else paths.root / "target-bigquery")
    env["DBT_LOG_PATH"] = str(paths.logs)
    if target == "local":
        env["VARIANCE_DBT_DUCKDB_PATH"] = str(paths.duckdb) if database_file else ":memory:"
        env["VARIANCE_DBT_EXTERNAL_ROOT"] = str(paths.work_marts)
        env["VARIANCE_DBT_SPILL_DIR"] = str(paths.root / "spill")  # where DuckDB spills what memory cannot hold
    return env


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class DbtOutcome:
    success: bool
    failures: list[str]
    results: list[dict]
    seconds: float
    error: str | None = None


def run_dbt(
    command: Sequence[str],
    *,
    target: str,
    data_dir: Path,
    inputs: dict[str, str] | None = None,
    progress: bool = True,
    database_file: bool = False,
) -> DbtOutcome:
    """One dbt invocation (``build``, ``test``, ``compile``, ``docs generate``...) through
    ``dbtRunner``, with the project, the profile and the build's inputs (environment
    variables, from :func:`build_inputs`); nodes are reported on stderr as they finish.
    dbt allows one invocation at a time per process."""
    from dbt.cli.main import dbtRunner

    local = LocalPaths(data_dir.resolve())
    for directory in (local.root, local.work_marts):
        directory.mkdir(parents=True, exist_ok=True)
    args = [
        *command,
        "--project-dir",
        str(project_dir()),
        "--profiles-dir",
        str(project_dir()),
        "--target",
        target,
        "--quiet",
    ]
    environment = dbt_environment(target, data_dir, database_file=database_file)
    if inputs is not None:
        record = Path(environment["DBT_TARGET_PATH"]) / "variance_inputs.json"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(inputs, indent=2, sort_keys=True))
        environment = {**environment, **inputs}
    started = time.monotonic()

    tests = {"passed": 0, "failed": 0, "skipped": 0}

    def on_event(event) -> None:
        if not progress or event.info.name != "NodeFinished":
            return
        node = event.data.node_info
        status = str(node.node_status)
        if node.resource_type == "test" and status in ("pass", "success"):
            tests["passed"] += 1  # data tests are many: counted, and named only when they fail
            return
        if node.resource_type == "test":
            tests["skipped" if status == "skipped" else "failed"] += 1
            if status == "skipped":
                return
        say(f"  {status:<8} {node.resource_type:<10} {node.node_name}")

    with _environment(environment):
        result = dbtRunner(callbacks=[on_event]).invoke(args)
    seconds = time.monotonic() - started
    if progress and any(tests.values()):
        say(f"  data tests: {tests['passed']} passed, {tests['failed']} failed, {tests['skipped']} skipped")
    failures, rows = [], []
    for item in getattr(result.result, "results", None) or []:
        status = str(getattr(item.status, "value", item.status))
        node = item.node
        rows.append({"name": node.name, "resource_type": str(node.resource_type), "status": status})
        if status in ("error", "fail", "runtime error"):
            failures.append(f"{node.resource_type} {node.name}: {_reason(item.message, status)}")
    error = None if result.exception is None else str(result.exception).strip()
    return DbtOutcome(bool(result.success), failures, rows, seconds, error)


def _reason(message: str | None, status: str) -> str:
    """The line of a dbt failure that says why (dbt puts "Runtime Error in model ..." first)."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    useful = [line for line in lines if not re.match(r"(Runtime|Compilation|Database) Error in ", line)]
    return (useful or lines or [status])[0]


def publish_marts(paths: LocalPaths, team_views: dict[str, str]) -> list[str]:
    """Copy each mart dbt wrote into ``lake/marts/`` whole (temporary name, fsync, rename)
    and write one file per team view; files of team views that no longer exist are removed.
    Returns the published names."""
    import duckdb

    published = paths.published
    published.mkdir(parents=True, exist_ok=True)
    names = []
    for source in sorted(paths.work_marts.glob("*.parquet")):
        _atomic_copy(source, published / source.name)
        names.append(source.stem)
    wanted = set(team_views.values())
    members = published / "fct_view_members.parquet"
    if members.exists() and wanted:
        connection = duckdb.connect()
        try:
            connection.execute("set TimeZone = 'UTC'")
            for view_id, warehouse_name in sorted(team_views.items()):
                temporary = published / f".{warehouse_name}.parquet.tmp"
                connection.execute(
                    "copy (select m.* exclude (view_name, visibility, warehouse_name) from read_parquet(?) m "
                    "where m.view_id = ? order by m.entity_id) to '" + str(temporary).replace("'", "''") + "' "
                    "(format parquet)",
                    [str(members), view_id],
                )
                os.replace(temporary, published / f"{warehouse_name}.parquet")
                names.append(warehouse_name)
        finally:
            connection.close()
    for stale in published.glob("view_*.parquet"):
        if stale.stem not in wanted:
            stale.unlink(missing_ok=True)
    return names


def _atomic_copy(source: Path, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.tmp")
    with open(source, "rb") as src, open(temporary, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)


def contact_deletion_statements(
    deleted: Sequence[DeletedContact], target: str, now: datetime | None = None
) -> list[str]:
    """What the ``on-run-start`` hook runs on BigQuery for the deleted contacts (nothing
    locally, where the lake is rewritten before the build)."""
    if target != "bigquery" or not deleted:
        return []
    config = settings()

    def table_ref(table: WarehouseTable) -> exp.Table:
        return exp.table_(table.value, db=config.bigquery_dataset, catalog=config.google_cloud_project, quoted=True)

    return bigquery_delete_statements(deleted, table_ref, now or datetime.now(timezone.utc))


def read_deleted_contacts() -> list[DeletedContact]:
    from variance.cli.common import db_session
    from variance.serving.contact_deletion import deleted_contacts

    with db_session() as session:
        return deleted_contacts(session)


def read_definitions() -> Definitions:
    from variance.cli.common import db_session

    with db_session() as session:
        return load_definitions(session)


def build(
    *,
    target: str = "local",
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    as_of: datetime | None = None,
    definitions: Definitions | None = None,
    data_dir: Path | None = None,
    progress: bool = True,
    command: str = "build",
    unit_tests: bool = False,
    deleted_contacts: Sequence[DeletedContact] = (),
) -> DbtOutcome:
    """Build (or ``test``/``run``/``compile``) the project: definitions from the app
    database unless given, lake paths from the data dir; locally the marts are then
    published. A build runs the data tests but not the dbt unit tests unless asked: those
    check the models' logic on fixed inputs, not the data, so (as dbt advises for
    production builds) they run in the test suite (``make test``), not on every build.
    On BigQuery, ``deleted_contacts`` are deleted from the sources first (the hook)."""
    if target not in TARGETS:
        raise CliError(f"unknown target {target!r}; use local or bigquery")
    data_dir = data_dir or settings().data_dir
    found = definitions if definitions is not None else read_definitions()
    paths = LocalPaths(data_dir.resolve())
    # The build's inputs are lists of the lake's files: none may be compacted away before
    # dbt has read them (the pipeline compacts as it writes).
    held = ExitStack()
    if target == "local":
        from variance.warehouse.local import compaction_held_off

        held.enter_context(compaction_held_off(paths.lake))
    with held:
        lake = lake_files(paths) if target == "local" else {}
        args = [command]
        if command in ("build", "test") and not unit_tests:
            args += ["--exclude-resource-type", "unit_test"]
        if command == "compile":
            args.append("--no-populate-cache")  # introspection hangs an offline BigQuery compile
        for item in select:
            args += ["--select", item]
        for item in exclude:
            args += ["--exclude", item]
        inputs = build_inputs(found, target, as_of, lake)
        inputs[CONTACT_DELETIONS_VARIABLE] = json.dumps(contact_deletion_statements(deleted_contacts, target))
        outcome = run_dbt(args, target=target, data_dir=data_dir, inputs=inputs, progress=progress)
    if outcome.success and target == "local" and command in ("build", "run"):
        publish_marts(paths, {v.id: v.warehouse_name for v in found.views if v.warehouse_name})
    return outcome


def _report(outcome: DbtOutcome, what: str) -> None:
    if outcome.success:
        say(f"dbt {what} finished in {outcome.seconds:.1f} s ({len(outcome.results)} nodes)")
        return
    lines = outcome.failures or [outcome.error or "dbt failed without saying why"]
    raise CliError(
        f"dbt {what} failed: "
        + "; ".join(lines[:5])
        + (f" (and {len(lines) - 5} more)" if len(lines) > 5 else "")
        + f"; details in {LocalPaths(settings().data_dir.resolve()).logs / 'dbt.log'}"
    )


@app.command("build")
def build_command(
    target: str = typer.Option("local", "--target", help="local (DuckDB over the lake) | bigquery"),
    select: list[str] = typer.Option([], "--select", "-s", help="dbt node selection, e.g. fct_milestone_changes+"),
    exclude: list[str] = typer.Option([], "--exclude", help="dbt nodes to leave out"),
    as_of: str = typer.Option(None, "--as-of", help="Compute changes up to this time (RFC 3339); default: now"),
    unit_tests: bool = typer.Option(False, "--unit-tests", help="Also run the dbt unit tests (make test runs them)"),
) -> None:
    """Build the models and run their data tests; locally the marts become readable by
    `variance warehouse query` and `variance warehouse export`. Deleted contacts' rows
    go first: locally the lake is rewritten without them, on BigQuery they are deleted."""
    deleted: list[DeletedContact] = []
    if target == "local":
        from variance.cli.warehouse import rewrite_without_deleted_contacts

        rewrite_without_deleted_contacts()
    elif target == "bigquery":
        deleted = read_deleted_contacts()
    outcome = build(
        target=target,
        select=select,
        exclude=exclude,
        as_of=parse_as_of(as_of),
        unit_tests=unit_tests,
        deleted_contacts=deleted,
    )
    _report(outcome, "build")


@app.command("compile")
def compile_command(
    target: str = typer.Option("local", "--target", help="local (DuckDB over the lake) | bigquery"),
    select: list[str] = typer.Option([], "--select", "-s", help="dbt node selection"),
    as_of: str = typer.Option(None, "--as-of", help="Compute changes up to this time (RFC 3339); default: now"),
) -> None:
    """Compile the models (SQL under the target folder) without running them; for BigQuery
    this needs no credentials and contacts nothing (no cache is populated)."""
    outcome = build(
        target=target, select=select, exclude=["test_type:unit"], as_of=parse_as_of(as_of), command="compile"
    )
    _report(outcome, "compile")


@app.command("docs")
def docs_command(
    target: str = typer.Option("local", "--target"),
    static: bool = typer.Option(False, "--static", help="One self-contained HTML file (static_index.html)"),
) -> None:
    """Generate the documentation site (catalog included); prints where it is."""
    data_dir = settings().data_dir
    paths = LocalPaths(data_dir.resolve())
    lake = lake_files(paths) if target == "local" else {}
    inputs = build_inputs(read_definitions(), target, None, lake)
    if target == "local":
        # The catalog (column types) is read from the database, and a build's is in memory:
        # create every relation, empty, in a database file first (`dbt run --empty`).
        _report(run_dbt(["run", "--empty"], target=target, data_dir=data_dir, inputs=inputs, database_file=True), "run")
    args = ["docs", "generate", *(["--static"] if static else [])]
    outcome = run_dbt(args, target=target, data_dir=data_dir, inputs=inputs, database_file=True)
    _report(outcome, "docs generate")
    folder = Path(dbt_environment(target, data_dir)["DBT_TARGET_PATH"])
    say(str(folder / ("static_index.html" if static else "index.html")))


@app.command("sources")
def sources_command(
    write: bool = typer.Option(False, "--write", help="Rewrite the file instead of checking it"),
) -> None:
    """Check (or rewrite) dbt's sources file against core/warehouse.py."""
    path = sources_path()
    expected = sources_yaml()
    if write:
        path.write_text(expected)
        say(f"wrote {path}")
    elif not path.exists() or path.read_text() != expected:
        raise CliError(f"{path} differs from core/warehouse.py; run `variance dbt sources --write`")
    else:
        say(f"{path} matches core/warehouse.py")
