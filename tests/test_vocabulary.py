"""No table name as a string literal outside the core: each is spelt once, in
``variance.core.vocabulary`` (``WarehouseTable``, ``ServingTable``, ``AppTable``), and every
other use names the member (``WarehouseTable.events``), the ORM model or a map keyed by the
enum, so a renamed table or a typo in one is a change in one place, not a search.

The rule, and why it is this one:

- Every Python string literal, ``"name"`` or ``'name'``, whose whole value is a table name is
  an offender. Literals are found by parsing each file, so docstrings, comments and longer
  strings (SQL text, messages) are not matched; only an exact literal is.
- Plain words (``"events"``, ``"contacts"``, ``"accounts"``, ``"users"``, ``"views"``,
  ``"streams"``...) are flagged like compound names. A rule that only looked where a table is
  expected (SQL text, ``table=``, ``TABLES[...]``) would miss the commonest uses, such as
  ``reader.current("events")`` or ``counts["events"]``, so instead the few places where such a
  word names something else are listed below. A new one is then a visible decision with a
  reason, never a silent pass.
- Not a table, recognised by where the literal sits (exact syntax, no guessing):
  an OpenAPI tag (inside a ``tags=`` argument: the API's sections are named after its
  resources); a CLI command's name (the ``name=`` of ``add_typer`` or ``command``); and a
  command line, that is a literal followed by the name of one of that command's subcommands,
  in a list, a tuple or a call's arguments (``["users", "create", ...]``, taken from the
  ``variance`` app itself, so it follows the CLI as it changes).
- ``ALLOWED``: a file and a word that, in that file, is something else (say an API response
  field that shares the word), each with why.
- Exempt files: the core (where the names are defined), the frozen Alembic migrations, the
  virtualenv and build output, and the tests whose subject is literal output (``EXEMPT_FILES``,
  each with why): a test that asserts what the CLI prints must spell it out, or renaming a
  table would change the output without a test noticing.

The test runs once per top-level folder, so a failure says whose files still hold offenders.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from variance.cli.main import app as cli_app
from variance.core.vocabulary import AppTable, ServingTable, WarehouseTable

ROOT = Path(__file__).resolve().parent.parent
TABLE_NAMES = frozenset(m.value for enum in (WarehouseTable, ServingTable, AppTable) for m in enum)

SKIPPED_DIRS = frozenset({".venv", "build", "__pycache__", ".git", "target", "dbt_packages", "node_modules"})
EXEMPT_PREFIXES = {
    "core/": "defines the vocabulary",
    "appdb/migrations/versions/": "Alembic migrations stay frozen: each states the schema as it was then",
}
EXEMPT_FILES = {
    "tests/test_vocabulary.py": "names the words it allows",
    "tests/cli/test_warehouse_cli.py": "asserts the table names `variance warehouse` prints and accepts, as a user types them",
}
ALLOWED = {
    ("bench/pipeline.py", "events"): "a field of the benchmark's results (how many events a run sent)",
    ("tests/core/test_filter_sql.py", "events"): "a scratch DuckDB table the compiled predicate is run on",
    ("tests/infra/test_infra_terraform.py", "dead_letters"): "the name of the dead-letter alert policy in Terraform",
    ("tests/api/routes/test_entities.py", "milestones"): "the `milestones` field of an account or contact response",
    ("tests/api/routes/test_streams.py", "follows"): "the `follows` field of a follow response",
    ("tests/cli/test_workspace_cli.py", "follows"): "the `follows` field of what `variance follows add` prints",
    ("tests/cli/test_backfill_cli.py", "dead_letters"): "a key of the summary `variance backfill` prints",
    ("tests/cli/test_backfill_cli.py", "milestone_changes"): "a key of the summary `variance backfill` prints",
    (
        "tests/dbt/tag_unit_test.py",
        "events",
    ): "the `events` column (a count) of int_entity_daily_activity's unit-test rows",
}


def _cli_commands() -> dict[str, frozenset[str]]:
    """Each ``variance`` command group's name -> the names of its subcommands."""
    return {
        group.name: frozenset(c.name for c in group.typer_instance.registered_commands if c.name)
        for group in cli_app.registered_groups
        if group.name and group.typer_instance
    }


CLI_COMMANDS = _cli_commands()


def _strings(node: ast.AST) -> Iterator[ast.Constant]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _not_tables(tree: ast.AST) -> set[int]:
    """ids of the literals that sit where a word names something other than a table."""
    found: set[int] = set()
    for node in ast.walk(tree):
        sequences: list[list[ast.expr]] = []
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "tags" or (keyword.arg == "name" and _call_name(node) in ("add_typer", "command")):
                    found.update(id(c) for c in _strings(keyword.value))
            sequences.append(node.args)
        elif isinstance(node, (ast.List, ast.Tuple)):
            sequences.append(node.elts)
        for items in sequences:
            for first, second in pairwise(items):
                if (
                    isinstance(first, ast.Constant)
                    and isinstance(second, ast.Constant)
                    and second.value in CLI_COMMANDS.get(first.value, ())
                ):
                    found.add(id(first))
    return found


def _python_files() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if SKIPPED_DIRS.intersection(relative.parts[:-1]):
            continue
        name = relative.as_posix()
        if name in EXEMPT_FILES or name.startswith(tuple(EXEMPT_PREFIXES)):
            continue
        yield name, path


def offenders(path: Path, name: str) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    not_tables = _not_tables(tree)
    return [
        f"{name}:{node.lineno}: {node.value!r}"
        for node in _strings(tree)
        if node.value in TABLE_NAMES and id(node) not in not_tables and (name, node.value) not in ALLOWED
    ]


def _top_level(name: str) -> str:
    return name.split("/", 1)[0] if "/" in name else "(root)"


FOLDERS = sorted({_top_level(name) for name, _ in _python_files()})


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_table_name_is_a_string_literal(folder):
    found = [line for name, path in _python_files() if _top_level(name) == folder for line in offenders(path, name)]
    if found:
        pytest.fail(
            f"{len(found)} table names written as string literals; use the member of WarehouseTable, "
            "ServingTable or AppTable (variance.core.vocabulary) instead, or, if the word is not a "
            "table there, add it to ALLOWED with why:\n" + "\n".join(found),
            pytrace=False,
        )


def test_the_rule_flags_table_uses_and_passes_the_words_that_name_something_else(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "rows = reader.current('events')\n"
        'counts = {"milestone_changes": 1}\n'
        'router = APIRouter(tags=["users"])\n'
        'app.add_typer(users_app, name="users")\n'
        'run_cli(["users", "create", "--name", "Mia"])\n'
        'stack.cli("streams", "list", "--org", org)\n'
        'doc = "events land in the warehouse"\n'
        "sql = 'select * from events'\n"
    )
    assert offenders(source, "example.py") == ["example.py:1: 'events'", "example.py:2: 'milestone_changes'"]


def test_every_allowance_is_still_needed():
    """An allowance whose literal is gone would hide the next real offender in that file."""
    stale = []
    for (name, word), _why in ALLOWED.items():
        path = ROOT / name
        literals = {n.value for n in _strings(ast.parse(path.read_text(encoding="utf-8")))} if path.exists() else set()
        if word not in literals:
            stale.append(f"{name}: {word!r}")
    assert not stale, "ALLOWED entries no longer needed: " + ", ".join(stale)
