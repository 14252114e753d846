"""Users and their API tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from variance.core.vocabulary import Role


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Role = Role.member


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = None


class UserOut(BaseModel):
    id: str
    org_id: str
    name: str
    email: str
    role: Role
    default_stream_id: str | None = Field(None, description="The user's own \"NAME's Stream\"")
    created_at: datetime


class UserWithToken(UserOut):
    token: str = Field(description="The user's API token; shown only this once")
