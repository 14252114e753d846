"""What Slack calls back with, once its signature was checked by the route:

- **Events** (``/v1/slack/events``): ``url_verification`` answers the challenge;
  ``tokens_revoked`` and ``app_uninstalled`` mark the team's installation revoked.
- **Interactivity** (``/v1/slack/interactivity``): the Follow / Unfollow buttons of a
  message. The clicking Slack user is mapped to the Variance user of the same organisation
  with the same email (``users.info``, needs ``users:read.email``) and refused otherwise; the
  follow goes into that user's default stream, through the same workspace rules as the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from variance.appdb.models import SlackInstallation, User
from variance.core.vocabulary import EntityType
from variance.slack.install import disconnect_team
from variance.workspace import follows
from variance.workspace.errors import WorkspaceError
from variance.workspace.principals import Principal
from variance.workspace.schemas.streams import FollowCreate

ACTIONS = {
    "follow_account": (True, EntityType.account),
    "unfollow_account": (False, EntityType.account),
    "follow_contact": (True, EntityType.contact),
    "unfollow_contact": (False, EntityType.contact),
}


def handle_event(session: Session, body: dict[str, Any]) -> dict[str, Any]:
    """The answer to one Events API request (already verified)."""
    if body.get("type") == "url_verification":
        return {"challenge": str(body.get("challenge") or "")}
    event = body.get("event") or {}
    team_id = body.get("team_id") or ""
    if body.get("type") == "event_callback" and event.get("type") in ("tokens_revoked", "app_uninstalled") and team_id:
        disconnect_team(session, str(team_id))
    return {"ok": True}


EmailOf = Callable[[str, str], str | None]  # (team id, Slack user id) -> email


def handle_action(session: Session, body: dict[str, Any], email_of: EmailOf) -> str:
    """Do what a button asks; returns the message to show the clicking user."""
    team_id = str((body.get("team") or {}).get("id") or "")
    slack_user = str((body.get("user") or {}).get("id") or "")
    actions = body.get("actions") or []
    if body.get("type") != "block_actions" or not actions:
        return "Nothing to do."
    action = actions[0]
    wanted = ACTIONS.get(str(action.get("action_id")))
    entity_id = str(action.get("value") or "")
    if wanted is None or not entity_id:
        return "Nothing to do."
    installation = session.scalar(
        select(SlackInstallation).where(SlackInstallation.team_id == team_id, SlackInstallation.revoked_at.is_(None))
    )
    if installation is None:
        return "This Slack workspace is not connected to Variance."
    email = email_of(team_id, slack_user)
    user = (
        session.scalar(
            select(User).where(User.org_id == installation.org_id, func.lower(User.email) == email.strip().lower())
        )
        if email
        else None
    )
    if user is None:
        return "No Variance user of this organisation has your Slack email: ask an admin to invite you."
    principal = Principal(installation.org_id, user.id, user.role)
    follow, entity_type = wanted
    try:
        if follow:
            follows.follow(session, principal, FollowCreate(entity_type=entity_type, entity_id=entity_id))
            return f"Following this {entity_type.value} in your stream."
        from variance.workspace.streams import default_stream_id

        removed = follows.unfollow(session, principal, entity_type, entity_id, default_stream_id(session, user.id))
        return (
            f"Unfollowed this {entity_type.value}." if removed else f"You were not following this {entity_type.value}."
        )
    except WorkspaceError as exc:
        return f"Variance refused: {exc.message}"
