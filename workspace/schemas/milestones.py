"""Milestones."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from variance.core.durations import DurationError, parse_duration
from variance.core.events import EventKind, EventTypeRef
from variance.core.filters import PropertyFilter
from variance.core.vocabulary import EntityType

WINDOW_DOC = "Optional time window such as 30d, 12h, 2w (at most 366d); without it the milestone is never lost"
MAX_WINDOW_S = 366 * 86400


def _check_window(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value).total_seconds()
    except DurationError as exc:
        raise ValueError(str(exc)) from None
    if seconds > MAX_WINDOW_S:
        raise ValueError("must be at most 366d")
    return value.strip()


def _countable(event: EventTypeRef | None) -> EventTypeRef | None:
    if event is not None and event.kind == EventKind.milestone:
        raise ValueError("milestones count product events; Milestone events can be selected by streams")
    return event


class MilestoneCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["PQL"])
    entity: EntityType = Field(description="Counted per contact or per account")
    event: EventTypeRef
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    threshold: int = Field(ge=1, le=1_000_000, description="How many matching events reach the milestone")
    window: str | None = Field(None, description=WINDOW_DOC, examples=["30d"])

    _window = field_validator("window")(_check_window)
    _event = field_validator("event")(_countable)


class MilestoneUpdate(BaseModel):
    """Renaming keeps the milestone's history. Changing what it counts (entity, event,
    filters, threshold, window) gives it a new version: its history is recomputed from
    the events in the warehouse under the new definition, the old version's changes are
    retracted, and each entity's status is replaced."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    entity: EntityType | None = None
    event: EventTypeRef | None = None
    filters: list[PropertyFilter] | None = Field(None, max_length=20)
    threshold: int | None = Field(None, ge=1, le=1_000_000)
    window: str | None = Field(None, description=WINDOW_DOC + "; null removes the window")

    _window = field_validator("window")(_check_window)
    _event = field_validator("event")(_countable)


class MilestoneOut(BaseModel):
    id: str
    name: str
    entity: EntityType
    event: EventTypeRef
    filters: list[PropertyFilter]
    threshold: int
    window: str | None
    version: int = Field(description="Grows with every change of what the milestone counts")
    achieved_count: int = Field(description="Entities that currently have the milestone")
    created_at: datetime
    updated_at: datetime
