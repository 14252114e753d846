"""A small fake of Slack's Web API over real HTTP, for ``slack_sdk.WebClient(base_url=fake.url)``.

No maintained fake exists for Python; slack-sdk's own tests run a local HTTP server, and so do
we: the code under test makes real requests through the real client, so its retry handlers,
timeouts and error parsing are the ones that run in production.

What it does, in Slack's JSON shape (``{"ok": false, "error": "..."}``):

- ``chat.postMessage``: checks the bearer token (``not_authed``, ``invalid_auth``,
  ``token_revoked``), the channel (``channel_not_found``, ``not_in_channel``), the text and the
  Block Kit structure and limits (``invalid_blocks`` with the reasons in ``errors``,
  ``msg_blocks_too_long`` past :data:`BLOCKS_JSON_LIMIT` characters of blocks JSON,
  ``msg_too_long``), keeps to a per-channel rate (429 ``ratelimited`` with ``Retry-After``), and
  records every message it accepts in :attr:`FakeSlack.messages`.
- ``conversations.list`` with cursor pagination, ``conversations.history`` (with the
  messages' metadata when asked, as the sender's crash recovery reads it),
  ``users.lookupByEmail``, ``users.info``, and ``oauth.v2.access`` (client credentials by
  Basic auth, codes from :meth:`FakeSlack.grant`, each usable once).
- Switches to fail as Slack does: :meth:`FakeSlack.fail` (an error code, or a 5xx status, for
  every call or the next ``times``) and :attr:`FakeSlack.delay` (slow answers).

Every call is logged in :attr:`FakeSlack.calls`, so a test can count what reached Slack.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TOKEN = "xoxb-fake-token"
BLOCKS_JSON_LIMIT = 13_000  # Slack's undocumented rejection of big messages, measured around 13k
TEXT_LIMIT = 40_000


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    is_archived: bool = False


@dataclass
class Failure:
    error: str
    status: int = 200
    times: int | None = None  # None: until cleared
    method: str = "chat.postMessage"
    channel: str | None = None  # None: every channel


@dataclass
class FakeResponse:
    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


def _error(error: str, status: int = 200, **extra: Any) -> FakeResponse:
    return FakeResponse(status, {"ok": False, "error": error, **extra})


# -- Block Kit validation ---------------------------------------------------------------------

_BLOCK_KEYS = {
    "section": {"type", "block_id", "text", "fields", "accessory", "expand"},
    "header": {"type", "block_id", "text"},
    "context": {"type", "block_id", "elements"},
    "divider": {"type", "block_id"},
    "actions": {"type", "block_id", "elements"},
}
_BUTTON_KEYS = {"type", "text", "action_id", "url", "value", "style", "confirm", "accessibility_label"}


def _text_errors(obj: Any, where: str, limit: int, *, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, Mapping) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"must be a text object [json-pointer:{where}]"]
    if plain_only and obj["type"] != "plain_text":
        return [f"must be a plain_text object [json-pointer:{where}/type]"]
    allowed = {"type", "text", "emoji"} if obj["type"] == "plain_text" else {"type", "text", "verbatim"}
    errors = [f"unexpected property {key!r} [json-pointer:{where}/{key}]" for key in obj if key not in allowed]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(f"must be more than 0 characters [json-pointer:{where}/text]")
    elif len(text) > limit:
        errors.append(f"must be less than {limit + 1} characters [json-pointer:{where}/text]")
    return errors


def _button_errors(element: Any, where: str) -> list[str]:
    if not isinstance(element, Mapping) or element.get("type") != "button":
        return [f"unsupported element type [json-pointer:{where}]"]
    errors = [f"unexpected property {key!r} [json-pointer:{where}/{key}]" for key in element if key not in _BUTTON_KEYS]
    errors += _text_errors(element.get("text"), f"{where}/text", 75, plain_only=True)
    url = element.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 3000):
        errors.append(f"must be a valid url of at most 3000 characters [json-pointer:{where}/url]")
    if len(element.get("action_id", "")) > 255:
        errors.append(f"must be less than 256 characters [json-pointer:{where}/action_id]")
    if element.get("style") not in (None, "primary", "danger"):
        errors.append(f"must be primary or danger [json-pointer:{where}/style]")
    return errors


def _block_errors(block: Any, where: str) -> list[str]:
    kind = block.get("type") if isinstance(block, Mapping) else None
    if kind not in _BLOCK_KEYS:
        return [f"unsupported type {kind!r} [json-pointer:{where}/type]"]
    errors = [
        f"unexpected property {key!r} [json-pointer:{where}/{key}]" for key in block if key not in _BLOCK_KEYS[kind]
    ]
    if kind == "header":
        errors += _text_errors(block.get("text"), f"{where}/text", 150, plain_only=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"must have text or fields [json-pointer:{where}]")
        if "text" in block:
            errors += _text_errors(block["text"], f"{where}/text", 3000)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
                errors.append(f"must have 1 to 10 fields [json-pointer:{where}/fields]")
            else:
                for i, item in enumerate(fields):
                    errors += _text_errors(item, f"{where}/fields/{i}", 2000)
        if "accessory" in block:
            errors += _button_errors(block["accessory"], f"{where}/accessory")
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            errors.append(f"must have 1 to 10 elements [json-pointer:{where}/elements]")
        else:
            for i, item in enumerate(elements):
                errors += _text_errors(item, f"{where}/elements/{i}", 3000)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
            errors.append(f"must have 1 to 25 elements [json-pointer:{where}/elements]")
        else:
            for i, item in enumerate(elements):
                errors += _button_errors(item, f"{where}/elements/{i}")
    return errors


def block_kit_errors(blocks: Any) -> list[str]:
    """Why Slack would answer ``invalid_blocks``, in its own words; empty when it would not.
    Covers the blocks and elements our messages use; anything else is refused."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    errors = [] if len(blocks) <= 50 else ["must have at most 50 items [json-pointer:/blocks]"]
    ids = [b["block_id"] for b in blocks if isinstance(b, Mapping) and "block_id" in b]
    if len(ids) != len(set(ids)):
        errors.append("block_id must be unique [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        errors += _block_errors(block, f"/blocks/{i}")
    return errors


# -- the server -------------------------------------------------------------------------------


class FakeSlack:
    """Start with ``with FakeSlack() as slack:`` (or :meth:`start` / :meth:`stop`); point a
    client at :attr:`url`. Thread-safe; state is public so tests can read and set it."""

    def __init__(
        self,
        *,
        tokens: Mapping[str, str] | None = None,
        channels: list[Channel] | None = None,
        users_by_email: Mapping[str, str] | None = None,
        per_channel_rate: float = 1.0,
        per_channel_burst: int = 5,
    ):
        self.tokens = dict(tokens or {TOKEN: "T0FAKE"})  # token -> team id
        self.revoked: set[str] = set()
        self.channels = channels or [Channel("C0GENERAL", "general"), Channel("C0SIGNALS", "signals")]
        self.users_by_email = dict(users_by_email or {})  # email -> Slack user id
        # OAuth v2: the app's credentials, and codes Slack would hand the browser
        self.client_id, self.client_secret = "fake-client-id", "fake-client-secret"
        self.oauth_codes: dict[str, dict[str, str]] = {}  # code -> {"token", "team_id", "team_name"}
        self.per_channel_rate = per_channel_rate
        self.per_channel_burst = per_channel_burst
        self.delay = 0.0  # seconds before each answer
        self.failures: list[Failure] = []
        self.messages: list[dict] = []
        self.calls: list[tuple[str, dict]] = []
        self.rate_limited = 0
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The ``base_url`` for ``WebClient`` (it appends the method name)."""
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> FakeSlack:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- switches ---------------------------------------------------------------------------

    def fail(
        self,
        error: str,
        *,
        status: int = 200,
        times: int | None = None,
        method: str = "chat.postMessage",
        channel: str | None = None,
    ) -> None:
        """Answer ``method`` with ``error`` (and HTTP ``status``: a 5xx for a server error)
        for the next ``times`` calls, or until :meth:`recover`."""
        with self._lock:
            self.failures.append(Failure(error, status, times, method, channel))

    def recover(self) -> None:
        with self._lock:
            self.failures.clear()

    def posted_to(self, channel: str) -> list[dict]:
        with self._lock:
            return [m for m in self.messages if m["channel"] == channel]

    # -- requests ---------------------------------------------------------------------------

    def grant(self, code: str, token: str, team_id: str, team_name: str = "Team") -> None:
        """Make ``code`` exchangeable once for ``token`` of workspace ``team_id``."""
        with self._lock:
            self.tokens[token] = team_id
            self.oauth_codes[code] = {"token": token, "team_id": team_id, "team_name": team_name}

    def handle(
        self, method: str, token: str | None, params: dict[str, Any], basic: tuple[str, str] | None = None
    ) -> FakeResponse:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.calls.append((method, params))
            if method == "oauth.v2.access":
                return self._oauth_access(basic, params)
            if not token:
                return _error("not_authed")
            if token in self.revoked:
                return _error("token_revoked")
            if token not in self.tokens:
                return _error("invalid_auth")
            failed = self._failure(method, params.get("channel"))
            if failed is not None:
                return failed
            route = _ROUTES.get(method)
            if route is None:
                return _error("unknown_method", status=404)
            return route(self, self.tokens[token], params)

    def _failure(self, method: str, channel: str | None) -> FakeResponse | None:
        for failure in self.failures:
            if failure.method == method and failure.channel in (None, channel):
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times <= 0:
                        self.failures.remove(failure)
                extra = (
                    {"needed": "chat:write", "provided": "channels:read"} if failure.error == "missing_scope" else {}
                )
                return _error(failure.error, failure.status, **extra)
        return None

    def _channel(self, ref: str) -> Channel | None:
        name = ref.lstrip("#")
        return next((c for c in self.channels if ref == c.id or name == c.name), None)

    def _take(self, channel_id: str) -> float:
        """A token from the channel's bucket; 0 when granted, else seconds until one is."""
        now = time.monotonic()
        tokens, at = self._buckets.get(channel_id, (float(self.per_channel_burst), now))
        tokens = min(float(self.per_channel_burst), tokens + (now - at) * self.per_channel_rate)
        if tokens >= 1:
            self._buckets[channel_id] = (tokens - 1, now)
            return 0.0
        self._buckets[channel_id] = (tokens, now)
        return (1 - tokens) / self.per_channel_rate

    def _post_message(self, team: str, params: dict[str, Any]) -> FakeResponse:
        channel = self._channel(str(params.get("channel") or ""))
        if channel is None:
            return _error("channel_not_found")
        if not channel.is_member:
            return _error("not_in_channel")
        if channel.is_archived:
            return _error("is_archived")
        blocks = params.get("blocks")
        if isinstance(blocks, str):  # a form-encoded post sends the blocks as JSON text
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return _error("invalid_blocks_format")
        text = params.get("text")
        if not text and not blocks:
            return _error("no_text")
        if isinstance(text, str) and len(text) > TEXT_LIMIT:
            return _error("msg_too_long")
        if blocks is not None:
            if len(json.dumps(blocks)) > BLOCKS_JSON_LIMIT:
                return _error("msg_blocks_too_long")
            errors = block_kit_errors(blocks)
            if errors:
                return _error("invalid_blocks", errors=errors, response_metadata={"messages": errors})
        wait = self._take(channel.id)
        if wait:
            self.rate_limited += 1
            return FakeResponse(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(math.ceil(wait))})
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return _error("invalid_metadata_format")
        if metadata is not None and not (
            isinstance(metadata, Mapping)
            and isinstance(metadata.get("event_type"), str)
            and "event_payload" in metadata
        ):
            return _error("invalid_metadata_schema")
        ts = f"{time.time():.6f}"
        message = {"channel": channel.id, "team": team, "ts": ts, "text": text, "blocks": blocks, "metadata": metadata}
        message |= {k: v for k, v in params.items() if k not in message and k != "token"}
        self.messages.append(message)
        return FakeResponse(200, {"ok": True, "channel": channel.id, "ts": ts, "message": {"text": text, "ts": ts}})

    def _conversations_list(self, team: str, params: dict[str, Any]) -> FakeResponse:
        types = set(str(params.get("types") or "public_channel").split(","))
        wanted = [
            c
            for c in self.channels
            if ("private_channel" if c.is_private else "public_channel") in types
            and not (c.is_archived and str(params.get("exclude_archived")).lower() in ("true", "1"))
        ]
        limit = max(1, min(int(params.get("limit") or 100), 1000))
        cursor = str(params.get("cursor") or "")
        try:
            start = int(base64.b64decode(cursor).decode().removeprefix("offset:")) if cursor else 0
        except ValueError:
            return _error("invalid_cursor")
        page = wanted[start : start + limit]
        following = base64.b64encode(f"offset:{start + limit}".encode()).decode() if start + limit < len(wanted) else ""
        channels = [
            {
                "id": c.id,
                "name": c.name,
                "is_channel": True,
                "is_private": c.is_private,
                "is_member": c.is_member,
                "is_archived": c.is_archived,
            }
            for c in page
        ]
        return FakeResponse(200, {"ok": True, "channels": channels, "response_metadata": {"next_cursor": following}})

    def _history(self, team: str, params: dict[str, Any]) -> FakeResponse:
        """Messages of a channel newer than ``oldest``, newest first; ``metadata`` only with
        ``include_all_metadata``, as Slack does."""
        channel = self._channel(str(params.get("channel") or ""))
        if channel is None:
            return _error("channel_not_found")
        oldest = float(params.get("oldest") or 0)
        with_metadata = str(params.get("include_all_metadata")).lower() in ("true", "1")
        found = [
            {"type": "message", "ts": m["ts"], "text": m["text"]}
            | ({"metadata": m["metadata"]} if with_metadata and m.get("metadata") else {})
            for m in reversed(self.messages)
            if m["channel"] == channel.id and float(m["ts"]) > oldest and m["team"] == team
        ]
        limit = max(1, min(int(params.get("limit") or 100), 1000))
        return FakeResponse(200, {"ok": True, "messages": found[:limit], "has_more": len(found) > limit})

    def _oauth_access(self, basic: tuple[str, str] | None, params: dict[str, Any]) -> FakeResponse:
        """Client credentials by Basic auth (as slack-sdk sends them) or in the form."""
        client = basic or (str(params.get("client_id") or ""), str(params.get("client_secret") or ""))
        if client != (self.client_id, self.client_secret):
            return _error("invalid_client_id")
        granted = self.oauth_codes.pop(str(params.get("code") or ""), None)  # a code works once
        if granted is None:
            return _error("invalid_code")
        return FakeResponse(
            200,
            {
                "ok": True,
                "access_token": granted["token"],
                "token_type": "bot",
                "scope": "chat:write,channels:read",
                "bot_user_id": "UBOT",
                "app_id": "AFAKE",
                "team": {"id": granted["team_id"], "name": granted["team_name"]},
            },
        )

    def _users_info(self, team: str, params: dict[str, Any]) -> FakeResponse:
        user_id = str(params.get("user") or "")
        email = next((e for e, u in self.users_by_email.items() if u == user_id), None)
        if email is None:
            return _error("user_not_found")
        return FakeResponse(200, {"ok": True, "user": {"id": user_id, "team_id": team, "profile": {"email": email}}})

    def _lookup_by_email(self, team: str, params: dict[str, Any]) -> FakeResponse:
        email = str(params.get("email") or "").lower()
        user_id = self.users_by_email.get(email)
        if user_id is None:
            return _error("users_not_found")
        return FakeResponse(200, {"ok": True, "user": {"id": user_id, "team_id": team, "profile": {"email": email}}})


_ROUTES = {
    "chat.postMessage": FakeSlack._post_message,
    "conversations.list": FakeSlack._conversations_list,
    "users.lookupByEmail": FakeSlack._lookup_by_email,
    "conversations.history": FakeSlack._history,
    "users.info": FakeSlack._users_info,
}


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            url = urlsplit(self.path)
            method = url.path.rsplit("/", 1)[-1]
            params: dict[str, Any] = dict(parse_qsl(url.query))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if body and "json" in (self.headers.get("Content-Type") or ""):
                params.update(json.loads(body))
            elif body:
                params.update(parse_qsl(body.decode()))
            auth = self.headers.get("Authorization") or ""
            token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else params.pop("token", None)
            basic = None
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                basic = (user, password)
            response = fake.handle(method, token, params, basic)
            data = json.dumps(response.body).encode()
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: tests read fake.calls instead

    return Handler


def running(**options: Any) -> Iterator[FakeSlack]:
    """For a pytest fixture: ``yield from running()``."""
    with FakeSlack(**options) as fake:
        yield fake
