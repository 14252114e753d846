"""Accounts, contacts and the event type catalog, as read from the serving tables."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from variance.core.events import EventKind


class EntityMilestone(BaseModel):
    milestone_id: str
    name: str
    achieved_at: datetime | None
    count: int


class EntityTag(BaseModel):
    tag_id: str
    name: str


class ContactOut(BaseModel):
    contact_id: str = Field(description="The Segment userId (or anonymousId before identify)")
    name: str | None
    email: str | None
    account_id: str | None
    traits: dict[str, Any]
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    milestones: list[EntityMilestone] = Field(description="Milestones the contact currently has")
    tags: list[EntityTag]


class AccountOut(BaseModel):
    account_id: str
    name: str | None
    domain: str | None
    traits: dict[str, Any]
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    milestones: list[EntityMilestone]
    tags: list[EntityTag]


class EntitySort(str, Enum):
    name = "name"
    recent = "recent"


class EventTypeOut(BaseModel):
    kind: EventKind
    name: str | None
    label: str
    first_seen_at: datetime
    last_seen_at: datetime
    count: int
