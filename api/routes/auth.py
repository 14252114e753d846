"""Sign-in for people: invite and reset links (admins), email + password sign-in to a
session cookie, sign-out. API tokens keep working for scripts; the web app's forms call
the same rules (``variance.workspace.sign_in``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from variance.api.deps import AdminUser, AppSettings, DbSession
from variance.api.errors import ErrorDetail, ErrorResponse, Forbidden, InvalidInput, NotFound, Unauthorized, responses
from variance.api.responses import JsonResponse
from variance.web import sessions as web_sessions
from variance.workspace import sign_in

router = APIRouter(tags=["sign-in"])


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Literal["invite", "reset"] = "invite"


class LinkOut(BaseModel):
    user_id: str
    purpose: str
    url: str = Field(description="Pass this on to the user (there is no mail server); shown once")
    expires_at: datetime


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=sign_in.MAX_PASSWORD)


class AcceptLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=sign_in.MAX_PASSWORD)


class SessionOut(BaseModel):
    org_id: str
    user_id: str
    role: str
    csrf_token: str = Field(description="Send as X-CSRF-Token with every state-changing request of this session")


_LIMITED = {429: {"model": ErrorResponse, "description": "Too many wrong passwords; retry after Retry-After seconds"}}


def _too_many(exc: sign_in.TooManyAttempts) -> JsonResponse:
    body = ErrorResponse(error=ErrorDetail(code=exc.code, message=exc.message))
    return JsonResponse(
        body.model_dump(exclude_none=True), status_code=429, headers={"Retry-After": str(exc.retry_after)}
    )


def _signed_in(request: Request, result: sign_in.SignedIn) -> JsonResponse:
    out = SessionOut(
        org_id=result.principal.org_id,
        user_id=result.principal.user_id,
        role=result.principal.role,
        csrf_token=result.csrf_token,
    )
    response = JsonResponse(out.model_dump(), status_code=200)
    web_sessions.set_session_cookie(request, response, result)
    return response


@router.post(
    "/v1/users/{user_id}/sign-in-links",
    status_code=201,
    response_model=LinkOut,
    responses=responses(Unauthorized, Forbidden, NotFound, InvalidInput),
)
def create_link(user_id: str, body: LinkCreate, admin: AdminUser, session: DbSession, settings: AppSettings):
    """An invite (or, for a user who forgot, a reset) link where the user sets a password.
    Only the newest link of a user works; it is valid for 7 days and once."""
    link = sign_in.issue_link(session, admin, user_id, body.purpose)
    return LinkOut(
        user_id=link.user_id,
        purpose=link.purpose,
        url=settings.public_url.rstrip("/") + link.path(),
        expires_at=link.expires_at,
    )


@router.post(
    "/v1/sessions",
    response_model=SessionOut,
    responses={**responses(Unauthorized, InvalidInput), **_LIMITED},
)
def create_session(body: Credentials, request: Request):
    """Sign in with email and password: sets the HttpOnly session cookie."""
    sessions = request.app.state.sessions
    try:
        # Its own transaction, committed even when the password is wrong: the failure counts.
        with sessions() as session, session.begin():
            result = sign_in.sign_in(session, body.email, body.password)
    except sign_in.TooManyAttempts as exc:
        return _too_many(exc)
    if result is None:
        raise Unauthorized(sign_in.WRONG_PASSWORD)
    return _signed_in(request, result)


@router.post(
    "/v1/sessions/accept-link",
    response_model=SessionOut,
    responses=responses(Unauthorized, InvalidInput),
)
def accept_link(body: AcceptLink, request: Request, session: DbSession):
    """Set the password an invite or reset link was issued for, and sign in."""
    return _signed_in(request, sign_in.accept_link(session, body.token, body.password))


@router.delete("/v1/sessions", status_code=204, responses=responses(Forbidden))
def delete_session(request: Request, session: DbSession) -> Response:
    """Sign out: the session ends on the server and the cookie is cleared. Needs the
    session's CSRF token (X-CSRF-Token), so another site cannot sign a user out."""
    user = web_sessions.current(session, request)
    if user is not None:
        if not web_sessions.csrf_ok(user, request.headers.get(web_sessions.CSRF_HEADER)):
            raise Forbidden("missing or wrong X-CSRF-Token for this session")
        sign_in.sign_out(session, request.cookies.get(web_sessions.COOKIE))
    response = Response(status_code=204)
    web_sessions.clear_session_cookie(request, response)
    return response
