"""The rows an event or a milestone change produces, built the same way by the
organisation-wide reference engine (``engine.py``) and the keyed one (``keyed.py``)."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from variance.core.engine.config import MilestoneSpec, OrgConfig
from variance.core.engine.matching import stream_matches
from variance.core.events import EventKind, SignalEvent
from variance.core.filters import matches as filters_match
from variance.core.identity import AccountLink, account_link_of
from variance.core.milestone_engine import Change
from variance.core.rows import (
    AccountRecord,
    ActivityRecord,
    ContactAccountLinkRecord,
    ContactRecord,
    EventRecord,
    IdentityLinkRecord,
    MilestoneChangeRecord,
    StreamMatchRecord,
)
from variance.core.vocabulary import EntityType
from variance.core.warehouse import Row, stable_hash

Clock = Callable[[], int]
_MILESTONE = EventKind.milestone.value


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def counts_for(spec: MilestoneSpec, event: SignalEvent) -> bool:
    """Whether the milestone counts the event (kind, name, property filters)."""
    kind = event.kind
    if kind is None or kind.value != spec.kind:
        return False
    if spec.event_name is not None and spec.event_name != event.event_name:
        return False
    return filters_match(spec.filters, event.filter_properties)


def event_record(org_id: str, event: SignalEvent, contact: str | None, account: str | None, now: int) -> EventRecord:
    kind = event.kind
    return EventRecord(
        org_id=org_id,
        message_id=event.message_id,
        connection_id=event.connection_id,
        connection_name=event.connection_name,
        type=event.type,
        kind=kind.value if kind else None,
        name=event.event_name,
        event_time=event.event_time,
        received_at=event.received_at,
        user_id=event.user_id,
        anonymous_id=event.anonymous_id,
        contact_id=contact,
        account_id=account,
        group_id=event.group_id,
        properties=_json(event.properties),
        traits=_json(event.traits),
        context=_json(event.context),
        raw=_json(event.raw),
        recorded_at=now,
    )


def contact_record(org_id: str, event: SignalEvent, contact: str, now: int) -> ContactRecord:
    traits = event.traits
    email = traits.get("email") if isinstance(traits.get("email"), str) else None
    name = traits.get("name") if isinstance(traits.get("name"), str) else None
    if name is None and isinstance(traits.get("firstName"), str):
        name = " ".join(str(traits[k]) for k in ("firstName", "lastName") if isinstance(traits.get(k), str))
    return ContactRecord(
        org_id=org_id,
        contact_id=contact,
        message_id=event.message_id,
        event_time=event.event_time,
        user_id=event.user_id,
        anonymous_id=event.anonymous_id,
        name=name,
        email=email.strip().lower() if email else None,
        traits=_json(traits),
        recorded_at=now,
    )


def identity_link_record(org_id: str, anonymous_id: str, user_id: str, event: SignalEvent, now: int) -> Row:
    return IdentityLinkRecord(
        org_id=org_id,
        anonymous_id=anonymous_id,
        user_id=user_id,
        linked_at=event.event_time,
        message_id=event.message_id,
        recorded_at=now,
    ).as_row()


def account_rows(org_id: str, link: AccountLink, contact: str | None, event: SignalEvent, now: int) -> list[Row]:
    """The account a call names, and the contact's link to it."""
    rows = [
        AccountRecord(
            org_id=org_id,
            account_id=link.account_id,
            message_id=event.message_id,
            event_time=event.event_time,
            name=link.name,
            domain=link.domain,
            traits=_json(link.traits),
            source=link.method,
            recorded_at=now,
        ).as_row()
    ]
    if contact is not None:
        rows.append(
            ContactAccountLinkRecord(
                org_id=org_id,
                contact_id=contact,
                account_id=link.account_id,
                linked_at=event.event_time,
                message_id=event.message_id,
                method=link.method,
                recorded_at=now,
            ).as_row()
        )
    return rows


def activity_rows(org_id: str, event: SignalEvent, contact: str | None, account: str | None) -> list[Row]:
    rows = []
    kind = event.kind
    assert kind is not None
    for entity_type, entity_id in ((EntityType.contact.value, contact), (EntityType.account.value, account)):
        if entity_id is not None:
            rows.append(
                ActivityRecord(
                    org_id=org_id,
                    entity_type=entity_type,
                    entity_id=entity_id,
                    kind=kind.value,
                    name=event.event_name or "",
                    event_time=event.event_time,
                ).as_row()
            )
    return rows


def match_record(
    org_id: str,
    stream_id: str,
    message_id: str,
    event_time: int,
    kind: str,
    name: str | None,
    contact: str | None,
    account: str | None,
    matched_by: str,
    status: str,
    now: int,
) -> StreamMatchRecord:
    return StreamMatchRecord(
        org_id=org_id,
        stream_id=stream_id,
        message_id=message_id,
        event_time=event_time,
        kind=kind,
        name=name,
        contact_id=contact,
        account_id=account,
        matched_by=matched_by,
        status=status,
        recorded_at=now,
    )


def event_match_rows(
    config: OrgConfig, event: SignalEvent, contact: str | None, account: str | None, status: str, now: int
) -> list[Row]:
    """The event's stream matches."""
    kind = event.kind
    assert kind is not None
    return [
        match_record(
            config.org_id,
            match.stream_id,
            event.message_id,
            event.event_time,
            kind.value,
            event.event_name,
            contact,
            account,
            match.matched_by,
            status,
            now,
        ).as_row()
        for match in stream_matches(
            config,
            kind=kind.value,
            name=event.event_name,
            connection_name=event.connection_name,
            properties=event.filter_properties,
            contact_id=contact,
            account_id=account,
        )
    ]


def change_record(
    org_id: str, spec: MilestoneSpec, entity: str, change: Change, status: str, source: str, now: int
) -> MilestoneChangeRecord:
    change_id = stable_hash(org_id, spec.id, str(spec.version), spec.entity, entity, change.kind, str(change.at_us))
    return MilestoneChangeRecord(
        org_id=org_id,
        change_id=change_id,
        milestone_id=spec.id,
        milestone_version=spec.version,
        milestone_name=spec.name,
        entity_type=spec.entity,
        entity_id=entity,
        kind=change.kind,
        changed_at=change.at_us,
        count=change.count,
        status=status,
        source=source,
        recorded_at=now,
    )


def change_rows(
    config: OrgConfig, spec: MilestoneSpec, entity: str, change: Change, status: str, source: str, now: int
) -> list[Row]:
    """A milestone change's row (``status``: a RowStatus value) and its stream matches
    (a change is a Milestone event)."""
    record = change_record(config.org_id, spec, entity, change, status, source, now)
    rows: list[Row] = [record.as_row()]
    contact = entity if spec.entity == EntityType.contact else None
    account = entity if spec.entity == EntityType.account else None
    properties = {"kind": change.kind, "count": change.count, "entity_type": spec.entity, "entity_id": entity}
    for match in stream_matches(
        config,
        kind=_MILESTONE,
        name=spec.name,
        connection_name=None,
        properties=properties,
        contact_id=contact,
        account_id=account,
    ):
        rows.append(
            match_record(
                config.org_id,
                match.stream_id,
                record.change_id,
                change.at_us,
                _MILESTONE,
                spec.name,
                contact,
                account,
                match.matched_by,
                status,
                now,
            ).as_row()
        )
    return rows


def account_link_for(config: OrgConfig, event: SignalEvent) -> AccountLink | None:
    """The account a call links its contact to, under its connection's account mapping."""
    connection = config.connections.get(event.connection_id)
    if connection is None:
        return None
    return account_link_of(event, connection.mapping, connection.account_id_trait, connection.account_name_trait)
