"""What every subcommand shares: settings, a database transaction, options typed by the
core's vocabulary, request bodies from options, JSON output, and one-line errors that say
what to do next."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from variance.core.settings import Settings

E = TypeVar("E", bound=Enum)
M = TypeVar("M", bound=BaseModel)


class CliError(Exception):
    """Printed as one line on stderr; the process exits with ``code``."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic ValidationError: name the variable
        raise CliError(f"invalid settings: {str(exc).splitlines()[1:3]}") from None


@contextmanager
def db_session() -> Iterator[Session]:
    """A transaction on the app database, migrated to the newest schema first."""
    # Alembic (about 0.2 s to import) only for the commands that open the database, not
    # for `variance --help`, `variance warehouse ...` or `variance pipeline`.
    from variance.appdb.session import make_engine, migrate, session_factory

    engine = make_engine(settings().resolved_database_url)
    try:
        migrate(engine)
        with session_factory(engine)() as session, session.begin():
            yield session
    finally:
        engine.dispose()


def _either(values: list[str]) -> str:
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def choice(enum: type[E], default: Any, flag: str, help: str | None = None) -> Any:
    """An option typed by one of the core's enums (``variance.core.vocabulary``): ``--help``
    lists its values (``<account|contact>``), and a wrong value is a one-line error naming
    them (``--entity: must be account or contact, not 'team'``). Annotate the parameter with
    the enum; the command receives a member (or ``default``)."""
    values = [str(member.value) for member in enum]

    def parse(text: Any) -> E:
        if isinstance(text, enum):
            return text
        try:
            return enum(text)
        except ValueError:
            raise CliError(f"{flag}: must be {_either(values)}, not {text!r}") from None

    return typer.Option(default, flag, parser=parse, metavar="<" + "|".join(values) + ">", help=help)


def request_body(model: type[M], *, as_flags: bool = False, **values: Any) -> M:
    """A request body from options (None: not given), or a one-line error naming the first
    field that breaks a rule: as its option (``--account-id-trait``) when ``as_flags`` says
    that each field is an option of the same name, else as the field's path."""
    try:
        return model(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        if as_flags:
            field = "--" + str(first["loc"][0]).replace("_", "-")
        else:
            field = ".".join(str(p) for p in first["loc"]) or "input"
        raise CliError(f"{field}: {first['msg']}") from None


def json_option(text: str | None, flag: str) -> Any:
    """The JSON value of an option (None when it was not given)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{flag}: not valid JSON ({exc.msg})") from None


def collect(page: Any) -> list:
    """Every item of a paged workspace list: ``page(limit, cursor)`` returns (items, next cursor)."""
    items: list = []
    cursor = None
    while True:
        found, cursor = page(200, cursor)
        items.extend(found)
        if cursor is None:
            return items


def emit(value: Any) -> None:
    """Machine-readable output on stdout."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    sys.stdout.flush()


def say(message: str) -> None:
    """Human messages and progress on stderr, so stdout stays parseable."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
