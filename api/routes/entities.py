"""Accounts, contacts and the event type catalog (read from the serving tables the
pipeline fills; a reader never scans the warehouse)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from variance.api.deps import AdminUser, AppSettings, CurrentUser, DbSession
from variance.api.errors import Forbidden, InvalidInput, NotFound, Unauthorized, responses
from variance.core.events import EventKind
from variance.core.settings import WarehouseTarget
from variance.workspace import contact_deletion
from variance.workspace import entities as service
from variance.workspace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from variance.workspace.schemas.common import Page
from variance.workspace.schemas.contact_deletion import ContactDeletionOut
from variance.workspace.schemas.entities import AccountOut, ContactOut, EntitySort, EventTypeOut

router = APIRouter(tags=["accounts and contacts"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Search = Annotated[str | None, Query(max_length=200, description="Prefix of name, email/domain, or the exact id")]
Traits = Annotated[list[str], Query(max_length=10, description="PATH:VALUE, e.g. company.plan:enterprise (repeatable)")]
_ERRORS = responses(Unauthorized, InvalidInput)


@router.get("/v1/contacts", response_model=Page[ContactOut], responses=_ERRORS)
def list_contacts(
    principal: CurrentUser,
    session: DbSession,
    q: Search = None,
    account_id: Annotated[str | None, Query(max_length=1024)] = None,
    trait: Traits = [],  # noqa: B006 - FastAPI copies defaults
    milestone_id: Annotated[str | None, Query(max_length=40, description="Only contacts that have it")] = None,
    tag_id: Annotated[str | None, Query(max_length=40, description="Only contacts with this smart tag")] = None,
    sort: EntitySort = EntitySort.name,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
):
    items, next_cursor = service.list_contacts(
        session,
        principal.org_id,
        q=q,
        account_id=account_id,
        traits=trait,
        milestone_id=milestone_id,
        tag_id=tag_id,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/v1/contacts/{contact_id:path}", response_model=ContactOut, responses=responses(Unauthorized, NotFound))
def get_contact(contact_id: str, principal: CurrentUser, session: DbSession):
    return service.get_contact(session, principal.org_id, contact_id)


@router.delete(
    "/v1/contacts/{contact_id:path}",
    status_code=202,
    response_model=ContactDeletionOut,
    responses=responses(Unauthorized, Forbidden, NotFound),
)
def delete_contact(contact_id: str, admin: AdminUser, session: DbSession, settings: AppSettings):
    """Delete a contact's data on request (admins): removed from the app now, from the
    warehouse by the next lake rewrite or BigQuery build, from milestone counts at the
    pipeline's next start; `later` says so, and what cannot be taken back. Asking again
    answers the same request (`already_requested`)."""
    lake_dir = settings.lake_dir if settings.warehouse == WarehouseTarget.local else None
    return contact_deletion.delete_contact(session, admin, contact_id, lake_dir=lake_dir)


@router.get("/v1/accounts", response_model=Page[AccountOut], responses=_ERRORS)
def list_accounts(
    principal: CurrentUser,
    session: DbSession,
    q: Search = None,
    trait: Traits = [],  # noqa: B006
    milestone_id: Annotated[str | None, Query(max_length=40)] = None,
    tag_id: Annotated[str | None, Query(max_length=40)] = None,
    sort: EntitySort = EntitySort.name,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
):
    items, next_cursor = service.list_accounts(
        session,
        principal.org_id,
        q=q,
        traits=trait,
        milestone_id=milestone_id,
        tag_id=tag_id,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/v1/accounts/{account_id:path}", response_model=AccountOut, responses=responses(Unauthorized, NotFound))
def get_account(account_id: str, principal: CurrentUser, session: DbSession):
    return service.get_account(session, principal.org_id, account_id)


@router.get("/v1/event-types", response_model=Page[EventTypeOut], responses=_ERRORS, tags=["event types"])
def list_event_types(
    principal: CurrentUser,
    session: DbSession,
    kind: EventKind | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Prefix of the name")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
):
    """The event types that really arrived, so users choose from them."""
    items, next_cursor = service.list_event_types(session, principal.org_id, kind, q, limit, cursor)
    return Page(items=items, next_cursor=next_cursor)
