"""Request and response bodies for connections."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from variance.core.vocabulary import AccountMapping

TRAIT_PATH = r"^[^.\s][^.]*(\.[^.\s][^.]*)*$"


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Shown on every event; usable as an event filter")
    mapping: AccountMapping = Field(description="How contacts are mapped to accounts")
    account_id_trait: str | None = Field(
        None, max_length=200, pattern=TRAIT_PATH, description="Identify trait path of the account id, e.g. company.id"
    )
    account_name_trait: str | None = Field(
        None, max_length=200, pattern=TRAIT_PATH, description="Identify trait path of the account name"
    )


class ConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    mapping: AccountMapping | None = None
    account_id_trait: str | None = Field(None, max_length=200, pattern=TRAIT_PATH)
    account_name_trait: str | None = Field(None, max_length=200, pattern=TRAIT_PATH)


class ConnectionOut(BaseModel):
    """A connection as every read returns it: never with its secret."""

    id: str
    org_id: str
    name: str
    mapping: AccountMapping
    account_id_trait: str | None
    account_name_trait: str | None
    webhook_url: str
    secret_hint: str = Field(description="The secret's last characters, to tell secrets apart")
    created_at: datetime
    updated_at: datetime
    secret_rotated_at: datetime


class ConnectionWithSecret(ConnectionOut):
    """Returned once, on creation and on rotation: store the secret now."""

    secret: str = Field(description="The Segment write key / destination API key; shown only this once")
