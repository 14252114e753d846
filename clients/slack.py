"""Slack's Web API through ``slack-sdk``, and the local outbox file that stands in for it.

- :func:`web_client`: a ``WebClient`` with slack-sdk's retry handlers attached (connection
  errors, 429 with ``Retry-After``, 5xx), so no caller writes a retry loop of its own.
  ``base_url`` points it elsewhere (``VARIANCE_SLACK_API_URL``, a test's fake Slack).
- :func:`failure_of`: what an exception from a call means for the sender: transient (try
  again later), wrong for this one message, or wrong for the stream (channel, token, scope),
  with Slack's error code.
- :class:`OutboxFile`: without a token, each message that would be posted is one JSON line
  (exactly the ``chat.postMessage`` arguments) in ``VARIANCE_DATA_DIR/slack-outbox.jsonl``,
  appended and fsynced. It is only a record of what Slack would show; the sent-log is the
  outbox table in the app database, so nothing ever reads this file whole.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from variance.core.mrkdwn import escape

# Errors that say the stream's channel or the organisation's token cannot work until a
# person does something (invite the bot, reconnect Slack, grant a scope).
STREAM_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "channel_is_archived",
        "token_revoked",
        "token_expired",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "missing_scope",
        "no_permission",
        "team_access_not_granted",
        "restricted_action",
        "ekm_access_denied",
    }
)
# Errors about one message's content: posting it again would fail again.
MESSAGE_ERRORS = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "msg_blocks_too_long", "no_text", "invalid_metadata"}
)


class FailureScope(StrEnum):
    transient = "transient"  # 5xx, timeouts, rate limits the retry handlers could not wait out
    message = "message"  # this message can never be posted as it is
    stream = "stream"  # nothing reaches this stream's channel until a person acts


@dataclass(frozen=True)
class SlackFailure:
    code: str  # Slack's error code, or http_503, timeout, connection_error
    scope: FailureScope


def failure_of(exc: BaseException) -> SlackFailure:
    """What a failed call means; Slack's own error code when it answered."""
    from slack_sdk.errors import SlackApiError

    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        code = str((exc.response.data or {}).get("error") if isinstance(exc.response.data, dict) else "") or ""
        if status >= 500:
            return SlackFailure(code or f"http_{status}", FailureScope.transient)
        if code in STREAM_ERRORS:
            return SlackFailure(code, FailureScope.stream)
        if code in MESSAGE_ERRORS:
            return SlackFailure(code, FailureScope.message)
        return SlackFailure(code or f"http_{status}", FailureScope.transient)
    if isinstance(exc, TimeoutError) or "timed out" in str(exc).lower():
        return SlackFailure("timeout", FailureScope.transient)
    return SlackFailure("connection_error", FailureScope.transient)


def web_client(token: str, base_url: str | None = None, *, timeout: float = 10, retries: int = 2):
    """A ``slack_sdk.WebClient`` for ``token`` with slack-sdk's retry handlers: connection
    errors, 429 (the handler sleeps ``Retry-After``) and 5xx, each ``retries`` times."""
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )

    return WebClient(
        token=token,
        base_url=base_url or WebClient.BASE_URL,
        timeout=int(max(1, timeout)),
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=retries),
            RateLimitErrorRetryHandler(max_retry_count=retries),
            ServerErrorRetryHandler(max_retry_count=retries),
        ],
    )


def message_text(match: dict, stream_name: str) -> str:
    """One line for a stream match; everything in it is escaped, since events supply most of it."""
    who = " / ".join(escape(x) for x in (match.get("contact_id"), match.get("account_id")) if x)
    kind = escape(match["kind"])
    what = f"{kind}: {escape(match['name'])}" if match.get("name") else kind
    return f"[{escape(stream_name)}] {what}" + (f" — {who}" if who else "")


class OutboxFile:
    """The local outbox: one JSON line per message Slack would have been sent. Thread-safe."""

    # How far from the end :meth:`holds` looks: the posts a crash can leave unconfirmed are
    # the last few written, never the whole history.
    TAIL_BYTES = 4 * 1024 * 1024

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        """Write one line and fsync it: once this returns, the record survives a kill -9."""
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())

    def holds(self, claim_ids: Iterable[str]) -> set[str]:
        """Which of these claims (``record["claim"]``) are among the last lines written."""
        wanted = set(claim_ids)
        if not wanted or not self.path.exists():
            return set()
        with self._lock, open(self.path, "rb") as source:
            size = source.seek(0, os.SEEK_END)
            source.seek(max(0, size - self.TAIL_BYTES))
            tail = source.read().decode("utf-8", errors="replace").splitlines()
        found = set()
        for line in tail:
            try:
                claim = json.loads(line).get("claim")
            except (ValueError, AttributeError):
                continue  # a torn line, or the first, cut by the tail's start
            if claim in wanted:
                found.add(claim)
        return found


def signature_valid(signing_secret: str | None, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether a request comes from Slack: ``X-Slack-Signature`` over the raw body with the
    app's signing secret, within Slack's 5-minute window (``SignatureVerifier``, which compares
    with ``hmac.compare_digest``), so a replay of an old request is refused. Without a secret
    nothing is trusted."""
    from slack_sdk.signature import SignatureVerifier

    if not signing_secret:
        return False
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp, signature = lowered.get("x-slack-request-timestamp"), lowered.get("x-slack-signature")
    if not timestamp or not timestamp.isdigit() or not signature:
        return False  # the verifier would fail on a timestamp that is not a number
    return SignatureVerifier(signing_secret).is_valid(body=body, timestamp=timestamp, signature=signature)
