"""Sign-in for people: invite and reset links, passwords, browser sessions.

- An admin's invite (or a reset for a user who forgot) is a one-use link valid for
  ``LINK_LIFETIME``; there is no mail server, so the link is shown to the admin to pass
  on. Its token is 256 random bits; only the SHA-256 digest is stored, as for API tokens.
- Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second
  recommended profile) and rehashed on sign-in when those parameters change.
- Signing in gives a session: a random id for the cookie (stored as its digest) and a
  CSRF token the pages put in every form and htmx request (synchronizer token).
- Wrong passwords are limited per email: ``MAX_FAILURES`` in ``FAILURE_WINDOW``, then
  refusals for the rest of the window, even for the right password, so guessing costs
  a window per handful of tries. The same answer is given for an unknown email.
- API tokens are untouched: scripts keep using them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from variance.appdb.models import SignInFailure, SignInLink, User, UserPassword, WebSession
from variance.appdb.types import utcnow
from variance.core import credentials
from variance.workspace.errors import InvalidInput, Unauthorized, WorkspaceError
from variance.workspace.principals import Principal
from variance.workspace.users import get_user

INVITE = "invite"
RESET = "reset"
LINK_PREFIX = "vlnk_"
LINK_LIFETIME = timedelta(days=7)
SESSION_LIFETIME = timedelta(days=14)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
MIN_PASSWORD = 10
MAX_PASSWORD = 256  # argon2 hashes any length; a cap keeps one request from costing much

_hasher = PasswordHasher()


class TooManyAttempts(WorkspaceError):
    """Too many wrong passwords for this email: wait until ``retry_after`` seconds pass."""

    code = "too_many_attempts"

    def __init__(self, retry_after: int):
        minutes = max(1, round(retry_after / 60))
        super().__init__(f"too many wrong passwords for this email; try again in about {minutes} minute(s)")
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignedIn:
    """A new session: ``cookie`` goes to the browser; ``csrf_token`` into every form."""

    cookie: str
    csrf_token: str
    principal: Principal


@dataclass(frozen=True)
class Link:
    user_id: str
    purpose: str
    token: str
    expires_at: datetime

    def path(self) -> str:
        """Where the link points in the web app (the admin prepends the public URL)."""
        return f"/welcome/{self.token}"


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput("password", f"must be at most {MAX_PASSWORD} characters")


def set_password(session: Session, user: User, password: str) -> None:
    """Set a user's password and end their other sessions (a reset must lock out whoever had them)."""
    check_password(password)
    row = session.get(UserPassword, user.id)
    hashed = _hasher.hash(password)
    if row is None:
        session.add(UserPassword(user_id=user.id, password_hash=hashed, set_at=utcnow()))
    else:
        row.password_hash, row.set_at = hashed, utcnow()
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()


def issue_link(session: Session, admin: Principal, user_id: str, purpose: str = INVITE) -> Link:
    """An invite or reset link for a user of the admin's organisation (404 otherwise).
    Earlier unused links of the user stop working: only the newest one is valid."""
    if purpose not in (INVITE, RESET):
        raise InvalidInput("purpose", "must be invite or reset")
    user = get_user(session, admin.org_id, user_id)
    session.execute(delete(SignInLink).where(SignInLink.user_id == user.id, SignInLink.used_at.is_(None)))
    token = credentials.new_secret(LINK_PREFIX)
    expires = utcnow() + LINK_LIFETIME
    session.add(
        SignInLink(
            token_digest=credentials.digest(token),
            org_id=user.org_id,
            user_id=user.id,
            purpose=purpose,
            created_at=utcnow(),
            expires_at=expires,
        )
    )
    session.flush()
    return Link(user_id=user.id, purpose=purpose, token=token, expires_at=expires)


def _valid_link(session: Session, token: str) -> SignInLink:
    row = session.get(SignInLink, credentials.digest(token)) if token.startswith(LINK_PREFIX) else None
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise Unauthorized("this link is not valid any more: ask your admin for a new one")
    return row


def link_user(session: Session, token: str) -> User:
    """Who a valid link is for (to greet them on the set-password page)."""
    return session.get(User, _valid_link(session, token).user_id)  # type: ignore[return-value]


def accept_link(session: Session, token: str, password: str) -> SignedIn:
    """Set the password a link was issued for, use the link up and sign the user in."""
    check_password(password)
    link = _valid_link(session, token)
    user = session.get(User, link.user_id)
    assert user is not None  # links are deleted with their user
    set_password(session, user, password)
    link.used_at = utcnow()
    session.execute(delete(SignInFailure).where(SignInFailure.email == user.email))
    return start_session(session, user)


def start_session(session: Session, user: User) -> SignedIn:
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_digest=credentials.digest(cookie),
            org_id=user.org_id,
            user_id=user.id,
            csrf_token=csrf,
            created_at=utcnow(),
            expires_at=utcnow() + SESSION_LIFETIME,
        )
    )
    session.flush()
    return SignedIn(cookie=cookie, csrf_token=csrf, principal=Principal(user.org_id, user.id, user.role))


def _refuse_if_limited(session: Session, email: str) -> SignInFailure | None:
    row = session.get(SignInFailure, email, with_for_update=True)
    if row is None:
        return None
    if row.first_failed_at + FAILURE_WINDOW <= utcnow():
        session.delete(row)
        session.flush()
        return None
    if row.failures >= MAX_FAILURES:
        remaining = row.first_failed_at + FAILURE_WINDOW - utcnow()
        raise TooManyAttempts(int(remaining.total_seconds()) + 1)
    return row


WRONG_PASSWORD = "wrong email or password"


def sign_in(session: Session, email: str, password: str) -> SignedIn | None:
    """Email + password -> a session, or None for a wrong one, whose failure is recorded:
    the caller must commit before it refuses (raising would roll the count back).
    Emails are unique per organisation, not across them, so the password decides which
    of the users with that email signs in."""
    email = email.strip().lower()
    if not email:
        raise InvalidInput("email", "must not be empty")
    failures = _refuse_if_limited(session, email)
    candidates = session.execute(
        select(User, UserPassword.password_hash)
        .join(UserPassword, UserPassword.user_id == User.id)
        .where(User.email == email)
    ).all()
    for user, hashed in candidates:
        try:
            _hasher.verify(hashed, password[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            continue
        if _hasher.check_needs_rehash(hashed):
            session.get(UserPassword, user.id).password_hash = _hasher.hash(password)  # type: ignore[union-attr]
        if failures is not None:
            session.delete(failures)
        return start_session(session, user)
    if failures is None:
        session.add(SignInFailure(email=email, failures=1, first_failed_at=utcnow()))
    else:
        failures.failures += 1
    session.flush()
    return None


def session_principal(session: Session, cookie: str | None) -> tuple[Principal, str] | None:
    """The principal and CSRF token of a live session cookie, or None."""
    if not cookie:
        return None
    row = session.execute(
        select(WebSession, User.role)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.id_digest == credentials.digest(cookie))
    ).first()
    if row is None or row[0].expires_at <= utcnow():
        return None
    web_session, role = row
    return Principal(web_session.org_id, web_session.user_id, role), web_session.csrf_token


def sign_out(session: Session, cookie: str | None) -> None:
    if cookie:
        session.execute(delete(WebSession).where(WebSession.id_digest == credentials.digest(cookie)))
