"""Fixtures for the sink tests: the process's shared writers closed after each test, and
settings whose app database is migrated."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from variance.appdb.session import make_engine, migrate
from variance.core.settings import Settings
from variance.pipelines.sinks import close_writers


@pytest.fixture(autouse=True)
def closed_writers() -> Iterator[None]:
    """The process's shared writers are closed after each test."""
    yield
    close_writers()


@pytest.fixture
def migrate_app_database():
    """Create ``settings``' data folder and bring its app database to the newest migration."""

    def migrated(settings: Settings) -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        engine.dispose()

    return migrated


@pytest.fixture
def settings(settings_for, migrate_app_database) -> Settings:
    """Settings in tmp_path with a migrated (empty) app database."""
    made = settings_for()
    migrate_app_database(made)
    return made
