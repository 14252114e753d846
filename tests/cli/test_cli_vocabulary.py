"""Options that take a word of the product's vocabulary are typed by the core's enum:
``--help`` lists the values, and a wrong value is a one-line error that names them."""

from __future__ import annotations

import inspect
import typing
from enum import Enum

import pytest
from typer.testing import CliRunner

from variance.cli.common import CliError
from variance.cli.main import app
from variance.core.events import EventKind
from variance.core.vocabulary import AccountMapping, EntityType, Role, Stage, StreamType, Visibility
from variance.stack.processes import run_cli

# Every option that takes a vocabulary word, and its enum: a new one belongs here.
TYPED = {
    ("connections", "create", "--mapping"): AccountMapping,
    ("users", "create", "--role"): Role,
    ("streams", "create", "--type"): StreamType,
    ("streams", "create", "--visibility"): Visibility,
    ("follows", "add", "--entity-type"): EntityType,
    ("milestones", "create", "--entity"): EntityType,
    ("milestones", "create", "--kind"): EventKind,
    ("tags", "create", "--entity"): EntityType,
    ("tags", "list", "--entity"): EntityType,
    ("views", "create", "--entity"): EntityType,
    ("views", "create", "--visibility"): Visibility,
    ("views", "list", "--entity"): EntityType,
    ("dead-letters", "list", "--stage"): Stage,
    ("dead-letters", "replay", "--stage"): Stage,
}


def _enum_options() -> dict[tuple[str, str, str], type[Enum]]:
    """(group, command, flag) -> enum of every option of the CLI annotated with an enum."""
    found = {}
    for group in app.registered_groups:
        for command in group.typer_instance.registered_commands:
            hints = typing.get_type_hints(command.callback)
            defaults = {
                name: parameter.default for name, parameter in inspect.signature(command.callback).parameters.items()
            }
            for name, hint in hints.items():
                enums = [a for a in (typing.get_args(hint) or (hint,)) if isinstance(a, type) and issubclass(a, Enum)]
                if enums and name in defaults:
                    flag = defaults[name].param_decls[0]
                    found[(group.name, command.name, flag)] = enums[0]
    return found


def _either(enum: type[Enum]) -> str:
    values = [m.value for m in enum]
    return f"{', '.join(values[:-1])} or {values[-1]}"


def test_every_vocabulary_option_is_typed_by_its_enum():
    assert _enum_options() == TYPED


@pytest.mark.parametrize(("where", "enum"), TYPED.items(), ids=lambda v: "-".join(v) if isinstance(v, tuple) else "")
def test_help_lists_the_values_and_a_wrong_value_names_them(where, enum):
    group, command, flag = where
    runner = CliRunner()
    shown = runner.invoke(app, [group, command, "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    assert shown.exit_code == 0, shown.output
    assert "<" + "|".join(m.value for m in enum) + ">" in shown.output
    wrong = runner.invoke(app, [group, command, flag, "nope"])
    assert isinstance(wrong.exception, CliError)
    assert str(wrong.exception) == f"{flag}: must be {_either(enum)}, not 'nope'"


def test_a_wrong_mapping_is_one_line_naming_the_allowed_values(tmp_path):
    result = run_cli(["connections", "create", "--mapping", "nope"], {"VARIANCE_DATA_DIR": str(tmp_path)}, check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: --mapping: must be group, identify_traits or email_domain, not 'nope'\n"
    assert not (tmp_path / "variance.db").exists()  # refused before the database is opened
