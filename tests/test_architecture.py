"""The arrows between parts stay one-way (DESIGN.md), and the code stays lint-clean."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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


def test_core_has_no_io_and_depends_on_nothing_else():
    forbidden = (
        *IO_LIBRARIES,
        "apache_beam",
        "variance.api",
        "variance.transforms",
        "variance.pipelines",
        "variance.appdb",
        "variance.clients.pubsub",
    )
    assert offenders("core", forbidden) == []


def test_transforms_use_only_the_core_and_beam():
    forbidden = (
        *IO_LIBRARIES,
        "variance.api",
        "variance.pipelines",
        "variance.appdb",
        "variance.clients.pubsub",
        "variance.warehouse",
    )
    assert offenders("transforms", forbidden) == []


def test_the_api_never_imports_beam_or_the_pipeline():
    assert offenders("api", ("apache_beam", "variance.transforms", "variance.pipelines")) == []


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff(args):
    result = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
