"""A snapshot of one organisation's configuration, as the engine needs it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from variance.core.filters import PropertyFilter
from variance.core.vocabulary import StreamType


@dataclass(frozen=True)
class ConnectionSpec:
    id: str
    name: str
    mapping: str
    account_id_trait: str | None = None
    account_name_trait: str | None = None


@dataclass(frozen=True)
class MilestoneSpec:
    id: str
    name: str
    version: int
    entity: str  # EntityType's value: contact | account
    kind: str
    event_name: str | None
    filters: tuple[PropertyFilter, ...]
    threshold: int
    window_us: int | None

    @property
    def definition(self) -> tuple:
        """What the milestone counts; a change means its state must be rebuilt."""
        return (self.version, self.entity, self.kind, self.event_name, self.filters, self.threshold, self.window_us)


@dataclass(frozen=True)
class SelectorSpec:
    kind: str
    name: str | None = None
    filters: tuple[PropertyFilter, ...] = ()
    connection_name: str | None = None


@dataclass(frozen=True)
class StreamSpec:
    id: str
    name: str
    type: str  # StreamType's value: accounts_contacts | event_type
    selectors: tuple[SelectorSpec, ...] = ()
    slack_channel_id: str | None = None
    slack_channel_name: str | None = None


@dataclass(frozen=True)
class OrgConfig:
    org_id: str
    connections: Mapping[str, ConnectionSpec] = field(default_factory=dict)
    milestones: Mapping[str, MilestoneSpec] = field(default_factory=dict)
    streams: Mapping[str, StreamSpec] = field(default_factory=dict)
    # (EntityType value, entity_id) -> ids of the Accounts & Contacts streams following it
    follows: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        org_id: str,
        connections: Iterable[ConnectionSpec] = (),
        milestones: Iterable[MilestoneSpec] = (),
        streams: Iterable[StreamSpec] = (),
        follows: Iterable[tuple[str, str, str]] = (),
    ) -> OrgConfig:
        """From plain lists; ``follows`` holds (stream_id, entity_type, entity_id)."""
        index: dict[tuple[str, str], set[str]] = {}
        for stream_id, entity_type, entity_id in follows:
            index.setdefault((entity_type, entity_id), set()).add(stream_id)
        return cls(
            org_id=org_id,
            connections={c.id: c for c in connections},
            milestones={m.id: m for m in milestones},
            streams={s.id: s for s in streams},
            follows={k: frozenset(v) for k, v in index.items()},
        )

    def event_type_streams(self) -> list[StreamSpec]:
        return [s for s in self.streams.values() if s.type == StreamType.event_type]
