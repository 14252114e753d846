"""Connecting an organisation's Slack workspace ("Add to Slack", OAuth v2), and losing it.

- :func:`start_install`: an admin asks for the authorize URL (``slack_sdk.oauth``'s
  ``AuthorizeUrlGenerator``) carrying a fresh state. Slack's own state store keeps no
  payload, so the state's SHA-256 digest is kept here with the organisation and the admin who
  started it; it expires after :data:`STATE_TTL`.
- :func:`finish_install`: the callback. The state is used once (marked used before anything
  else, so a replayed callback is refused even if the exchange fails), must not have
  expired, and its admin must still be an admin of that organisation. The code is exchanged
  for a bot token with ``oauth.v2.access`` (the ``exchange`` the caller hands in), and the
  token is stored Fernet-encrypted. A Slack workspace belongs to one organisation: installing
  it into a second one is refused, so Slack's events for a team name one organisation.
- :func:`disconnect_team`: Slack's ``tokens_revoked`` / ``app_uninstalled`` mark it revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from variance.appdb.models import SlackInstallation, SlackOAuthState, User
from variance.appdb.types import utcnow
from variance.core.settings import Settings
from variance.core.vocabulary import Role
from variance.slack.tokens import TokenCipher, TokenKeyError
from variance.workspace.errors import Conflict, Forbidden, InvalidInput, WorkspaceError
from variance.workspace.principals import Principal, require_admin

STATE_TTL = timedelta(minutes=10)

# The bot scopes the features need, and nothing more (the README says why each).
BOT_SCOPES = (
    "chat:write",  # post stream matches and digests
    "channels:read",  # list public channels for the channel picker
    "groups:read",  # list private channels the bot was invited to
    "channels:history",  # after a crash, find whether a claimed post went out (public)
    "groups:history",  # the same for private channels
    "users:read",  # resolve who clicked a button
    "users:read.email",  # map that Slack user, and account owners, by email
)


class SlackNotConfigured(WorkspaceError):
    """The deployment lacks what the install needs (client id and secret, token key)."""

    code = "not_configured"


def redirect_uri(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + "/v1/slack/oauth/callback"


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def start_install(session: Session, principal: Principal, settings: Settings, now: datetime | None = None) -> str:
    """The URL an admin opens to add Variance to their Slack workspace."""
    from slack_sdk.oauth import AuthorizeUrlGenerator

    require_admin(principal)
    if not (settings.slack_client_id and settings.slack_client_secret):
        raise SlackNotConfigured("set VARIANCE_SLACK_CLIENT_ID and VARIANCE_SLACK_CLIENT_SECRET to install Slack")
    try:
        TokenCipher.of(settings)
    except TokenKeyError as exc:
        raise SlackNotConfigured(str(exc)) from None
    now = now or utcnow()
    state = secrets.token_urlsafe(32)
    session.add(
        SlackOAuthState(
            state_digest=_digest(state),
            org_id=principal.org_id,
            user_id=principal.user_id,
            created_at=now,
            expires_at=now + STATE_TTL,
        )
    )
    generator = AuthorizeUrlGenerator(
        client_id=settings.slack_client_id, scopes=list(BOT_SCOPES), redirect_uri=redirect_uri(settings)
    )
    return generator.generate(state)


Exchange = Callable[[str], dict[str, Any]]  # code -> oauth.v2.access's answer


def consume_state(session: Session, state: str, now: datetime) -> SlackOAuthState:
    """Mark the state used, once: of two callbacks racing with one state, one wins."""
    digest = _digest(state) if state else ""
    used = session.execute(
        update(SlackOAuthState)
        .where(SlackOAuthState.state_digest == digest, SlackOAuthState.used_at.is_(None))
        .values(used_at=now)
    ).rowcount  # type: ignore[attr-defined]
    found = session.get(SlackOAuthState, digest) if digest else None
    if found is None:
        raise InvalidInput("state", "unknown: start again from Variance")
    if not used:
        raise InvalidInput("state", "already used: start again from Variance")
    return found


def finish_install(
    sessions: sessionmaker[Session],
    settings: Settings,
    state: str,
    code: str,
    exchange: Exchange,
    now: datetime | None = None,
) -> SlackInstallation:
    """Check the state (single use, unexpired, its admin still an admin), exchange the code,
    and store the installation with its token encrypted. The state's use is committed in a
    transaction of its own first, so a replayed callback is refused even if this one fails."""
    now = now or utcnow()
    with sessions() as session, session.begin():
        found = consume_state(session, state, now)
        org_id, user_id, expires_at = found.org_id, found.user_id, found.expires_at
    if expires_at < now:
        raise InvalidInput("state", "expired: start again from Variance")
    with sessions() as session, session.begin():
        admin = session.get(User, user_id)
        if admin is None or admin.org_id != org_id or admin.role != Role.admin:
            raise Forbidden("the admin who started this install is no longer an admin of the organisation")
    answer = exchange(code)  # outside any transaction: Slack may be slow
    token = answer.get("access_token")
    team = answer.get("team") or {}
    if not token or not team.get("id"):
        raise InvalidInput("code", "Slack did not return a bot token")
    cipher = TokenCipher.of(settings)
    with sessions() as session, session.begin():
        other = session.scalar(
            select(SlackInstallation).where(SlackInstallation.team_id == team["id"], SlackInstallation.org_id != org_id)
        )
        if other is not None and other.revoked_at is None:
            raise Conflict("this Slack workspace is connected to another organisation")
        installation = session.get(SlackInstallation, org_id)
        if installation is None:
            installation = SlackInstallation(org_id=org_id)
            session.add(installation)
        installation.team_id = team["id"]
        installation.team_name = team.get("name")
        installation.bot_user_id = answer.get("bot_user_id")
        installation.bot_token_encrypted = cipher.encrypt(token)
        installation.scopes = answer.get("scope") or ""
        installation.installed_by = user_id
        installation.installed_at = now
        installation.revoked_at = None
    return installation


def disconnect_team(session: Session, team_id: str, now: datetime | None = None) -> int:
    """Mark the team's installations revoked (Slack revoked the token or the app was
    uninstalled); returns how many. Nothing is posted for them until they install again."""
    result = session.execute(
        update(SlackInstallation)
        .where(SlackInstallation.team_id == team_id, SlackInstallation.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def connection_of(session: Session, org_id: str, settings: Settings) -> dict[str, Any]:
    """What the API shows of an organisation's Slack: never the token."""
    installation = session.get(SlackInstallation, org_id)
    if installation is not None:
        return {
            "connected": installation.revoked_at is None,
            "via": "installation",
            "team_id": installation.team_id,
            "team_name": installation.team_name,
            "scopes": [s for s in installation.scopes.split(",") if s],
            "installed_at": installation.installed_at,
            "revoked_at": installation.revoked_at,
            "owner_email_trait": installation.owner_email_trait,
        }
    if settings.slack_token and settings.slack_token_org == org_id:
        return {"connected": True, "via": "configured_token", "scopes": []}
    return {"connected": False, "via": "outbox", "scopes": []}


def set_owner_trait(session: Session, principal: Principal, trait: str | None) -> SlackInstallation:
    """Name the account trait (a dotted path, e.g. ``owner.email``) holding the email of the
    account's owner, whom messages then mention; None stops the mentions. Admins only."""
    from variance.workspace.errors import NotFound

    require_admin(principal)
    installation = session.get(SlackInstallation, principal.org_id)
    if installation is None:
        raise NotFound("Slack is not installed for this organisation")
    if trait is not None and not all(part for part in trait.split(".")):
        raise InvalidInput("owner_email_trait", "a dotted path of trait names, e.g. owner.email")
    installation.owner_email_trait = trait
    return installation
