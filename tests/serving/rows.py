"""Builders for the warehouse rows the signals engine emits, through the typed records
of core/rows.py (so they have exactly the schema's columns), and a view of the serving
tables for assertions."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from variance.appdb.models import Milestone, Organisation, Stream
from variance.core.rows import (
    AccountRecord,
    ContactAccountLinkRecord,
    ContactRecord,
    DailyActivityRecord,
    EventRecord,
    MilestoneChangeRecord,
    StreamMatchRecord,
)
from variance.core.timeutil import from_micros
from variance.core.vocabulary import AccountMapping, ChangeSource, EntityType, MatchedBy
from variance.core.warehouse import Row, stable_hash
from variance.serving import ServingStats, apply_rows

ORG = "org_a"
OTHER = "org_b"
SEC = 1_000_000
HOUR = 3600 * SEC
DAY = 24 * HOUR
T0 = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z


def at(us: int):
    """The datetime the serving tables hold for a time in microseconds."""
    return from_micros(us)


def _json(value) -> str:
    return orjson.dumps(value).decode()


def event(
    message_id: str,
    t: int,
    *,
    contact: str | None = "u1",
    account: str | None = None,
    kind: str | None = "Action",
    name: str | None = "Invited User",
    properties: dict | None = None,
    traits: dict | None = None,
    connection: str = "web",
    org: str = ORG,
) -> Row:
    types = {"Action": "track", "Page": "page", "Screen": "screen", "Identify": "identify", "Group": "group"}
    return EventRecord(
        org_id=org,
        message_id=message_id,
        connection_id="con_web",
        connection_name=connection,
        type=types.get(kind, "alias") if kind else "alias",
        kind=kind,
        name=name if kind == "Action" else None,
        event_time=t,
        received_at=t,
        user_id=contact,
        anonymous_id=None,
        contact_id=contact,
        account_id=account,
        group_id=None,
        properties=_json(properties or {}),
        traits=_json(traits or {}),
        context="{}",
        raw="{}",
        recorded_at=t,
    ).as_row()


def identify(message_id: str, t: int, contact: str = "u1", *, name=None, email=None, traits=None, org=ORG) -> Row:
    return ContactRecord(
        org_id=org,
        contact_id=contact,
        message_id=message_id,
        event_time=t,
        user_id=contact,
        anonymous_id=None,
        name=name,
        email=email,
        traits=_json(traits or {}),
        recorded_at=t,
    ).as_row()


def account_call(message_id: str, t: int, account: str, *, name=None, domain=None, traits=None, org=ORG) -> Row:
    return AccountRecord(
        org_id=org,
        account_id=account,
        message_id=message_id,
        event_time=t,
        name=name,
        domain=domain,
        traits=_json(traits or {}),
        source=AccountMapping.group.value,
        recorded_at=t,
    ).as_row()


def link(message_id: str, t: int, contact: str, account: str, org=ORG) -> Row:
    return ContactAccountLinkRecord(
        org_id=org,
        contact_id=contact,
        account_id=account,
        linked_at=t,
        message_id=message_id,
        method=AccountMapping.group.value,
        recorded_at=t,
    ).as_row()


def change(
    kind: str,
    t: int,
    count: int,
    *,
    entity: str = "acme",
    milestone: str = "mil_pql",
    status: str = "current",
    version: int = 1,
    recorded: int = 0,
    org: str = ORG,
) -> Row:
    change_id = stable_hash(org, milestone, str(version), "account", entity, kind, str(t))
    return MilestoneChangeRecord(
        org_id=org,
        change_id=change_id,
        milestone_id=milestone,
        milestone_version=version,
        milestone_name="PQL",
        entity_type=EntityType.account.value,
        entity_id=entity,
        kind=kind,
        changed_at=t,
        count=count,
        status=status,
        source=ChangeSource.streaming.value,
        recorded_at=recorded,
    ).as_row()


def match(
    message_id: str,
    t: int,
    *,
    stream: str = "str_a",
    status: str = "current",
    kind: str = "Action",
    name: str | None = "Invited User",
    contact: str | None = "u1",
    account: str | None = None,
    recorded: int = 0,
    org: str = ORG,
) -> Row:
    return StreamMatchRecord(
        org_id=org,
        stream_id=stream,
        message_id=message_id,
        event_time=t,
        kind=kind,
        name=name,
        contact_id=contact,
        account_id=account,
        matched_by=MatchedBy.selector.value,
        status=status,
        recorded_at=recorded,
    ).as_row()


def daily(
    entity_id: str, day: str, count: int, *, entity_type="contact", kind="Action", name="Invited User", org=ORG
) -> Row:
    return DailyActivityRecord(
        org_id=org, entity_type=entity_type, entity_id=entity_id, day=day, kind=kind, name=name, count=count
    ).as_row()


@dataclass
class ServingDb:
    """An app database with two organisations, milestone PQL (accounts, threshold 3) and
    two streams in ``org_a``, and one stream in ``org_b``."""

    sessions: sessionmaker[Session]

    def apply(self, rows, **options) -> ServingStats:
        with self.sessions() as session, session.begin():
            return apply_rows(session, list(rows), **options)

    def table(self, model, *, skip=("updated_at",)) -> list[dict]:
        """All rows of a serving table as dicts, in primary-key order."""
        columns = [c for c in model.__table__.columns if c.name not in skip]
        key = list(model.__table__.primary_key.columns)
        with self.sessions() as session:
            found = session.execute(select(*columns).order_by(*key)).all()
        return [dict(row._mapping) for row in found]

    def seed(self) -> None:
        with self.sessions() as session, session.begin():
            session.add_all([Organisation(id=ORG, name="Acme Corp"), Organisation(id=OTHER, name="Other")])
            session.flush()
            session.add(
                Milestone(
                    id="mil_pql",
                    org_id=ORG,
                    name="PQL",
                    entity="account",
                    event_kind="Action",
                    event_name="Invited User",
                    threshold=3,
                    window="1d",
                    window_seconds=86_400,
                )
            )
            for stream_id, org_id in (("str_a", ORG), ("str_b", ORG), ("str_other", OTHER)):
                session.add(Stream(id=stream_id, org_id=org_id, name=stream_id, type="event_type", visibility="team"))
