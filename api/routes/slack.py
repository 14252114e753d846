"""Slack: install per organisation (OAuth v2), connection status, channel autocomplete, a
stream's channel and Slack status, and Slack's signed callbacks (events, buttons).

Thin: the rules are in ``variance.slack``; this wires Slack's Web API (``clients.slack``)
into them and maps their refusals to HTTP. Slack's callbacks are authenticated by their
signature (``VARIANCE_SLACK_SIGNING_SECRET``), never by an API token.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, BackgroundTasks, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from variance.api.deps import AdminUser, AppSettings, CurrentUser, DbSession
from variance.api.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized, Unavailable, responses
from variance.clients.slack import failure_of, signature_valid, web_client
from variance.core.settings import Settings
from variance.slack import callbacks, channels, install
from variance.slack.tokens import OrgToken, TokenCipher, token_for
from variance.web import channels as web_channels
from variance.workspace import streams as stream_service
from variance.workspace.schemas.streams import SlackChannel, StreamOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["slack"])


class SlackConnection(BaseModel):
    connected: bool
    via: str = Field(description="installation, configured_token, or outbox (no Slack)")
    team_id: str | None = None
    team_name: str | None = None
    scopes: list[str] = Field(default_factory=list)
    installed_at: datetime | None = None
    revoked_at: datetime | None = None
    owner_email_trait: str | None = Field(None, description="account trait whose email is mentioned as the owner")


class SlackSettings(BaseModel):
    owner_email_trait: str | None = Field(
        None, min_length=1, max_length=200, description="e.g. owner.email; null: no owner mentions"
    )


class AuthorizeUrl(BaseModel):
    authorize_url: str = Field(description="Open it to add Variance to your Slack workspace; valid 10 minutes")


class Installed(BaseModel):
    org_id: str
    team_id: str
    team_name: str | None


class ChannelOut(BaseModel):
    id: str
    name: str
    is_private: bool
    is_member: bool = Field(description="false: invite the Variance app before it can post there")


class ChannelList(BaseModel):
    items: list[ChannelOut]


class StreamSlackStatus(BaseModel):
    stream_id: str
    channel: SlackChannel | None
    status: str = Field(description="ok, error (with Slack's error code and since when) or outbox (no Slack)")
    error: str | None
    since: datetime | None
    waiting: int = Field(description="matches waiting to be posted")
    dead_lettered: int = Field(description="matches that could not be posted; retried when the status recovers")


class StreamChannel(BaseModel):
    channel: str | None = Field(
        None, max_length=200, description="A channel id or name (#name); null removes the channel"
    )
    channel_name: str | None = Field(None, max_length=200, description="Without Slack connected: the name to show")


# One directory per Slack API address: its cache spares Slack's Tier 2 limit while people type.
_DIRECTORIES: dict[str | None, channels.ChannelDirectory] = {}


def _directory(settings: Settings) -> channels.ChannelDirectory:
    directory = _DIRECTORIES.get(settings.slack_api_url)
    if directory is None:
        directory = _DIRECTORIES[settings.slack_api_url] = channels.ChannelDirectory(
            lambda token: web_client(token.token, settings.slack_api_url)
        )
    return directory


class _PickerChannels:
    """The web app's channel picker over the same cached directory as the API's autocomplete."""

    def unavailable(self, session: Session, org_id: str, settings: Settings) -> str | None:
        token = token_for(session, org_id, settings)
        if token is None:
            return "Slack is not connected for this organisation"
        if token.revoked:
            return "Slack was disconnected for this organisation: an admin can install it again"
        return None

    def search(
        self, session: Session, org_id: str, settings: Settings, query: str, limit: int
    ) -> list[web_channels.ChannelChoice]:
        token = token_for(session, org_id, settings)
        if token is None or token.revoked:
            return []
        return [web_channels.ChannelChoice(**c.__dict__) for c in _directory(settings).search(token, query, limit)]

    def find(
        self, session: Session, org_id: str, settings: Settings, channel_id: str
    ) -> web_channels.ChannelChoice | None:
        token = token_for(session, org_id, settings)
        found = _directory(settings).find(token, channel_id) if token is not None and not token.revoked else None
        return web_channels.ChannelChoice(**found.__dict__) if found is not None else None


web_channels.use(_PickerChannels())


def _as_workspace_error(exc: Exception) -> Exception:
    # Not configured is the deployment's state, not an outage: 409, never a 5xx.
    if isinstance(exc, install.SlackNotConfigured):
        return Conflict(str(exc))
    if isinstance(exc, channels.SlackUnavailable):
        return Unavailable(str(exc))
    return exc


@router.get("/v1/slack", response_model=SlackConnection, responses=responses(Unauthorized))
def get_connection(principal: CurrentUser, session: DbSession, settings: AppSettings):
    """Whether this organisation's Slack is connected, and how (never the token)."""
    return install.connection_of(session, principal.org_id, settings)


@router.patch(
    "/v1/slack", response_model=SlackConnection, responses=responses(Unauthorized, Forbidden, NotFound, InvalidInput)
)
def update_connection(body: SlackSettings, principal: AdminUser, session: DbSession, settings: AppSettings):
    """Which account trait names the account owner, mentioned in messages about the account."""
    install.set_owner_trait(session, principal, body.owner_email_trait)
    return install.connection_of(session, principal.org_id, settings)


@router.post("/v1/slack/install", response_model=AuthorizeUrl, responses=responses(Unauthorized, Forbidden, Conflict))
def start_install(principal: AdminUser, session: DbSession, settings: AppSettings):
    """Start "Add to Slack": the authorize URL carries a state tied to you and the organisation."""
    try:
        return AuthorizeUrl(authorize_url=install.start_install(session, principal, settings))
    except install.SlackNotConfigured as exc:
        raise _as_workspace_error(exc) from None


@router.get(
    "/v1/slack/oauth/callback",
    response_model=Installed,
    responses=responses(InvalidInput, Forbidden, Conflict),
)
def oauth_callback(
    request: Request,
    settings: AppSettings,
    code: Annotated[str, Query(max_length=500)] = "",
    state: Annotated[str, Query(max_length=200)] = "",
):
    """Where Slack sends the admin back: the state is checked (single use, unexpired) and the
    code exchanged for the bot token, stored encrypted."""
    if not (settings.slack_client_id and settings.slack_client_secret):
        raise Conflict("Slack is not configured on this deployment")

    def exchange(code: str) -> dict[str, Any]:
        from slack_sdk import WebClient

        client = WebClient(base_url=settings.slack_api_url or WebClient.BASE_URL)
        try:
            return client.oauth_v2_access(
                client_id=settings.slack_client_id or "",
                client_secret=settings.slack_client_secret or "",
                code=code,
                redirect_uri=install.redirect_uri(settings),
            ).data  # type: ignore[return-value]
        except Exception as exc:
            raise InvalidInput("code", f"Slack refused the code ({failure_of(exc).code})") from None

    installation = install.finish_install(request.app.state.sessions, settings, state, code, exchange)
    return Installed(org_id=installation.org_id, team_id=installation.team_id, team_name=installation.team_name)


@router.get("/v1/slack/channels", response_model=ChannelList, responses=responses(Unauthorized, Conflict, Unavailable))
def list_channels(
    principal: CurrentUser,
    session: DbSession,
    settings: AppSettings,
    q: Annotated[str, Query(max_length=80)] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
):
    """Channels the bot can see, public and private, whose name starts with (then contains) ``q``."""
    token = token_for(session, principal.org_id, settings)
    if token is None or token.revoked:
        raise Conflict("Slack is not connected: add it first (POST /v1/slack/install)")
    try:
        found = _directory(settings).search(token, q, limit)
    except channels.SlackUnavailable as exc:
        raise _as_workspace_error(exc) from None
    return ChannelList(items=[ChannelOut(**c.__dict__) for c in found])


@router.get(
    "/v1/streams/{stream_id}/slack", response_model=StreamSlackStatus, responses=responses(Unauthorized, NotFound)
)
def get_stream_slack(stream_id: str, principal: CurrentUser, session: DbSession, settings: AppSettings):
    """The stream's Slack status: ok, or Slack's error code and since when, or outbox."""
    return channels.stream_status(session, principal, settings, stream_id)


@router.put(
    "/v1/streams/{stream_id}/slack",
    response_model=StreamOut,
    responses=responses(Unauthorized, Forbidden, NotFound, InvalidInput, Unavailable),
)
def set_stream_slack(
    stream_id: str, body: StreamChannel, principal: CurrentUser, session: DbSession, settings: AppSettings
):
    """Point the stream at a channel: checked against the channels the bot can see, stored
    as id and name; without Slack connected, taken as given."""
    try:
        stream = channels.set_channel(
            session, principal, settings, stream_id, body.channel, _directory(settings), body.channel_name
        )
    except channels.SlackUnavailable as exc:
        raise _as_workspace_error(exc) from None
    return stream_service.describe(session, principal, stream)


async def _verified(request: Request, settings: Settings) -> bytes:
    body = await request.body()
    if not signature_valid(settings.slack_signing_secret, body, dict(request.headers)):
        raise Unauthorized("not signed by Slack (or too old: Slack's signatures are valid 5 minutes)")
    return body


class EventAnswer(BaseModel):
    ok: bool = True
    challenge: str | None = None


@router.post("/v1/slack/events", response_model=EventAnswer, responses=responses(Unauthorized, InvalidInput))
async def slack_events(request: Request, settings: AppSettings):
    """Slack's Events API: the URL check, and ``tokens_revoked`` / ``app_uninstalled``."""
    body = await _verified(request, settings)
    try:
        payload = json.loads(body)
    except ValueError:
        raise InvalidInput("body", "must be JSON") from None
    with request.app.state.sessions() as session, session.begin():
        answer = callbacks.handle_event(session, payload if isinstance(payload, dict) else {})
    return EventAnswer(ok=True, challenge=answer.get("challenge"))


class Acknowledged(BaseModel):
    ok: bool = True


@router.post("/v1/slack/interactivity", response_model=Acknowledged, responses=responses(Unauthorized, InvalidInput))
async def slack_interactivity(request: Request, settings: AppSettings, background: BackgroundTasks):
    """A button in a message: acknowledged at once (Slack waits 3 seconds at most); the
    follow or unfollow runs after, and its outcome is posted back to the clicking user."""
    body = await _verified(request, settings)
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
    except (ValueError, KeyError, IndexError, UnicodeDecodeError):
        raise InvalidInput("payload", "must be Slack's form field `payload` holding JSON") from None
    if isinstance(payload, dict):
        background.add_task(_act, request.app.state.sessions, settings, payload)
    return Acknowledged()


def _act(sessions, settings: Settings, payload: dict[str, Any]) -> None:
    def email_of(team_id: str, user_id: str) -> str | None:
        from sqlalchemy import select

        from variance.appdb.models import SlackInstallation

        with sessions() as session:
            installation = session.scalar(select(SlackInstallation).where(SlackInstallation.team_id == team_id))
            if installation is None:
                return None
            token = OrgToken(TokenCipher.of(settings).decrypt(installation.bot_token_encrypted), team_id)
        try:
            user = web_client(token.token, settings.slack_api_url).users_info(user=user_id)["user"]
        except Exception as exc:
            log.info("could not read the clicking Slack user (%s)", failure_of(exc).code)
            return None
        return (user.get("profile") or {}).get("email")

    with sessions() as session, session.begin():
        text = callbacks.handle_action(session, payload, email_of)
    url = payload.get("response_url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        try:
            httpx.post(url, json={"response_type": "ephemeral", "replace_original": False, "text": text}, timeout=5)
        except httpx.HTTPError as exc:
            log.info("could not answer a Slack button (%s)", exc)
