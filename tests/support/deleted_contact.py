"""A workspace whose lake and serving tables hold two contacts of one account, one of
whom (``u1``) will be deleted: the fixture builder of the contact deletion tests.

``u1`` joins ``acme`` by a group call, is identified with the anonymousId ``visitor``
(whose visit before that, ``p0``, and invite after, ``t2``, are u1's), invites twice and
views two pages; ``u2`` joins ``acme``, is identified with ``laptop``, invites once and
views two pages. Milestones: PQL (account, 2 invites, no window), reached only thanks to
u1's invites; Engaged (contact, 2 pages), reached by both. The team stream follows the
account acme and the contact u1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from variance.core.engine.batch import run_batch
from variance.core.events import SignalEvent
from variance.core.rows import ACTIVITY
from variance.core.settings import Settings
from variance.core.warehouse import Row
from variance.samples.workspace import Workspace

HOUR = 3_600_000_000
DAY = 24 * HOUR
NOW = 1_800_000_000_000_000

U1_MESSAGES = {"g1", "i1", "p0", "t1", "t2", "p1", "p4"}
U2_MESSAGES = {"g2", "i2", "t3", "p2", "p3"}


@dataclass
class DeletedContactScenario:
    env: dict[str, str]
    settings: Settings
    workspace: Workspace
    stream_id: str
    events: list[SignalEvent]
    rows: list[Row]  # what the batch engine wrote for every event

    @property
    def org_id(self) -> str:
        return self.workspace.org_id


def calls(org_id: str, connection_id: str) -> list[SignalEvent]:
    def call(kind: str, message_id: str, hours_ago: float, **kw) -> SignalEvent:
        t = NOW - int(hours_ago * HOUR)
        return SignalEvent(org_id, connection_id, "web", message_id, kind, t, t, **kw)

    return [
        call("page", "p0", 12, anonymous_id="visitor", name="Home"),
        call("group", "g1", 11, user_id="u1", group_id="acme", traits={"name": "Acme"}),
        call("identify", "i1", 10, user_id="u1", anonymous_id="visitor", traits={"email": "ada@acme.com"}),
        call("track", "t1", 9, user_id="u1", name="Invited User"),
        call("track", "t2", 8, anonymous_id="visitor", name="Invited User"),
        call("page", "p1", 7, user_id="u1", name="Pricing"),
        call("page", "p4", 6.5, user_id="u1", name="Docs"),
        call("group", "g2", 6, user_id="u2", group_id="acme", traits={"name": "Acme"}),
        call("identify", "i2", 5, user_id="u2", anonymous_id="laptop", traits={"email": "grace@acme.com"}),
        call("track", "t3", 4, user_id="u2", name="Invited User"),
        call("page", "p2", 3, user_id="u2", name="Pricing"),
        call("page", "p3", 2, user_id="u2", name="Docs"),
    ]


def build(tmp_path: Path, *, database_url: str | None = None) -> DeletedContactScenario:
    """The workspace in the app database and the engine's rows; nothing written yet."""
    from variance.pipelines.config_source import AppDatabaseConfig

    env = {"VARIANCE_DATA_DIR": str(tmp_path / "data")}
    if database_url:
        env["VARIANCE_DATABASE_URL"] = database_url
    workspace = Workspace.create(env, "Acme")
    workspace.add_connection("web", mapping="group")
    workspace.add_milestone("PQL", event="Invited User", threshold=2)
    workspace.add_milestone("Engaged", entity="contact", kind="Page", threshold=2)
    stream = workspace.add_stream("Acme")
    workspace.follow("account", "acme", stream=stream["id"])
    workspace.follow("contact", "u1", stream=stream["id"])
    settings = Settings(**env)
    events = calls(workspace.org_id, workspace.connection["id"])
    config = AppDatabaseConfig(settings.resolved_database_url)(workspace.org_id)
    rows = [r for r in run_batch(config, events, NOW, 3 * DAY) if r[0] != ACTIVITY]
    return DeletedContactScenario(env, settings, workspace, stream["id"], events, rows)


def write_lake(scenario: DeletedContactScenario) -> None:
    from variance.warehouse.local import LakeWriter

    writer = LakeWriter(scenario.settings.lake_dir, compact_every_s=None)
    writer.append(scenario.rows)
    writer.close()


def fill_serving(scenario: DeletedContactScenario) -> None:
    """The serving tables as the pipeline's start-up leaves them, from the lake."""
    from variance.appdb.session import make_engine, session_factory
    from variance.pipelines.restore import serving_tables
    from variance.serving import rebuild
    from variance.warehouse.local import LakeReader

    engine = make_engine(scenario.settings.resolved_database_url)
    try:
        with session_factory(engine)() as session, session.begin():
            rebuild(session, scenario.org_id, serving_tables(LakeReader(scenario.settings.lake_dir), scenario.org_id))
    finally:
        engine.dispose()
