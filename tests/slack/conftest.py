"""Fixtures for Slack: a workspace with a Slack-connected stream in a migrated app database
(SQLite and PostgreSQL), the fake Slack over real HTTP, and a sender pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.fake_slack import TOKEN, Channel, FakeSlack
from variance.appdb.session import make_engine, session_factory
from variance.core.settings import Settings
from variance.samples.workspace import Workspace
from variance.slack.outbox import OutboxEntry, record
from variance.slack.sender import Sender

T0 = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z in microseconds


@dataclass
class SlackSetup:
    settings: Settings
    sessions: sessionmaker[Session]
    workspace: Workspace
    stream_id: str

    def record(self, *entries: OutboxEntry) -> int:
        with self.sessions() as session, session.begin():
            return record(session, entries)

    def sender(self, **options) -> Sender:
        return Sender(self.settings, self.sessions, **options)


def match(message_id: str, *, stream_id: str, org_id: str, **fields) -> dict:
    """A current stream match as the pipeline writes it."""
    return {
        "org_id": org_id,
        "stream_id": stream_id,
        "message_id": message_id,
        "event_time": T0,
        "kind": "Action",
        "name": "Invited User",
        "contact_id": "u1",
        "account_id": "acme",
        "matched_by": "follow",
        "status": "current",
        "recorded_at": T0,
    } | fields


def entry(setup: SlackSetup, message_id: str, *, properties=None, channel: str = "C0SIGNALS", **fields) -> OutboxEntry:
    row = match(message_id, stream_id=setup.stream_id, org_id=setup.workspace.org_id, **fields)
    payload = {"match": row, "stream_name": "Acme watch", "channel_name": "#signals", "properties": properties}
    return OutboxEntry(row["org_id"], row["stream_id"], message_id, channel, payload | {"milestone": None})


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    channels = [
        Channel("C0SIGNALS", "signals"),
        Channel("C0GENERAL", "general"),
        Channel("C0OUT", "outside", is_member=False),
    ]
    with FakeSlack(channels=channels, per_channel_rate=1.0, per_channel_burst=3) as fake:
        yield fake


@pytest.fixture
def make_setup(database_url, tmp_path) -> Callable[..., SlackSetup]:
    """A workspace ("Acme", a stream "Acme watch" posting to #signals) with these settings."""
    engines = []

    def made(**env: str) -> SlackSetup:
        base = {
            "VARIANCE_DATA_DIR": str(tmp_path / "data"),
            "VARIANCE_DATABASE_URL": database_url,
            "VARIANCE_PUBLIC_URL": "https://variance.example",
        }
        workspace = Workspace.create(base, "Acme")
        stream = workspace.add_stream("Acme watch", slack_channel=("C0SIGNALS", "#signals"))
        env = {k: v.replace("{org}", workspace.org_id) for k, v in env.items()}
        settings = Settings(**(base | env))
        engine = make_engine(database_url)
        engines.append(engine)
        return SlackSetup(settings, session_factory(engine), workspace, stream["id"])

    yield made
    for engine in engines:
        engine.dispose()


@pytest.fixture
def slack_setup(make_setup, fake_slack) -> SlackSetup:
    """The organisation posts with the single-team token to the fake Slack."""
    return make_setup(
        VARIANCE_SLACK_TOKEN=TOKEN, VARIANCE_SLACK_TOKEN_ORG="{org}", VARIANCE_SLACK_API_URL=fake_slack.url
    )
