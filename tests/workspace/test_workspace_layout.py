"""The workspace is the one place business rules live, and it is built without cycles, so
none has to hide behind an import inside a function; the CLI calls it, never the API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Imported inside a CLI function on purpose: each is slow to load and only some commands
# need it, so `variance --help` and every other command start without it.
LAZY_FOR_START_UP = {
    "uvicorn": "the server, only for `variance api`",
    "variance.api.app": "FastAPI and the routes (over a second), only for `variance api`",
    "variance.appdb.session": "Alembic (about 0.2 s), only for commands that open the app database",
    "variance.warehouse.local": "DuckDB and pyarrow (about 0.5 s), only for the warehouse commands",
    "variance.slack": "slack_sdk, cryptography and the sender, only for `variance slack`",
}
# The pipeline, demo and dbt commands load Beam, the stack and dbt lazily and were not part of
# moving the rules out of `api/services`; they are checked by their own tests.
NOT_CHECKED = {"cli/pipeline.py", "cli/demo.py", "cli/dbt.py"}


def _module(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["variance", *parts])


def _imports(node: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import in ``node``; ``from pkg import mod`` yields ``pkg.mod``
    when ``mod`` is a module of the tree."""
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            found += [(sub.lineno, alias.name) for alias in sub.names]
        elif isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
            found.append((sub.lineno, sub.module))
            for alias in sub.names:
                found.append((sub.lineno, f"{sub.module}.{alias.name}"))
    return found


def _late_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    late: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            late += _imports(node)
    return sorted(set(late))


def _workspace_files() -> list[Path]:
    return sorted((ROOT / "workspace").rglob("*.py"))


def test_every_workspace_import_is_at_module_level():
    late = [
        f"{path.relative_to(ROOT)}:{line}: {name}" for path in _workspace_files() for line, name in _late_imports(path)
    ]
    assert late == [], "imports inside functions (a cycle hiding?):\n" + "\n".join(late)


def test_the_workspace_modules_import_each_other_without_cycles():
    modules = {_module(path): path for path in _workspace_files()}
    uses = {
        name: {imported for _, imported in _imports(ast.parse(path.read_text())) if imported in modules}
        for name, path in modules.items()
    }
    done: set[str] = set()

    def cycle_from(name: str, trail: list[str]) -> list[str] | None:
        if name in trail:
            return [*trail[trail.index(name) :], name]
        if name in done:
            return None
        for used in sorted(uses[name] - {name}):
            found = cycle_from(used, [*trail, name])
            if found:
                return found
        done.add(name)
        return None

    for name in sorted(modules):
        cycle = cycle_from(name, [])
        assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cli_imports_late_only_what_is_slow_to_load():
    late = []
    for path in sorted((ROOT / "cli").glob("*.py")):
        if path.relative_to(ROOT).as_posix() in NOT_CHECKED:
            continue
        for line, name in _late_imports(path):
            if not any(name == slow or name.startswith(slow + ".") for slow in LAZY_FOR_START_UP):
                late.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert late == [], "imports inside CLI functions that are not slow to load:\n" + "\n".join(late)


def test_the_cli_calls_the_workspace_and_imports_the_api_only_to_serve_it():
    found = []
    for path in sorted((ROOT / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        serving = {
            id(sub)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and path.name == "servers.py" and node.name == "api"
            for sub in ast.walk(node)
        }
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in serving:
                for line, name in _imports(node):
                    if name == "variance.api" or name.startswith("variance.api."):
                        found.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert found == [], "the CLI must call variance.workspace, not the API:\n" + "\n".join(found)


def test_the_rules_load_without_the_http_package():
    """A script (or the CLI) that uses the rules does not import FastAPI or the API."""
    modules = sorted(_module(p) for p in _workspace_files() if p.name != "__init__.py")
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette')"
        " or m.startswith('variance.api'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
