"""The parts of the README generated from definitions, so they cannot drift from the code.

Generated text sits between two marker comments, ``<!-- NAME:start ... -->`` and
``<!-- NAME:end -->``; anything after ``NAME:start`` in the first comment is a note for the
reader (where the text comes from). ``tests/test_readme.py`` fails when a block differs from
what its generator makes: the settings table from ``Settings`` here, the benchmark tables
from ``bench/results/*.json`` in ``bench/report.py``.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import PurePath

import annotated_types
from pydantic.fields import FieldInfo

from variance.core.settings import Settings

SETTINGS_BLOCK = "settings"


class MissingBlock(ValueError):
    """The text has no ``NAME:start`` / ``NAME:end`` marker pair (or more than one)."""


def _markers(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- {re.escape(name)}:start(?: [^\n]*?)? -->\n)(.*?)(<!-- {re.escape(name)}:end -->)",
        flags=re.DOTALL,
    )


def generated_block(text: str, name: str) -> str:
    """The text between the markers of block ``name``."""
    found = _markers(name).findall(text)
    if len(found) != 1:
        raise MissingBlock(f"expected one <!-- {name}:start --> ... <!-- {name}:end --> block, found {len(found)}")
    return found[0][1]


def with_generated_block(text: str, name: str, body: str) -> str:
    """``text`` with block ``name`` replaced by ``body`` (the markers themselves kept)."""
    generated_block(text, name)  # exactly one, or a clear error
    body = body if body.endswith("\n") else body + "\n"
    return _markers(name).sub(lambda m: m.group(1) + body + m.group(3), text)


def _default(field: FieldInfo) -> str:
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, Enum):
        value = value.value
    elif isinstance(value, PurePath):
        value = f"{value}/"
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


_BOUNDS = (
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Lt, "lt", "<"),
    (annotated_types.Le, "le", "≤"),
)


def _allowed(annotation: object, field: FieldInfo) -> str:
    rules = [
        f"{sign} {getattr(item, attribute)}"
        for kind, attribute, sign in _BOUNDS
        for item in field.metadata
        if isinstance(item, kind)
    ]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        rules.append(" or ".join(f"`{member.value}`" for member in annotation))
    return ", ".join(rules)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_table(settings: type[Settings] = Settings) -> str:
    """Every environment variable of the settings definition as one Markdown table, in the
    order the definition lists them."""
    lines = ["| variable | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for name, field in settings.model_fields.items():
        if not field.alias or not field.description:
            raise ValueError(f"setting {name!r} needs an alias (its variable) and a description for the README")
        lines.append(
            f"| `{field.alias}` | {_default(field)} | {_allowed(field.annotation, field)} | {_cell(field.description)} |"
        )
    return "\n".join(lines) + "\n"
