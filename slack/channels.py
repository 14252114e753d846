"""Channel autocomplete and a stream's channel.

``conversations.list`` is Tier 2 (about 20 calls a minute), and a person typing a channel
name asks once per keystroke, so :class:`ChannelDirectory` lists every channel the bot can
see (public and private, cursor by cursor) once per team and :attr:`ttl_s`, and searches
that list in memory. A stream's channel is validated against the same list and stored with
its id and name; with no Slack connected it is taken as given (the outbox shows it).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from variance.appdb.models import SlackStreamStatus, Stream
from variance.clients.slack import failure_of
from variance.core.settings import Settings
from variance.core.vocabulary import SlackStatus
from variance.slack.tokens import OrgToken, token_for
from variance.workspace import streams as stream_service
from variance.workspace.errors import InvalidInput, WorkspaceError
from variance.workspace.principals import Principal

CHANNEL_ID = re.compile(r"[A-Z0-9]{1,64}")
PAGE = 200  # channels per conversations.list call (Slack recommends at most 200)
MAX_PAGES = 50  # 10,000 channels: past that, the search is over the first ones

# What a person can do about each error conversations.list may answer.
ADVICE = {
    "missing_scope": "reinstall Slack: Variance needs the channels:read and groups:read scopes",
    "token_revoked": "Slack was disconnected: install it again",
    "invalid_auth": "Slack was disconnected: install it again",
    "ratelimited": "Slack is rate limiting channel lists: try again in a minute",
}


class SlackUnavailable(WorkspaceError):
    """Slack answered with an error (its code is in the message, with what to do)."""

    code = "slack_error"


@dataclass(frozen=True)
class ChannelInfo:
    id: str
    name: str
    is_private: bool
    is_member: bool


ClientFor = Callable[[OrgToken], Any]  # a slack_sdk.WebClient for a token


class ChannelDirectory:
    """Every channel the bot can see, per team, cached for ``ttl_s``. Thread-safe."""

    def __init__(self, client_for: ClientFor, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.client_for = client_for
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, tuple[float, list[ChannelInfo]]] = {}
        self._lock = threading.Lock()

    def channels(self, token: OrgToken) -> list[ChannelInfo]:
        with self._lock:
            cached = self._cache.get(token.team_id)
            if cached is not None and self.clock() - cached[0] < self.ttl_s:
                return cached[1]
            listed = self._list(token)
            self._cache[token.team_id] = (self.clock(), listed)
            return listed

    def _list(self, token: OrgToken) -> list[ChannelInfo]:
        client = self.client_for(token)
        found: list[ChannelInfo] = []
        cursor = None
        for _ in range(MAX_PAGES):
            try:
                answer = client.conversations_list(
                    types="public_channel,private_channel", exclude_archived=True, limit=PAGE, cursor=cursor
                )
            except Exception as exc:
                code = failure_of(exc).code
                raise SlackUnavailable(f"Slack answered {code}: {ADVICE.get(code, 'try again later')}") from None
            for c in answer.get("channels") or []:
                found.append(ChannelInfo(c["id"], c["name"], bool(c.get("is_private")), bool(c.get("is_member"))))
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return sorted(found, key=lambda c: c.name)

    def search(self, token: OrgToken, query: str, limit: int = 20) -> list[ChannelInfo]:
        """Names starting with ``query`` first, then names containing it."""
        q = query.strip().lstrip("#").casefold()
        every = self.channels(token)
        starts = [c for c in every if c.name.casefold().startswith(q)]
        contains = [c for c in every if q in c.name.casefold() and c not in starts]
        return (starts + contains)[:limit]

    def find(self, token: OrgToken, ref: str) -> ChannelInfo | None:
        name = ref.strip().lstrip("#")
        return next((c for c in self.channels(token) if c.id == ref.strip() or c.name == name), None)


def set_channel(
    session: Session,
    principal: Principal,
    settings: Settings,
    stream_id: str,
    channel: str | None,
    directory: ChannelDirectory,
    channel_name: str | None = None,
) -> Stream:
    """Point a stream at a channel (an id, a name, or ``#name``), or at none. With Slack
    connected the channel must be one the bot can see, stored as its id and name; without,
    it is taken as given (an id, and a name that defaults to it)."""
    stream = stream_service.get_writable(session, principal, stream_id)
    if channel is None:
        stream.slack_channel_id = stream.slack_channel_name = None
        return stream
    token = token_for(session, principal.org_id, settings)
    if token is None or token.revoked:
        ref = channel.strip()
        if not CHANNEL_ID.fullmatch(ref):  # the shape a stream's channel id has everywhere
            raise InvalidInput("channel", "without Slack connected, give the channel's id (e.g. C024BE91L)")
        stream.slack_channel_id, stream.slack_channel_name = ref, (channel_name or ref)[:200]
        _set_status(session, stream, SlackStatus.outbox if token is None else SlackStatus.error, None)
        return stream
    found = directory.find(token, channel)
    if found is None:
        raise InvalidInput("channel", "no channel of that id or name that Variance can see (invite it to private ones)")
    stream.slack_channel_id, stream.slack_channel_name = found.id, f"#{found.name}"
    session.flush()
    return stream


def _set_status(session: Session, stream: Stream, status: SlackStatus, error: str | None) -> None:
    row = session.get(SlackStreamStatus, stream.id)
    if row is None:
        session.add(SlackStreamStatus(stream_id=stream.id, org_id=stream.org_id, status=status, error=error))
    elif row.status != status:
        from variance.appdb.types import utcnow

        row.status, row.error, row.since = status.value, error, utcnow()


def stream_status(session: Session, principal: Principal, settings: Settings, stream_id: str) -> dict[str, Any]:
    """A stream's Slack status as the API shows it: ok, error (Slack's code, since when)
    or outbox; with how many of its matches wait and how many are dead letters."""
    from sqlalchemy import func, select

    from variance.appdb.models import SlackOutboxRow
    from variance.core.vocabulary import SlackDelivery

    stream = stream_service.get_visible(session, principal, stream_id)
    row = session.get(SlackStreamStatus, stream.id)
    token = token_for(session, principal.org_id, settings)
    counts = dict(
        session.execute(
            select(SlackOutboxRow.state, func.count())
            .where(SlackOutboxRow.stream_id == stream.id)
            .group_by(SlackOutboxRow.state)
        ).all()
    )
    if token is not None and token.revoked:
        status, error, since = SlackStatus.error.value, "token_revoked", row.since if row else None
    elif row is not None and not (token is None and row.status == SlackStatus.ok):
        status, error, since = row.status, row.error, row.since
    else:
        status, error, since = (SlackStatus.outbox.value if token is None else SlackStatus.ok.value), None, None
    return {
        "stream_id": stream.id,
        "channel": {"id": stream.slack_channel_id, "name": stream.slack_channel_name or stream.slack_channel_id}
        if stream.slack_channel_id
        else None,
        "status": status,
        "error": error,
        "since": since,
        "waiting": int(counts.get(SlackDelivery.pending, 0)) + int(counts.get(SlackDelivery.sending, 0)),
        "dead_lettered": int(counts.get(SlackDelivery.dead, 0)),
    }
