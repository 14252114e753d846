"""``variance users set-password`` and ``variance users invite-link``: sign-in for people
from scripts and the demo (there is no mail server, so links are printed to pass on).

The password is read from standard input, never from a flag, so it stays out of the
shell history and the process list."""

from __future__ import annotations

import sys

import typer
from sqlalchemy import select

from variance.appdb.models import User
from variance.cli.common import CliError, db_session, emit, say, settings
from variance.workspace import sign_in
from variance.workspace.orgs import act_as
from variance.workspace.principals import require_admin
from variance.workspace.users import get_user

ORG = typer.Option(..., "--org", help="Organisation id")
USER = typer.Option(None, "--user", help="User id")
EMAIL = typer.Option(None, "--email", help="The user's email (instead of --user)")


def _find(session, org_id: str, user_id: str | None, email: str | None) -> User:
    if bool(user_id) == bool(email):
        raise CliError("name the user with exactly one of --user ID or --email ADDRESS")
    if user_id:
        return get_user(session, org_id, user_id)
    user = session.scalar(select(User).where(User.org_id == org_id, User.email == email.strip().lower()))
    if user is None:
        raise CliError(f"no user with email {email!r} in this organisation; create one with `variance users create`")
    return user


def set_password(org: str = ORG, user: str = USER, email: str = EMAIL) -> None:
    """Set a user's password, read from standard input (the first line)."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError('no password on standard input: pipe it in, e.g. `printf %s "$PASSWORD" | variance users ...`')
    with db_session() as session:
        found = _find(session, act_as(session, org).org_id, user, email)
        sign_in.set_password(session, found, password)
        emit({"user_id": found.id, "email": found.email, "password_set": True})
    say(f"{found.email} can now sign in at {settings().public_url.rstrip('/')}/sign-in")


def invite_link(
    org: str = ORG,
    user: str = USER,
    email: str = EMAIL,
    reset: bool = typer.Option(False, "--reset", help="A reset link, for a user who forgot their password"),
) -> None:
    """Print an invite (or reset) link where the user sets a password: valid once, for 7 days."""
    with db_session() as session:
        admin = require_admin(act_as(session, org))
        found = _find(session, admin.org_id, user, email)
        link = sign_in.issue_link(session, admin, found.id, sign_in.RESET if reset else sign_in.INVITE)
        url = settings().public_url.rstrip("/") + link.path()
        emit({"user_id": found.id, "purpose": link.purpose, "url": url, "expires_at": link.expires_at.isoformat()})


def register(users_app: typer.Typer) -> None:
    users_app.command("set-password")(set_password)
    users_app.command("invite-link")(invite_link)
