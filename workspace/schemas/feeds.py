"""A stream's feed, an account's or contact's timeline, and a view's members."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from variance.workspace.schemas.entities import AccountOut, ContactOut, EntityTag


class FeedItem(BaseModel):
    """One event (or milestone change) as a stream carries it."""

    message_id: str
    stream_id: str
    event_time: datetime
    kind: str = Field(description="Page, Screen, Action, Identify, Group or Milestone")
    name: str | None
    label: str = Field(description="What to show: the kind, and the name where it has one")
    contact_id: str | None
    account_id: str | None
    connection_name: str | None
    properties: dict[str, Any] = Field(description="The call's properties (traits for identify and group)")


class FeedPage(BaseModel):
    """Newest first. ``next_cursor`` pages back in time; ``live_cursor`` is what to send as
    ``since`` to poll for items newer than everything seen so far."""

    items: list[FeedItem]
    next_cursor: str | None = Field(None, description="Opaque; absent on the last page")
    live_cursor: str | None = Field(None, description="Send as `since` to get only newer items; absent when empty")


class MilestoneState(BaseModel):
    milestone_id: str
    name: str
    achieved: bool
    count: int
    achieved_at: datetime | None
    changed_at: datetime


class DailyCount(BaseModel):
    day: date
    kind: str
    name: str | None
    count: int


class TimelineOut(BaseModel):
    """An account's or a contact's page: who it is, its milestones and tags, its daily
    activity and its recent events (from the stream items the pipeline keeps)."""

    entity_type: str
    entity_id: str
    account: AccountOut | None = Field(description="The account itself, or the contact's account")
    contact: ContactOut | None = Field(description="The contact (contact timelines only)")
    account_contacts: list[ContactOut] = Field(description="An account's contacts by name (at most 20)")
    contact_count: int
    milestone_states: list[MilestoneState] = Field(
        description="Every milestone status of the entity, latest change first"
    )
    tags: list[EntityTag]
    activity: list[DailyCount] = Field(description="Events per UTC day and event type over the last 30 days")
    recent_events: FeedPage


class ViewMember(BaseModel):
    entity_id: str
    name: str | None
    email_or_domain: str | None
    last_seen_at: datetime | None


class ViewMembers(BaseModel):
    view_id: str
    entity: str
    total: int = Field(description="How many accounts or contacts match the view now")
    items: list[ViewMember]
    next_cursor: str | None = None
