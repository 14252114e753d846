"""Helpers for the offline checks of infra/: the Terraform files parsed by python-hcl2, and
the repository's infra programs loaded as modules. (A module of its own rather than the
conftest, which tests cannot import by name: every test folder has a ``conftest``.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TERRAFORM = INFRA / "terraform"


def load_infra_module(relative: str, name: str):
    """A file under infra/ as a module (infra/ is not a package: it is not installed)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, INFRA / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def unquote(value):
    """python-hcl2 8 keeps string literals quoted (and block labels too): drop that."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def plain(value):
    """A parsed HCL value with quotes removed and python-hcl2's block markers dropped."""
    if isinstance(value, dict):
        return {unquote(k): plain(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return unquote(value)


class Configuration:
    """The whole Terraform configuration as python-hcl2 parsed it, file by file."""

    def __init__(self, directory: Path):
        import hcl2

        self.files: dict[str, dict] = {}
        self.text: dict[str, str] = {}
        for path in sorted(directory.glob("*.tf")):
            self.text[path.name] = path.read_text(encoding="utf-8")
            with path.open(encoding="utf-8") as handle:
                self.files[path.name] = plain(hcl2.load(handle))

    def blocks(self, kind: str) -> list[tuple[str, dict]]:
        return [(name, block) for name, tree in self.files.items() for block in tree.get(kind, [])]

    @property
    def resources(self) -> dict[str, dict]:
        """``type.name`` -> attributes, over every file."""
        found = {}
        for _file, block in self.blocks("resource"):
            for type_, named in block.items():
                for name, body in named.items():
                    found[f"{type_}.{name}"] = body
        return found

    def resource(self, address: str) -> dict:
        return self.resources[address]

    def of_type(self, type_: str) -> dict[str, dict]:
        return {a.split(".", 1)[1]: body for a, body in self.resources.items() if a.split(".")[0] == type_}

    @property
    def variables(self) -> dict[str, dict]:
        return {name: body for _f, block in self.blocks("variable") for name, body in block.items()}

    @property
    def outputs(self) -> dict[str, dict]:
        return {name: body for _f, block in self.blocks("output") for name, body in block.items()}

    @property
    def locals(self) -> dict:
        merged: dict = {}
        for _f, block in self.blocks("locals"):
            merged.update(block)
        return merged
