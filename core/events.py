"""Event kinds and event-type references: what milestones count, what Event Type
streams carry, what smart tags count. One definition for the API, the pipeline and dbt.

Segment calls map to kinds as the Segment destination describes: page -> ``Page``,
screen -> ``Screen``, track -> ``Action`` named by the track event, identify ->
``Identify`` (and a contact upsert), group -> ``Group`` (and an account upsert). A
milestone reached or lost is an event of kind ``Milestone`` named by the milestone.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class EventKind(str, Enum):
    page = "Page"
    screen = "Screen"
    action = "Action"
    identify = "Identify"
    group = "Group"
    milestone = "Milestone"


# Kinds whose event types are told apart by name; the others are one type each.
NAMED_KINDS = frozenset({EventKind.action, EventKind.milestone})

SEGMENT_TYPE_TO_KIND = {
    "page": EventKind.page,
    "screen": EventKind.screen,
    "track": EventKind.action,
    "identify": EventKind.identify,
    "group": EventKind.group,
}


class EventTypeRef(BaseModel):
    """One event type: a kind, and for Action and Milestone the name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: EventKind
    name: str | None = Field(
        None, min_length=1, max_length=1024, description="Required for Action (the track event) and Milestone"
    )

    @model_validator(mode="after")
    def _name_matches_kind(self) -> EventTypeRef:
        if self.kind in NAMED_KINDS and not self.name:
            raise ValueError(f"name is required for {self.kind.value} event types")
        if self.kind not in NAMED_KINDS and self.name is not None:
            raise ValueError(f"{self.kind.value} event types have no name; leave name out")
        return self

    @property
    def catalog_name(self) -> str:
        """The name as the catalog stores it ('' for unnamed kinds)."""
        return self.name or ""

    def label(self) -> str:
        return f"{self.kind.value}: {self.name}" if self.name else self.kind.value
