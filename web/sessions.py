"""The browser session: the cookie, who it signs in, and the CSRF check every form passes.

The cookie is HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site POSTs)
and Secure when the app is served over HTTPS. Lax alone would leave same-site attackers
and old browsers, so every state-changing request also carries the session's CSRF token,
as a form field or the ``X-CSRF-Token`` header htmx sends (set once in the layout).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request, Response
from sqlalchemy.orm import Session

from variance.workspace import sign_in
from variance.workspace.principals import Principal

COOKIE = "variance_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def secure_cookies(request: Request) -> bool:
    """Secure when this request came over HTTPS or the app's public URL is HTTPS."""
    public = str(getattr(request.app.state.settings, "public_url", ""))
    return request.url.scheme == "https" or public.startswith("https://")


def set_session_cookie(request: Request, response: Response, signed_in: sign_in.SignedIn) -> None:
    response.set_cookie(
        COOKIE,
        signed_in.cookie,
        max_age=int(sign_in.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies(request))


@dataclass(frozen=True)
class WebUser:
    principal: Principal
    csrf_token: str


def current(session: Session, request: Request) -> WebUser | None:
    found = sign_in.session_principal(session, request.cookies.get(COOKIE))
    return WebUser(*found) if found else None


def csrf_ok(user: WebUser, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(user.csrf_token.encode(), str(sent).encode())
