"""What every subcommand shares: settings, a database transaction, JSON output, and
one-line errors that say what to do next."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from variance.core.settings import Settings


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
    from variance.appdb.session import make_engine, migrate, session_factory

    engine = make_engine(settings().resolved_database_url)
    try:
        migrate(engine)
        with session_factory(engine)() as session, session.begin():
            yield session
    finally:
        engine.dispose()


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
