"""Milestones: admins define them; everyone sees them and who reached them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from variance.api.deps import AdminUser, CurrentUser, DbSession
from variance.api.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized, responses
from variance.workspace import milestones as service
from variance.workspace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from variance.workspace.schemas.common import Page
from variance.workspace.schemas.milestones import MilestoneCreate, MilestoneOut, MilestoneUpdate

router = APIRouter(prefix="/v1/milestones", tags=["milestones"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.post(
    "",
    status_code=201,
    response_model=MilestoneOut,
    responses=responses(Unauthorized, Forbidden, InvalidInput, Conflict),
)
def create_milestone(body: MilestoneCreate, admin: AdminUser, session: DbSession):
    """Define a milestone. It is evaluated over the history already in the warehouse,
    then kept up to date as events arrive."""
    return service.describe(session, service.create_milestone(session, admin.org_id, body))


@router.get("", response_model=Page[MilestoneOut], responses=responses(Unauthorized))
def list_milestones(
    principal: CurrentUser, session: DbSession, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None
):
    items, next_cursor = service.list_milestones(session, principal.org_id, limit, cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/{milestone_id}", response_model=MilestoneOut, responses=responses(Unauthorized, NotFound))
def get_milestone(milestone_id: str, principal: CurrentUser, session: DbSession):
    return service.describe(session, service.get_milestone(session, principal.org_id, milestone_id))


@router.patch(
    "/{milestone_id}",
    response_model=MilestoneOut,
    responses=responses(Unauthorized, Forbidden, NotFound, InvalidInput, Conflict),
)
def update_milestone(milestone_id: str, body: MilestoneUpdate, admin: AdminUser, session: DbSession):
    """Renaming keeps history; changing what it counts makes a new version whose
    history is recomputed from the warehouse (the old version's changes are retracted)."""
    return service.describe(session, service.update_milestone(session, admin.org_id, milestone_id, body))


@router.delete("/{milestone_id}", status_code=204, responses=responses(Unauthorized, Forbidden, NotFound, Conflict))
def delete_milestone(milestone_id: str, admin: AdminUser, session: DbSession) -> Response:
    service.delete_milestone(session, admin.org_id, milestone_id)
    return Response(status_code=204)
