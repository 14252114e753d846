"""An app database per test, migrated, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.serving.rows import ServingDb
from variance.appdb.session import make_engine, migrate, session_factory


@pytest.fixture
def db(database_url: str) -> Iterator[ServingDb]:
    engine = make_engine(database_url)
    migrate(engine)
    serving = ServingDb(session_factory(engine))
    serving.seed()
    try:
        yield serving
    finally:
        engine.dispose()
