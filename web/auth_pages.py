"""Sign-in, the set-password page an invite or reset link opens, and sign-out.

Before there is a session, forms are protected by a double-submit token: a random
value in a SameSite=Strict cookie that the form must repeat."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from variance.web import sessions
from variance.web.deps import DbSession, Posting
from variance.web.render import PageRoute, page
from variance.workspace import sign_in
from variance.workspace.errors import Forbidden, WorkspaceError

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PRE_CSRF = "variance_form"


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never an open redirect to another host."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _form_page(request: Request, name: str, context: dict, status_code: int = 200):
    token = request.cookies.get(PRE_CSRF) or secrets.token_urlsafe(24)
    response = page(request, name, {"form_token": token, **context}, status_code=status_code)
    response.set_cookie(
        PRE_CSRF, token, httponly=True, samesite="strict", secure=sessions.secure_cookies(request), path="/"
    )
    return response


def _check_form_token(request: Request, sent: str) -> None:
    cookie = request.cookies.get(PRE_CSRF, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise Forbidden("this form has expired: reload the page and try again")


def _into_app(request: Request, signed: sign_in.SignedIn, target: str) -> RedirectResponse:
    response = RedirectResponse(_safe_next(target), status_code=303)
    sessions.set_session_cookie(request, response, signed)
    return response


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = "/"):
    return _form_page(request, "sign_in.html", {"next": _safe_next(next), "email": ""})


@router.post("/sign-in")
def sign_in_submit(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=sign_in.MAX_PASSWORD)] = "",
    form_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
):
    _check_form_token(request, form_token)
    context = {"next": _safe_next(next), "email": email}
    try:
        # Its own transaction: a wrong password's failure is committed, then refused.
        with request.app.state.sessions() as session, session.begin():
            signed = sign_in.sign_in(session, email, password)
    except sign_in.TooManyAttempts as exc:
        return _form_page(request, "sign_in.html", {**context, "error": exc.message}, status_code=429)
    except WorkspaceError as exc:
        return _form_page(request, "sign_in.html", {**context, "error": exc.message}, status_code=400)
    if signed is None:
        return _form_page(request, "sign_in.html", {**context, "error": sign_in.WRONG_PASSWORD}, status_code=401)
    return _into_app(request, signed, next)


@router.get("/welcome/{token}")
def welcome_form(request: Request, token: str, session: DbSession):
    invited = sign_in.link_user(session, token)
    return _form_page(request, "welcome.html", {"invited": invited, "token": token})


@router.post("/welcome/{token}")
def welcome_submit(
    request: Request,
    token: str,
    session: DbSession,
    password: Annotated[str, Form(max_length=sign_in.MAX_PASSWORD)] = "",
    confirm: Annotated[str, Form(max_length=sign_in.MAX_PASSWORD)] = "",
    form_token: Annotated[str, Form(max_length=200)] = "",
):
    _check_form_token(request, form_token)
    invited = sign_in.link_user(session, token)
    context = {"invited": invited, "token": token}
    if password != confirm:
        return _form_page(
            request, "welcome.html", {**context, "field": "confirm", "error": "the two passwords differ"}, 400
        )
    try:
        signed = sign_in.accept_link(session, token, password)
    except WorkspaceError as exc:
        return _form_page(request, "welcome.html", {**context, "field": exc.field, "error": exc.message}, 400)
    return _into_app(request, signed, "/")


@router.post("/sign-out")
def sign_out(request: Request, session: DbSession, user: Posting):
    sign_in.sign_out(session, request.cookies.get(sessions.COOKIE))
    response = RedirectResponse("/sign-in", status_code=303)
    sessions.clear_session_cookie(request, response)
    return response
