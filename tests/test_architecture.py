"""The arrows between parts stay one-way, and the tree stays as the README's layout table says.

Every part is the package ``variance.X`` in the folder ``X/``. ``ALLOWED`` says which other
parts each may import (at module level or inside a function alike); a new arrow is a decision,
made here with the reason, not by accident in an import line.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PARTS = (
    "core",
    "transforms",
    "pipelines",
    "warehouse",
    "serving",
    "appdb",
    "clients",
    "workspace",
    "api",
    "cli",
    "samples",
    "stack",
    "web",
    "slack",
    "variance",
)

ALLOWED: dict[str, set[str]] = {
    # contracts with no I/O: the bottom of every arrow
    "core": set(),
    # Beam logic that knows nothing of where data comes from
    "transforms": {"core"},
    "warehouse": {"core"},
    "appdb": {"core"},
    # one module per external service
    "clients": {"core"},
    # the serving writer folds pipeline rows into the app database, and rebuilds from the warehouse
    "serving": {"core", "appdb", "warehouse"},
    # business rules: a client reaches them only through an interface handed in by the caller;
    # view members are evaluated by the serving tables' membership module (serving/tags.py),
    # the one evaluator that also writes tag_members
    "workspace": {"core", "appdb", "serving"},
    # Slack for streams: the outbox the pipeline records into, the one sender that posts it
    # (Slack through the client module), installations and Slack's callbacks (a button's
    # follow goes through the workspace's rules)
    "slack": {"core", "appdb", "clients", "workspace"},
    # pipelines wire sources and sinks to transforms, from options; the Slack sink records
    # into the outbox of variance.slack
    "pipelines": {"core", "transforms", "warehouse", "serving", "appdb", "clients", "slack"},
    # HTTP only: routes call the workspace; the publisher is a client; the app mounts the web pages;
    # the Slack routes call variance.slack's rules (install, channels, Slack's callbacks)
    "api": {"core", "workspace", "appdb", "clients", "web", "slack"},
    # sample traffic and the one workspace builder, for the demo, benchmarks and tests
    "samples": {"core", "workspace", "appdb"},
    # starting the local stack as processes (emulator, API, pipeline) and reading their state
    "stack": {"core", "clients", "pipelines", "samples", "appdb", "workspace"},
    # the web app: pages that call the same workspace rules as the API's routes, mounted by api
    "web": {"core", "workspace", "appdb"},
    # the top: the one command wires everything
    "cli": {p for p in PARTS if p not in ("cli", "variance")},
    "variance": {"cli"},
}

IO_LIBRARIES = (
    "google.cloud",
    "grpc",
    "sqlalchemy",
    "duckdb",
    "pyarrow",
    "httpx",
    "requests",
    "slack_sdk",
    "psycopg",
    "alembic",
    "fastapi",
)


def imports_of(folder: str) -> dict[str, set[str]]:
    """Every absolute import in every module of ``folder``, at any depth of the code."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path}: {name}"
        for path, names in imports_of(folder).items()
        for name in names
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def part_of(module: str) -> str | None:
    if module == "variance":
        return None  # the distribution's ``__version__``, which any part may show
    match = re.match(r"variance\.([a-z_]+)", module)
    return match.group(1) if match else None


@pytest.mark.parametrize("part", PARTS)
def test_each_part_imports_only_the_parts_it_may(part):
    wrong = sorted(
        f"{path}: {name}"
        for path, names in imports_of(part).items()
        for name in names
        if (used := part_of(name)) is not None and used != part and used not in ALLOWED[part]
    )
    assert wrong == [], f"{part}/ may import only {sorted(ALLOWED[part])}"


def test_the_allowed_arrows_have_no_cycle():
    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in ALLOWED[start])

    assert [p for p in PARTS if reaches(p, p)] == []


def test_every_part_is_a_folder_with_a_package():
    assert [p for p in PARTS if not (ROOT / p / "__init__.py").exists()] == []
    assert sorted(p.name for p in (ROOT / "variance").iterdir() if p.name != "__pycache__") == [
        "__init__.py",
        "__main__.py",
    ]


def test_core_has_no_io_and_no_beam():
    assert offenders("core", (*IO_LIBRARIES, "apache_beam")) == []


def test_transforms_use_only_the_core_and_beam():
    assert offenders("transforms", IO_LIBRARIES) == []


@pytest.mark.parametrize("part", ["api", "workspace", "appdb", "serving"])
def test_the_app_side_never_imports_beam(part):
    assert offenders(part, ("apache_beam",)) == []


@pytest.mark.parametrize("folder", [*PARTS, "bench"])
def test_nothing_outside_tests_imports_tests(folder):
    assert offenders(folder, ("tests",)) == []


def test_the_readme_layout_table_lists_every_folder():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_]+)/` \|", section, flags=re.MULTILINE))
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    folders = {line.split("/", 1)[0] for line in tracked.splitlines() if "/" in line and not line.startswith(".")}
    assert listed == folders


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff(args):
    result = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_type_checker_is_clean_over_core_transforms_and_pipelines():
    """What ``make lint`` runs: mypy over the linked tree of the strict editable install."""
    (linked,) = (ROOT / "build").glob("__editable__.*")
    command = [
        sys.executable,
        "-m",
        "mypy",
        "-p",
        "variance.core",
        "-p",
        "variance.transforms",
        "-p",
        "variance.pipelines",
    ]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MYPYPATH": str(linked)}
    )
    assert result.returncode == 0, result.stdout + result.stderr
