"""Smart tags, views and favorites. The definition tree is the core's
(:mod:`variance.core.tag_tree`), so the API, the tag evaluator and dbt share one shape."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from variance.core.tag_tree import Definition
from variance.core.vocabulary import EntityType, FavoriteTargetType, Visibility

DEFINITION_DOC = (
    "A tree of conditions over the entity: groups (`match`: all = AND, any = OR) of trait filters, "
    "milestone statuses, event counts and smart tag memberships. At most 5 levels of groups and 50 "
    "conditions; milestones and smart tags used must be of the same entity."
)


class TagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Champions"])
    entity: EntityType = Field(description="The tag is carried by contacts or by accounts")
    definition: Definition = Field(description=DEFINITION_DOC)


class TagUpdate(BaseModel):
    """Rename or redefine. The entity is fixed: other tags and views rely on it."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    definition: Definition | None = Field(None, description=DEFINITION_DOC)


class TagOut(BaseModel):
    id: str
    name: str
    entity: EntityType
    definition: Definition
    member_count: int = Field(description="Entities that currently carry the tag")
    created_at: datetime
    updated_at: datetime


class ViewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Trials this week"])
    entity: EntityType = Field(description="The view lists contacts or accounts")
    visibility: Visibility = Field(
        Visibility.personal, description="personal: only you see it; team (admins only): everyone in the organisation"
    )
    definition: Definition = Field(description=DEFINITION_DOC + " Views may use smart tags.")


class ViewUpdate(BaseModel):
    """Rename, redefine, or (admins) share a personal view with the team or take a team
    view back as their own. The entity is fixed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    visibility: Visibility | None = None
    definition: Definition | None = Field(None, description=DEFINITION_DOC)


class ViewOut(BaseModel):
    id: str
    name: str
    entity: EntityType
    visibility: Visibility
    owner_user_id: str | None = Field(description="The owner of a personal view; null for team views")
    definition: Definition
    favorite_position: int | None = Field(None, description="Position among your favorites, if favorited")
    created_at: datetime
    updated_at: datetime


class FavoriteTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_type: FavoriteTargetType
    target_id: str = Field(min_length=1, max_length=40)


class FavoriteSet(FavoriteTarget):
    """Favorite a view or stream you can see, or move an existing favorite."""

    position: int | None = Field(
        None, ge=0, description="0 is the top; default: the end. Larger than the count means the end"
    )


class FavoriteOrder(BaseModel):
    """Every one of your favorites, in the new order."""

    model_config = ConfigDict(extra="forbid")

    items: list[FavoriteTarget] = Field(max_length=200)


class FavoriteOut(BaseModel):
    target_type: FavoriteTargetType
    target_id: str
    name: str = Field(description="The view's or stream's name")
    position: int = Field(description="0 is the top")
    created_at: datetime


class FavoriteList(BaseModel):
    """All your favorites, in order (a user has at most 200)."""

    items: list[FavoriteOut]
