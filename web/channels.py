"""The Slack channel picker of the stream forms, through an interface the API hands in.

The web app may not reach Slack itself (its allowed imports are the core, the workspace
and the app database), so the API's Slack routes, which own the cached channel directory
(one ``conversations.list`` walk per team and minute), give it a :class:`ChannelSource`
with :func:`use`. Until one is given, every organisation reads as "Slack not connected"
and the forms take a channel id and name by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from variance.core.settings import Settings


@dataclass(frozen=True)
class ChannelChoice:
    id: str
    name: str  # without the leading '#'
    is_private: bool
    is_member: bool  # false: the Variance app must be invited before it can post there


class ChannelSource(Protocol):
    def unavailable(self, session: Session, org_id: str, settings: Settings) -> str | None:
        """None when the organisation's Slack is connected; otherwise why not, for people."""

    def search(self, session: Session, org_id: str, settings: Settings, query: str, limit: int) -> list[ChannelChoice]:
        """Channels whose name starts with (then contains) ``query``; raises a WorkspaceError
        saying what to do when Slack refuses."""

    def find(self, session: Session, org_id: str, settings: Settings, channel_id: str) -> ChannelChoice | None:
        """The channel of that id, if the bot can see it."""


class _NoSlack:
    def unavailable(self, session: Session, org_id: str, settings: Settings) -> str | None:
        return "Slack is not connected for this organisation"

    def search(self, session: Session, org_id: str, settings: Settings, query: str, limit: int) -> list[ChannelChoice]:
        return []

    def find(self, session: Session, org_id: str, settings: Settings, channel_id: str) -> ChannelChoice | None:
        return None


_source: ChannelSource = _NoSlack()


def use(source: ChannelSource) -> None:
    """Give the picker its channels (the API's Slack routes call this once, at import)."""
    global _source
    _source = source


def source() -> ChannelSource:
    return _source
