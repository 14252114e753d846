"""Fixtures shared by the whole suite: databases (SQLite and PostgreSQL), Google's
Pub/Sub emulator, and isolated settings."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from variance.clients.emulator import Emulator, free_port, start_emulator
from variance.core.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get("VARIANCE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server the machine runs; the suite fails loudly if it is missing."""
    engine = create_engine(POSTGRES_ADMIN_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc}); start it or set VARIANCE_TEST_POSTGRES"
        )
    finally:
        engine.dispose()
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database per test, dropped afterwards."""
    name = f"variance_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    url = postgres_server.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """Each database test runs on both back ends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def emulator(tmp_path_factory) -> Iterator[Emulator]:
    """One Pub/Sub emulator for the session; tests isolate themselves by topic name."""
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    running = start_emulator(free_port(), log_path=log)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def settings_for(tmp_path):
    """Settings isolated in tmp_path, with a topic of the test's own."""

    def make(**env: str) -> Settings:
        base = {
            "VARIANCE_DATA_DIR": str(tmp_path / "data"),
            "VARIANCE_EVENTS_TOPIC": f"events-{uuid.uuid4().hex[:8]}",
            "VARIANCE_EVENTS_SUBSCRIPTION": f"pipeline-{uuid.uuid4().hex[:8]}",
        }
        base.update(env)
        return Settings(**base)

    return make


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """The reliability suite's figures (tests/reliability/conftest.py), in a section of
    the closing summary. Here, not in that folder's conftest: with pytest-xdist only this
    process writes the summary, and it loads no conftest below this one."""
    figures = "reliability figures"
    lines = [
        f"{report.nodeid.rsplit('::', 1)[-1]}: {value}"
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if report.when == "call"
        for name, value in report.user_properties
        if name == figures
    ]
    if lines:
        terminalreporter.section(figures)
        for line in lines:
            terminalreporter.write_line(line)
