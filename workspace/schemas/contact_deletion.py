"""A request to delete a contact's data, as the API and the CLI answer it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class RemovedNow(BaseModel):
    """Rows removed from the app database by this request, per table."""

    contacts: int = Field(description="The contact's own serving row")
    tag_members: int = Field(description="Its smart tag memberships")
    follows: int = Field(description="Follows of it, in every stream")
    milestone_status: int = Field(description="Its contact milestone statuses")
    stream_items: int = Field(description="Its events in stream feeds and timelines")
    daily_activity: int = Field(description="Its daily activity counts")
    slack_outbox: int = Field(description="Slack posts of its events not yet sent (sent ones cannot be taken back)")


class ContactDeletionOut(BaseModel):
    id: str
    contact_id: str
    requested_by_user_id: str | None
    requested_by_email: str
    requested_at: datetime
    already_requested: bool = Field(description="True when this contact's deletion had been asked before")
    removed_now: RemovedNow
    lake_rewritten_at: datetime | None = Field(description="When the local lake was last rewritten without it")
    later: list[str] = Field(description="What happens next, and when")
