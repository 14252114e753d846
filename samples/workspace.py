"""One workspace builder: an organisation with its connections, users, milestones,
streams and follows, made through the same workspace functions (and so the same rules)
the ``variance`` command and the API call. ``make demo``, the end-to-end tests and the
benchmarks all build their workspaces here.

    workspace = Workspace.create(env, "Acme")
    web = workspace.add_connection("web", mapping="group")
    workspace.add_milestone("PQL", event="Invited User", threshold=2, window="30d")
    watch = workspace.add_stream("Acme watch", slack_channel=("C0ACME", "#acme"))
    workspace.follow("account", "acme", stream=watch["id"])

``env`` holds the settings, as the processes of the stack get them (``VARIANCE_DATA_DIR``,
``VARIANCE_DATABASE_URL``, ...). Each ``add_*`` commits, then returns what the matching
``variance`` command prints (the secret of a connection and the token of a user are
shown only then) and keeps it by name (``workspace.streams["Acme watch"]``). Streams and
follows are made as the first admin unless ``user`` names another user.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from variance.appdb.session import make_engine, migrate, session_factory
from variance.core.settings import Settings

ADMIN_INVITES = [{"path": "role", "op": "equals", "value": "admin"}]
PRICING_PAGES = [{"kind": "Page", "filters": [{"path": "path", "op": "starts_with", "value": "/pricing"}]}]


def _settings(env: dict[str, str]) -> Settings:
    return Settings(**env)  # what env does not say comes from the environment, as in a process


@contextmanager
def _transaction(env: dict[str, str]) -> Iterator[Session]:
    engine = make_engine(_settings(env).resolved_database_url)
    try:
        with session_factory(engine)() as session, session.begin():
            yield session
    finally:
        engine.dispose()


def _json(value: BaseModel) -> dict:
    return value.model_dump(mode="json")


class Workspace:
    def __init__(self, env: dict[str, str], org: dict):
        self.env = env
        self.org = org
        self.connections: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.milestones: dict[str, dict] = {}
        self.streams: dict[str, dict] = {}
        self.follows: list[dict] = []
        self.tags: dict[str, dict] = {}
        self.views: dict[str, dict] = {}

    @classmethod
    def create(
        cls, env: dict[str, str], name: str = "Acme", *, admin_name: str = "Admin", admin_email: str | None = None
    ) -> Workspace:
        """A new organisation and its first admin, in an app database migrated first."""
        from variance.workspace.orgs import create_org

        engine = make_engine(_settings(env).resolved_database_url)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        with _transaction(env) as session:
            created = create_org(session, name, admin_name, *([admin_email] if admin_email else []))
            org = {
                "org_id": created.org.id,
                "name": created.org.name,
                "admin_user_id": created.admin.id,
                "admin_token": created.token,
            }
        return cls(env, org)

    @property
    def org_id(self) -> str:
        return self.org["org_id"]

    @property
    def admin_token(self) -> str:
        return self.org["admin_token"]

    @property
    def connection(self) -> dict:
        """The first connection (most workspaces have one)."""
        return next(iter(self.connections.values()))

    def add_connection(
        self,
        name: str = "web",
        *,
        mapping: str = "group",
        account_id_trait: str | None = None,
        account_name_trait: str | None = None,
    ) -> dict:
        from variance.workspace.connections import create_connection
        from variance.workspace.schemas.connections import ConnectionCreate

        body = ConnectionCreate(
            name=name, mapping=mapping, account_id_trait=account_id_trait, account_name_trait=account_name_trait
        )
        with _transaction(self.env) as session:
            self.connections[name] = _json(
                create_connection(session, self.org_id, body, _settings(self.env).public_url)
            )
        return self.connections[name]

    def add_user(self, name: str, email: str, *, role: str = "member") -> dict:
        from variance.workspace.schemas.users import UserCreate
        from variance.workspace.users import create_user

        with _transaction(self.env) as session:
            self.users[name] = _json(create_user(session, self.org_id, UserCreate(name=name, email=email, role=role)))
        return self.users[name]

    def set_password(self, email: str, password: str) -> None:
        """What ``variance users set-password --email`` does: the user signs in to the web app."""
        from sqlalchemy import select

        from variance.appdb.models import User
        from variance.workspace.sign_in import set_password

        with _transaction(self.env) as session:
            user = session.scalar(select(User).where(User.org_id == self.org_id, User.email == email.lower()))
            if user is None:
                raise ValueError(f"email: no user {email!r} in organisation {self.org_id}")
            set_password(session, user, password)

    def add_milestone(
        self,
        name: str,
        *,
        threshold: int,
        entity: str = "account",
        kind: str = "Action",
        event: str | None = None,
        filters: list[dict] | None = None,
        window: str | None = None,
    ) -> dict:
        from variance.workspace import milestones
        from variance.workspace.schemas.milestones import MilestoneCreate

        body = MilestoneCreate(
            name=name,
            entity=entity,
            event={"kind": kind, "name": event} if event else {"kind": kind},
            filters=filters or [],
            threshold=threshold,
            window=window,
        )
        with _transaction(self.env) as session:
            created = milestones.create_milestone(session, self.org_id, body)
            self.milestones[name] = _json(milestones.describe(session, created))
        return self.milestones[name]

    def add_stream(
        self,
        name: str,
        *,
        type_: str = "accounts_contacts",
        visibility: str = "team",
        selectors: list[dict] | None = None,
        slack_channel: tuple[str, str] | None = None,
        user: str | None = None,
    ) -> dict:
        """A stream; ``slack_channel`` is (channel id, channel name)."""
        from variance.workspace import streams
        from variance.workspace.orgs import act_as
        from variance.workspace.schemas.streams import StreamCreate

        body = StreamCreate(
            name=name,
            type=type_,
            visibility=visibility,
            selectors=selectors or [],
            slack_channel={"id": slack_channel[0], "name": slack_channel[1]} if slack_channel else None,
        )
        with _transaction(self.env) as session:
            principal = act_as(session, self.org_id, user)
            created = streams.create_stream(session, principal, body)
            self.streams[name] = _json(streams.describe(session, principal, created))
        return self.streams[name]

    def add_tag(self, name: str, *, entity: str = "account", definition: dict) -> dict:
        """A smart tag (``variance tags create``), defined as the admins do."""
        from variance.workspace import tags
        from variance.workspace.schemas.tags import TagCreate

        body = TagCreate(name=name, entity=entity, definition=definition)
        with _transaction(self.env) as session:
            self.tags[name] = _json(tags.describe(session, tags.create_tag(session, self.org_id, body)))
        return self.tags[name]

    def add_view(
        self, name: str, *, entity: str = "account", visibility: str = "team", definition: dict, user: str | None = None
    ) -> dict:
        """A view (``variance views create``); team views are made by an admin."""
        from variance.workspace import views
        from variance.workspace.orgs import act_as
        from variance.workspace.schemas.tags import ViewCreate

        body = ViewCreate(name=name, entity=entity, visibility=visibility, definition=definition)
        with _transaction(self.env) as session:
            principal = act_as(session, self.org_id, user)
            self.views[name] = _json(views.describe(session, principal, views.create_view(session, principal, body)))
        return self.views[name]

    def follow(self, entity_type: str, entity_id: str, *, stream: str | None = None, user: str | None = None) -> Any:
        """Follow an account or contact into ``stream`` (an id), else into the user's
        default stream."""
        from variance.workspace.follows import follow
        from variance.workspace.orgs import act_as
        from variance.workspace.schemas.streams import FollowCreate

        body = FollowCreate(entity_type=entity_type, entity_id=entity_id, stream_ids=[stream] if stream else [])
        with _transaction(self.env) as session:
            followed = _json(follow(session, act_as(session, self.org_id, user), body))
        self.follows.append(followed)
        return followed


def demo_workspace(env: dict[str, str], name: str = "Demo Co") -> Workspace:
    """The demo's organisation: a connection "web app" mapping accounts by group calls;
    a PQL milestone (2 admin invites in 30 days, per account); a stream "Acme watch" that
    follows the account acme and posts to #acme; a stream "Pricing" of pricing pages."""
    workspace = Workspace.create(env, name, admin_name="Ada")
    workspace.add_connection("web app", mapping="group")
    workspace.add_milestone("PQL", event="Invited User", filters=ADMIN_INVITES, threshold=2, window="30d")
    watch = workspace.add_stream("Acme watch", slack_channel=("C0ACME", "#acme"))
    workspace.follow("account", "acme", stream=watch["id"])
    workspace.add_stream("Pricing", type_="event_type", selectors=PRICING_PAGES)
    return workspace


SELLER = ("Sam Seller", "sam@demo-co.example")
ADMIN = ("Ada Admin", "ada@demo-co.example")
UPGRADES = [{"kind": "Action", "name": "Upgraded Plan"}]
ENTERPRISE = {
    "type": "group",
    "match": "all",
    "conditions": [{"type": "trait", "filter": {"path": "plan", "op": "equals", "value": "enterprise"}}],
}


def showcase_workspace(env: dict[str, str], follow: list[str], name: str = "Demo Co") -> Workspace:
    """``make demo``'s organisation, for the traffic of ``variance.samples.traffic``: a
    connection "web app" (accounts from group calls); an admin and a seller (``SELLER``,
    a member) whose default stream follows the accounts ``follow``; a windowed milestone
    PQL (5 admin invites in 7 days) and an unwindowed one, Onboarded (3 integrations
    connected); a team Event Type stream "Upgrades" posting to #upgrades; a smart tag
    "Enterprise" (the plan trait) and a team view "Enterprise PQLs" (the tag and PQL)."""
    workspace = Workspace.create(env, name, admin_name=ADMIN[0], admin_email=ADMIN[1])
    workspace.add_connection("web app", mapping="group")
    seller = workspace.add_user(*SELLER, role="member")
    pql = workspace.add_milestone("PQL", event="Invited User", filters=ADMIN_INVITES, threshold=5, window="7d")
    workspace.add_milestone("Onboarded", event="Connected Integration", threshold=3)
    workspace.add_stream("Upgrades", type_="event_type", selectors=UPGRADES, slack_channel=("C0UPGRADES", "#upgrades"))
    for account_id in follow:
        workspace.follow("account", account_id, user=seller["id"])
    tag = workspace.add_tag("Enterprise", definition=ENTERPRISE)
    workspace.add_view(
        "Enterprise PQLs",
        definition={
            "type": "group",
            "match": "all",
            "conditions": [
                {"type": "tag", "tag_id": tag["id"], "has": True},
                {"type": "milestone", "milestone_id": pql["id"], "status": "achieved"},
            ],
        },
    )
    return workspace
