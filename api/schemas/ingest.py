"""Segment's Tracking API bodies, for the OpenAPI document.

The ingestion routes validate with ``variance.core.segment`` (fast, and shared with the
pipeline), not with these models; these describe the same rules for clients and for
property-based tests.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Id = str | int


class _Call(BaseModel):
    model_config = ConfigDict(extra="allow")

    userId: Id | None = Field(None, description="Either userId or anonymousId is required")
    anonymousId: Id | None = None
    messageId: str | None = Field(None, description="Generated when absent; the de-duplication key")
    timestamp: str | None = Field(None, description="ISO-8601; corrected for clock skew when sentAt is present")
    sentAt: str | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None


class TrackCall(_Call):
    type: Literal["track"] | None = None
    event: str = Field(min_length=1, max_length=1024)
    properties: dict[str, Any] | None = None


class IdentifyCall(_Call):
    type: Literal["identify"] | None = None
    traits: dict[str, Any] | None = None


class PageCall(_Call):
    type: Literal["page"] | None = None
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] | None = None


class ScreenCall(PageCall):
    type: Literal["screen"] | None = None  # type: ignore[assignment]


class GroupCall(_Call):
    type: Literal["group"] | None = None
    groupId: Id
    traits: dict[str, Any] | None = None


class AliasCall(_Call):
    type: Literal["alias"] | None = None
    previousId: Id
    userId: Id  # type: ignore[assignment]


class Batch(BaseModel):
    model_config = ConfigDict(extra="allow")

    batch: list[dict[str, Any]] = Field(min_length=1, description="Calls, each with its `type`")
    sentAt: str | None = None
    writeKey: str | None = Field(None, description="Alternative to the Basic auth user name")


class RejectedCall(BaseModel):
    index: int
    messageId: str | None = None
    field: str
    rule: str
    message: str


class IngestResponse(BaseModel):
    success: bool = True
    accepted: int = Field(description="Calls published to the pipeline")
    rejected: list[RejectedCall] = Field(default_factory=list, description="Calls of a batch that broke the spec")


CALL_MODELS: dict[str, type[BaseModel]] = {
    "track": TrackCall,
    "identify": IdentifyCall,
    "page": PageCall,
    "screen": ScreenCall,
    "group": GroupCall,
    "alias": AliasCall,
}
