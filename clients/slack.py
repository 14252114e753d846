"""Posting stream matches to Slack, or, without a token, to a local outbox.

The outbox (``VARIANCE_DATA_DIR/slack-outbox.jsonl``) is also the sent-log: one JSON
line per message, keyed by organisation, stream and message id, and a key already in it
is never posted again, so a replay or a redelivery never double-posts. With a token the
message goes to Slack's Web API through ``slack-sdk`` first (``VARIANCE_SLACK_API_URL``
points it elsewhere, e.g. a test server) and is recorded once Slack accepted it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from variance.core.mrkdwn import escape
from variance.core.vocabulary import RowStatus

log = logging.getLogger(__name__)


def message_text(match: dict, stream_name: str) -> str:
    """One line for a stream match; everything in it is escaped, since events supply most of it."""
    who = " / ".join(escape(x) for x in (match.get("contact_id"), match.get("account_id")) if x)
    kind = escape(match["kind"])
    what = f"{kind}: {escape(match['name'])}" if match.get("name") else kind
    return f"[{escape(stream_name)}] {what}" + (f" — {who}" if who else "")


class SlackSender:
    """One per outbox path per process; thread-safe."""

    # Beam's local runner makes a PostToSlack per bundle: they (and the restart's catch-up)
    # share one sent-log and lock per outbox, read from the file once per process.
    _instances: dict[str, SlackSender] = {}
    _lock = threading.Lock()

    def __init__(self, outbox: Path, token: str | None = None, api_url: str | None = None):
        self.outbox = outbox
        self._guard = threading.Lock()
        self._sent: set[str] = set()
        self._client = None
        if token:
            from slack_sdk import WebClient

            self._client = WebClient(token=token, base_url=api_url or WebClient.BASE_URL)
        outbox.parent.mkdir(parents=True, exist_ok=True)
        if outbox.exists():
            for line in outbox.read_text(encoding="utf-8").splitlines():
                try:
                    self._sent.add(json.loads(line)["key"])
                except (ValueError, KeyError):
                    continue  # a torn last line after a crash: that message was not recorded

    @classmethod
    def of(cls, outbox: Path, token: str | None = None, api_url: str | None = None) -> SlackSender:
        key = str(outbox.resolve())
        with cls._lock:
            sender = cls._instances.get(key)
            if sender is None:
                sender = cls._instances[key] = cls(outbox, token, api_url)
            return sender

    @staticmethod
    def key(match: dict) -> str:
        return f"{match['org_id']}/{match['stream_id']}/{match['message_id']}"

    def send(self, match: dict, channel_id: str, channel_name: str | None, stream_name: str) -> bool:
        """Post once; returns False when this match was already posted."""
        key = self.key(match)
        with self._guard:
            if key in self._sent:
                return False
            text = message_text(match, stream_name)
            record: dict[str, Any] = {
                "key": key,
                "org_id": match["org_id"],
                "stream_id": match["stream_id"],
                "message_id": match["message_id"],
                "channel_id": channel_id,
                "channel_name": channel_name,
                "text": text,
                "via": "slack" if self._client else "outbox",
            }
            if self._client is not None:
                self._client.chat_postMessage(channel=channel_id, text=text)
            with open(self.outbox, "a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                out.flush()
                os.fsync(out.fileno())
            self._sent.add(key)
            return True


def post_match(sender: SlackSender, config_provider, match: dict) -> bool:
    """Post a current stream match if its stream has a Slack channel and it was not
    posted yet; True when a message went out. ``config_provider(org_id)`` gives the
    organisation's streams."""
    if match.get("status") != RowStatus.current:
        return False
    stream = config_provider(match["org_id"]).streams.get(match["stream_id"])
    if stream is None or not stream.slack_channel_id:
        return False
    return sender.send(match, stream.slack_channel_id, stream.slack_channel_name, stream.name)
