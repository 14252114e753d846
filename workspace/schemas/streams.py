"""Streams, their Event Type selectors, and follows."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from variance.core.events import EventKind, EventTypeRef
from variance.core.filters import PropertyFilter
from variance.core.vocabulary import EntityType, StreamType, Visibility


class SlackChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Z0-9]+$", description="Slack channel id, e.g. C024BE91L")
    name: str = Field(min_length=1, max_length=200, description="Channel name as shown, e.g. #pricing")


class Selector(BaseModel):
    """One event type an Event Type stream carries, optionally narrowed."""

    model_config = ConfigDict(extra="forbid")

    kind: EventKind
    name: str | None = Field(None, min_length=1, max_length=1024)
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    connection_name: str | None = Field(
        None, min_length=1, max_length=200, description="Only events delivered by the connection of this name"
    )

    @model_validator(mode="after")
    def _valid_event_type(self) -> Selector:
        EventTypeRef(kind=self.kind, name=self.name)
        return self


class StreamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: StreamType = StreamType.accounts_contacts
    visibility: Visibility = Field(Visibility.personal, description="team streams are shared by admins")
    slack_channel: SlackChannel | None = None
    selectors: list[Selector] = Field(default_factory=list, max_length=50, description="Event Type streams only")


class StreamUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    slack_channel: SlackChannel | None = Field(None, description="null removes the channel")
    selectors: list[Selector] | None = Field(None, max_length=50)


class StreamOut(BaseModel):
    id: str
    name: str
    type: StreamType
    visibility: Visibility
    owner_user_id: str | None
    is_default: bool
    favorite_position: int | None = Field(None, description="Position among the user's favorites, if favorited")
    slack_channel: SlackChannel | None
    selectors: list[Selector]
    created_at: datetime
    updated_at: datetime


class FollowCreate(BaseModel):
    """Follow an account or contact into streams. Without ``stream_ids`` and
    ``new_stream`` it goes to the user's default stream."""

    model_config = ConfigDict(extra="forbid")

    entity_type: EntityType
    entity_id: str = Field(min_length=1, max_length=1024)
    stream_ids: list[str] = Field(default_factory=list, max_length=50)
    new_stream: StreamCreate | None = Field(
        None, description="Create this stream and follow into it (add to new stream)"
    )


class FollowOut(BaseModel):
    id: str
    stream_id: str
    entity_type: EntityType
    entity_id: str
    created_by_user_id: str | None
    created_at: datetime


class FollowResult(BaseModel):
    follows: list[FollowOut]
    created_stream: StreamOut | None = None
