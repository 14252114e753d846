"""Users of an organisation. Admins invite and manage them; everyone sees who is there."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from variance.api.deps import AdminUser, CurrentUser, DbSession
from variance.api.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized, responses
from variance.workspace import users as service
from variance.workspace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from variance.workspace.schemas.common import Page
from variance.workspace.schemas.users import UserCreate, UserOut, UserUpdate, UserWithToken

router = APIRouter(tags=["users"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.get("/v1/me", response_model=UserOut, responses=responses(Unauthorized))
def me(principal: CurrentUser, session: DbSession):
    """The token's user, with the id of their default stream."""
    return service.to_out(session, service.get_user(session, principal.org_id, principal.user_id))


@router.post(
    "/v1/users",
    status_code=201,
    response_model=UserWithToken,
    responses=responses(Unauthorized, Forbidden, InvalidInput, Conflict),
)
def invite_user(body: UserCreate, admin: AdminUser, session: DbSession):
    """Invite a user (admin only). Returns their API token once; they get "NAME's Stream"."""
    return service.create_user(session, admin.org_id, body)


@router.get("/v1/users", response_model=Page[UserOut], responses=responses(Unauthorized))
def list_users(principal: CurrentUser, session: DbSession, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None):
    rows, next_cursor = service.list_users(session, principal.org_id, limit, cursor)
    return Page(items=[service.to_out(session, u) for u in rows], next_cursor=next_cursor)


@router.get("/v1/users/{user_id}", response_model=UserOut, responses=responses(Unauthorized, NotFound))
def get_user(user_id: str, principal: CurrentUser, session: DbSession):
    return service.to_out(session, service.get_user(session, principal.org_id, user_id))


@router.patch(
    "/v1/users/{user_id}",
    response_model=UserOut,
    responses=responses(Unauthorized, Forbidden, NotFound, InvalidInput, Conflict),
)
def update_user(user_id: str, body: UserUpdate, admin: AdminUser, session: DbSession):
    return service.to_out(session, service.update_user(session, admin.org_id, user_id, body))


@router.delete("/v1/users/{user_id}", status_code=204, responses=responses(Unauthorized, Forbidden, NotFound, Conflict))
def delete_user(user_id: str, admin: AdminUser, session: DbSession) -> Response:
    service.delete_user(session, admin.org_id, user_id)
    return Response(status_code=204)
