"""Smart tags: admins define them; everyone in the organisation sees them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from variance.api.deps import AdminUser, CurrentUser, DbSession
from variance.api.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized, responses
from variance.core.vocabulary import EntityType
from variance.workspace import tags as service
from variance.workspace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from variance.workspace.schemas.common import Page
from variance.workspace.schemas.tags import TagCreate, TagOut, TagUpdate

router = APIRouter(prefix="/v1/tags", tags=["smart tags"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.post(
    "",
    status_code=201,
    response_model=TagOut,
    responses=responses(Unauthorized, Forbidden, InvalidInput, Conflict),
)
def create_tag(body: TagCreate, admin: AdminUser, session: DbSession):
    """Define a smart tag (admins). The milestones and smart tags it uses must be of the
    same entity; the definition is stored as is for dbt to compile."""
    return service.describe(session, service.create_tag(session, admin.org_id, body))


@router.get("", response_model=Page[TagOut], responses=responses(Unauthorized))
def list_tags(
    principal: CurrentUser,
    session: DbSession,
    entity: EntityType | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
):
    """The organisation's smart tags in creation order, optionally only one entity's."""
    items, next_cursor = service.list_tags(session, principal.org_id, limit, cursor, entity)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/{tag_id}", response_model=TagOut, responses=responses(Unauthorized, NotFound))
def get_tag(tag_id: str, principal: CurrentUser, session: DbSession):
    return service.describe(session, service.get_tag(session, principal.org_id, tag_id))


@router.patch(
    "/{tag_id}",
    response_model=TagOut,
    responses=responses(Unauthorized, Forbidden, NotFound, InvalidInput, Conflict),
)
def update_tag(tag_id: str, body: TagUpdate, admin: AdminUser, session: DbSession):
    """Rename or redefine (admins). A definition that would make the tag use itself,
    directly or through other tags, is refused, naming the cycle."""
    return service.describe(session, service.update_tag(session, admin.org_id, tag_id, body))


@router.delete("/{tag_id}", status_code=204, responses=responses(Unauthorized, Forbidden, NotFound, Conflict))
def delete_tag(tag_id: str, admin: AdminUser, session: DbSession) -> Response:
    """Delete (admins); refused while other smart tags or views use it (409 names them)."""
    service.delete_tag(session, admin.org_id, tag_id)
    return Response(status_code=204)
