"""The web app in process (FastAPI's TestClient) over a real database, signed in through
the real session machinery."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.support.fake_slack import TOKEN, Channel, FakeSlack
from variance.api.app import create_app
from variance.appdb.models import User
from variance.appdb.session import make_engine, migrate, session_factory
from variance.web.sessions import COOKIE
from variance.workspace import sign_in
from variance.workspace.orgs import create_org
from variance.workspace.principals import Principal
from variance.workspace.schemas.users import UserCreate
from variance.workspace.users import create_user

PASSWORD = "correct horse battery"


@dataclass
class Browserless:
    """One org with an admin; ``as_user`` gives a client signed in as a given user."""

    app: object
    org_id: str
    admin_id: str
    admin_token: str = ""  # the admin's API token, for the API's routes
    _n: int = 0

    def sessions(self):
        return self.app.state.sessions()

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="http://testserver", follow_redirects=False)

    def new_org(self, name: str = "Other") -> tuple[str, str]:
        with self.sessions() as session, session.begin():
            created = create_org(session, name, admin_name="Olga", admin_email="olga@other.example")
            return created.org.id, created.admin.id

    def new_user(self, name: str = "Mia", role: str = "member", org_id: str | None = None) -> str:
        self._n += 1
        with self.sessions() as session, session.begin():
            body = UserCreate(name=name, email=f"{name.lower()}.{self._n}@example.com", role=role)
            return create_user(session, org_id or self.org_id, body).id

    def signed_in(self, user_id: str | None = None) -> tuple[TestClient, str]:
        """A client with a live session cookie for the user (the admin by default), and its CSRF token."""
        with self.sessions() as session, session.begin():
            user = session.get(User, user_id or self.admin_id)
            started = sign_in.start_session(session, user)
        client = self.client()
        client.cookies.set(COOKIE, started.cookie)
        return client, started.csrf_token

    def invite_link(self, user_id: str) -> str:
        with self.sessions() as session, session.begin():
            admin = session.get(User, self.admin_id)
            return sign_in.issue_link(session, Principal(admin.org_id, admin.id, admin.role), user_id).path()

    def insert(self, *rows) -> None:
        with self.sessions() as session, session.begin():
            session.add_all(rows)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def form_token_of(html: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', html).group(1)


def _harness(settings, *, slack_for_org: bool = False) -> Iterator[Browserless]:
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    with session_factory(engine)() as session, session.begin():
        created = create_org(session, "Acme")
        org_id, admin_id, token = created.org.id, created.admin.id, created.token
    engine.dispose()
    if slack_for_org:  # the configured single-team token posts for Acme (its org id known only now)
        settings = settings.model_copy(update={"slack_token_org": org_id})
    app = create_app(settings)
    with TestClient(app):  # runs the lifespan (publisher, engine disposal)
        yield Browserless(app=app, org_id=org_id, admin_id=admin_id, admin_token=token)


@pytest.fixture
def web(emulator, settings_for, tmp_path) -> Iterator[Browserless]:
    settings = settings_for(
        PUBSUB_EMULATOR_HOST=emulator.emulator_host, VARIANCE_DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}"
    )
    yield from _harness(settings)


@pytest.fixture
def web_on(emulator, settings_for, database_url) -> Iterator[Browserless]:
    settings = settings_for(PUBSUB_EMULATOR_HOST=emulator.emulator_host, VARIANCE_DATABASE_URL=database_url)
    yield from _harness(settings)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    channels = [
        Channel("C0SIGNALS", "signals"),
        Channel("C0SALES", "sales-signals"),
        Channel("C0GENERAL", "general"),
        Channel("C0VIP", "vip-deals", is_private=True, is_member=False),
    ]
    with FakeSlack(channels=channels) as fake:
        yield fake


@pytest.fixture
def web_with_slack(emulator, settings_for, tmp_path, fake_slack) -> Iterator[Browserless]:
    """Acme's Slack is connected (the configured token) to the fake Slack."""
    settings = settings_for(
        PUBSUB_EMULATOR_HOST=emulator.emulator_host,
        VARIANCE_DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}",
        VARIANCE_SLACK_TOKEN=TOKEN,
        VARIANCE_SLACK_API_URL=fake_slack.url,
    )
    yield from _harness(settings, slack_for_org=True)
