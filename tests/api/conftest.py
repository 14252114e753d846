"""An in-process API (FastAPI's TestClient) over a real database and, for ingestion,
the real publisher against Google's Pub/Sub emulator."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from variance.api.app import create_app
from variance.appdb.session import make_engine, migrate, session_factory
from variance.clients.pubsub import ensure_subscription, publisher_client, subscriber_client
from variance.core.settings import Settings
from variance.workspace.orgs import create_org


@dataclass
class ApiHarness:
    client: TestClient
    settings: Settings
    org_id: str
    admin_token: str
    _subscriber: object = None
    _subscription: str | None = None
    pulled: list = field(default_factory=list)
    _users_made: int = 0

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def new_org(self, name: str = "Other") -> tuple[str, str]:
        with self.client.app.state.sessions() as session, session.begin():
            created = create_org(session, name)
            return created.org.id, created.token

    def new_user(self, name: str = "Mia", role: str = "member", org_id: str | None = None) -> dict:
        """A user created through the service (as an admin's invite would); includes ``token``."""
        from variance.workspace.schemas.users import UserCreate
        from variance.workspace.users import create_user

        with self.client.app.state.sessions() as session, session.begin():
            self._users_made += 1
            email = f"{name.lower().replace(' ', '.')}.{self._users_made}@example.com"
            user = create_user(session, org_id or self.org_id, UserCreate(name=name, email=email, role=role))
            return user.model_dump(mode="json")

    def insert(self, *rows) -> None:
        """Serving rows, written directly as the pipeline would."""
        with self.client.app.state.sessions() as session, session.begin():
            session.add_all(rows)

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def create_connection(self, token: str | None = None, **body) -> dict:
        body.setdefault("name", "web")
        body.setdefault("mapping", "group")
        headers = {"Authorization": f"Bearer {token}"} if token else self.admin
        response = self.client.post("/v1/connections", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    def subscribe(self) -> None:
        """Attach a subscription to the test's topic, so published messages can be read back."""
        self._subscriber = subscriber_client(self.settings)
        publisher = publisher_client(self.settings)
        with contextlib.suppress(Exception):
            publisher.create_topic(name=self.settings.topic_path)
        self._subscription = self.settings.subscription_path
        ensure_subscription(self._subscriber, self._subscription, self.settings.topic_path)

    def pull(self, expected: int, timeout: float = 10.0) -> list:
        """Pull and ack until ``expected`` messages arrived (or timeout); returns them."""
        import time

        messages = []
        deadline = time.monotonic() + timeout
        while len(messages) < expected and time.monotonic() < deadline:
            response = self._subscriber.pull(subscription=self._subscription, max_messages=100, timeout=5)
            if response.received_messages:
                self._subscriber.acknowledge(
                    subscription=self._subscription, ack_ids=[m.ack_id for m in response.received_messages]
                )
                messages.extend(m.message for m in response.received_messages)
        return messages


@pytest.fixture
def api(emulator, settings_for, tmp_path) -> Iterator[ApiHarness]:
    settings = settings_for(
        PUBSUB_EMULATOR_HOST=emulator.emulator_host,
        VARIANCE_DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}",
        VARIANCE_PUBLIC_URL="https://variance.example.com",
        VARIANCE_PUBLISH_TIMEOUT="3",
    )
    yield from _harness(settings)


@pytest.fixture
def api_on(emulator, settings_for, database_url) -> Iterator[ApiHarness]:
    """The same harness on SQLite and on PostgreSQL."""
    settings = settings_for(PUBSUB_EMULATOR_HOST=emulator.emulator_host, VARIANCE_DATABASE_URL=database_url)
    yield from _harness(settings)


def _harness(settings: Settings) -> Iterator[ApiHarness]:
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    with session_factory(engine)() as session, session.begin():
        created = create_org(session, "Acme")
        org_id, token = created.org.id, created.token
    engine.dispose()
    with TestClient(create_app(settings)) as client:
        harness = ApiHarness(client=client, settings=settings, org_id=org_id, admin_token=token)
        harness.subscribe()
        yield harness
