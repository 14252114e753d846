"""Admins' pages: Integrations (Segment connections; the secret and webhook URL shown
once with copy buttons and the steps to paste them into Segment; each connection's
last call, accepted and rejected counts and latest rejections, polled; the organisation's
time zone) and Users (invite with
a link to pass on, reset link, role, remove). Members get 403 here, refused server-side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from variance.core.vocabulary import AccountMapping, Role
from variance.web.deps import Admin, DbSession, Posting
from variance.web.layout import chrome
from variance.web.render import PageRoute, page, validated
from variance.workspace import connection_calls, connections, org_settings, sign_in, users
from variance.workspace.errors import WorkspaceError
from variance.workspace.principals import require_admin
from variance.workspace.schemas.connections import ConnectionCreate
from variance.workspace.schemas.users import UserCreate, UserUpdate

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _public_url(request: Request) -> str:
    return request.app.state.settings.public_url.rstrip("/")


HEALTH_POLL_SECONDS = 5  # the calls counted by the API are written as often


def _health(request: Request, session, user) -> dict:
    items, _ = connections.list_connections(session, user.principal.org_id, 200, None)
    connection_calls.flush_pending(request.app.state)
    return {
        "items": [connections.to_out(c, _public_url(request)) for c in items],
        "health": connection_calls.health(session, user.principal.org_id),
        "health_poll_seconds": HEALTH_POLL_SECONDS,
    }


def _integrations(request, session, user, **extra):
    context = _health(request, session, user)
    return chrome(
        session,
        user,
        mappings=[m.value for m in AccountMapping],
        time_zone_names=sorted(org_settings.time_zone_names()),
        **context,
        **extra,
    )


@router.get("/integrations")
def integrations_page(request: Request, user: Admin, session: DbSession):
    return page(request, "integrations.html", _integrations(request, session, user, form={}))


@router.get("/integrations/health")
def integrations_health(request: Request, user: Admin, session: DbSession):
    """Each connection's calls, polled by the page: the last call, counts, latest rejections."""
    return page(request, "integrations.html", _health(request, session, user), block="connection_list")


@router.post("/integrations")
def add_connection(
    request: Request,
    user: Posting,
    session: DbSession,
    name: Annotated[str, Form(max_length=400)] = "",
    mapping: Annotated[str, Form(max_length=40)] = AccountMapping.group.value,
    account_id_trait: Annotated[str, Form(max_length=400)] = "",
    account_name_trait: Annotated[str, Form(max_length=400)] = "",
):
    require_admin(user.principal)
    form = {
        "name": name,
        "mapping": mapping,
        "account_id_trait": account_id_trait,
        "account_name_trait": account_name_trait,
    }
    try:
        body = validated(
            ConnectionCreate,
            {
                "name": name,
                "mapping": mapping,
                "account_id_trait": account_id_trait or None,
                "account_name_trait": account_name_trait or None,
            },
        )
        with session.begin_nested():
            created = connections.create_connection(session, user.principal.org_id, body, _public_url(request))
    except WorkspaceError as exc:
        context = _integrations(request, session, user, form=form, error=exc)
        return page(request, "integrations.html", context, status_code=400)
    # Shown once, on this answer only: the secret is stored as a digest and cannot be read back.
    return page(request, "integrations.html", _integrations(request, session, user, form={}, created=created))


@router.post("/settings/time-zone")
def set_time_zone(
    request: Request, user: Posting, session: DbSession, time_zone: Annotated[str, Form(max_length=200)] = ""
):
    """The organisation's time zone, in which every page shows its times."""
    require_admin(user.principal)
    try:
        with session.begin_nested():
            org_settings.set_time_zone(session, user.principal, time_zone)
    except WorkspaceError as exc:
        context = _integrations(request, session, user, form={}, tz_error=exc, tz_form=time_zone)
        return page(request, "integrations.html", context, status_code=400)
    return RedirectResponse("/integrations", status_code=303)


def _users(session, user, **extra):
    items, _ = users.list_users(session, user.principal.org_id, 200, None)
    out = [users.to_out(session, u) for u in items]
    return chrome(session, user, items=out, roles=[r.value for r in Role], **extra)


@router.get("/users")
def users_page(request: Request, user: Admin, session: DbSession):
    return page(request, "users.html", _users(session, user, form={}))


def _link_url(request: Request, link: sign_in.Link) -> str:
    return _public_url(request) + link.path()


@router.post("/users")
def invite_user(
    request: Request,
    user: Posting,
    session: DbSession,
    name: Annotated[str, Form(max_length=400)] = "",
    email: Annotated[str, Form(max_length=400)] = "",
    role: Annotated[str, Form(max_length=20)] = Role.member.value,
):
    require_admin(user.principal)
    try:
        body = validated(UserCreate, {"name": name, "email": email, "role": role})
        with session.begin_nested():
            created = users.create_user(session, user.principal.org_id, body)
            link = sign_in.issue_link(session, user.principal, created.id, sign_in.INVITE)
    except WorkspaceError as exc:
        context = _users(session, user, form={"name": name, "email": email, "role": role}, error=exc)
        return page(request, "users.html", context, status_code=400)
    context = _users(
        session, user, form={}, link={"name": created.name, "url": _link_url(request, link), "purpose": "invite"}
    )
    return page(request, "users.html", context)


@router.post("/users/{user_id}/reset")
def reset_link(request: Request, user_id: str, user: Posting, session: DbSession):
    require_admin(user.principal)
    link = sign_in.issue_link(session, user.principal, user_id, sign_in.RESET)
    target = users.get_user(session, user.principal.org_id, user_id)
    context = _users(
        session, user, form={}, link={"name": target.name, "url": _link_url(request, link), "purpose": "reset"}
    )
    return page(request, "users.html", context)


@router.post("/users/{user_id}/role")
def change_role(
    request: Request, user_id: str, user: Posting, session: DbSession, role: Annotated[str, Form(max_length=20)] = ""
):
    require_admin(user.principal)
    try:
        with session.begin_nested():
            users.update_user(session, user.principal.org_id, user_id, validated(UserUpdate, {"role": role}))
    except WorkspaceError as exc:
        return page(request, "users.html", _users(session, user, form={}, error=exc), status_code=400)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/remove")
def remove_user(request: Request, user_id: str, user: Posting, session: DbSession):
    require_admin(user.principal)
    try:
        with session.begin_nested():
            users.delete_user(session, user.principal.org_id, user_id)
    except WorkspaceError as exc:
        return page(request, "users.html", _users(session, user, form={}, error=exc), status_code=400)
    return RedirectResponse("/users", status_code=303)
