"""Fixture builders for parsed events and engine configuration."""

from __future__ import annotations

from variance.core.engine.config import ConnectionSpec, MilestoneSpec, OrgConfig, SelectorSpec, StreamSpec
from variance.core.events import SignalEvent
from variance.core.filters import PropertyFilter

SEC = 1_000_000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z


def event(
    type_: str,
    message_id: str,
    t: int,
    *,
    org: str = "org_a",
    user: str | None = None,
    anon: str | None = None,
    name: str | None = None,
    properties: dict | None = None,
    traits: dict | None = None,
    group: str | None = None,
    previous: str | None = None,
    connection: str = "con_web",
    connection_name: str = "web",
) -> SignalEvent:
    raw = {"type": type_, "messageId": message_id}
    return SignalEvent(
        org_id=org,
        connection_id=connection,
        connection_name=connection_name,
        message_id=message_id,
        type=type_,
        event_time=t,
        received_at=t,
        user_id=user,
        anonymous_id=anon,
        group_id=group,
        previous_id=previous,
        name=name,
        properties=properties or {},
        traits=traits or {},
        context={"groupId": group} if group and type_ != "group" else {},
        raw=raw,
    )


def track(message_id: str, t: int, event_name: str = "Invited User", **kw) -> SignalEvent:
    return event("track", message_id, t, name=event_name, **kw)


def milestone(
    id_: str = "mil_pql",
    *,
    name: str = "PQL",
    entity: str = "account",
    kind: str = "Action",
    event_name: str | None = "Invited User",
    filters: list[dict] | None = None,
    threshold: int = 3,
    window_us: int | None = 30 * DAY,
    version: int = 1,
) -> MilestoneSpec:
    return MilestoneSpec(
        id=id_,
        name=name,
        version=version,
        entity=entity,
        kind=kind,
        event_name=event_name,
        filters=tuple(PropertyFilter.model_validate(f) for f in filters or []),
        threshold=threshold,
        window_us=window_us,
    )


def config(
    *,
    org: str = "org_a",
    mapping: str = "group",
    milestones: list[MilestoneSpec] | None = None,
    streams: list[StreamSpec] | None = None,
    follows: list[tuple[str, str, str]] | None = None,
    id_trait: str | None = None,
) -> OrgConfig:
    return OrgConfig.build(
        org,
        connections=[
            ConnectionSpec("con_web", "web", mapping, id_trait),
            ConnectionSpec("con_ios", "ios", mapping, id_trait),
        ],
        milestones=milestones or [],
        streams=streams or [],
        follows=follows or [],
    )


def selector_stream(id_: str, *selectors: SelectorSpec, channel: str | None = None) -> StreamSpec:
    return StreamSpec(id_, id_, "event_type", tuple(selectors), slack_channel_id=channel)


def follow_stream(id_: str, channel: str | None = None) -> StreamSpec:
    return StreamSpec(id_, id_, "accounts_contacts", (), slack_channel_id=channel)


def selector(
    kind: str, name: str | None = None, filters: list[dict] | None = None, connection_name: str | None = None
) -> SelectorSpec:
    return SelectorSpec(kind, name, tuple(PropertyFilter.model_validate(f) for f in filters or []), connection_name)
