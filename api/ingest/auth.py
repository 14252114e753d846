"""Write-key authentication for ingestion, as Segment does it.

The write key is the HTTP Basic user name with an empty password; a batch may carry
it as ``writeKey`` in the body instead; the destination webhook also accepts it as a
Bearer token. Lookups are cached for a few seconds per process, because the hot path
must not hit the database for every event. Rotating or deleting a secret through this
process takes effect at once; through another process (the CLI) within ``TTL_S``.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable

from variance.core import credentials
from variance.workspace.connections import AuthenticatedConnection

TTL_S = 10.0
_MAX_ENTRIES = 10_000


def basic_user(authorization: str | None) -> str | None:
    """The user name of a Basic Authorization header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0]


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class SecretCache:
    """digest(secret) -> connection, for TTL_S seconds; misses are not cached."""

    def __init__(self, lookup: Callable[[str], AuthenticatedConnection | None], ttl_s: float = TTL_S):
        self._lookup = lookup
        self._ttl = ttl_s
        self._entries: dict[str, tuple[float, AuthenticatedConnection]] = {}
        self._lock = threading.Lock()

    def cached(self, secret: str) -> AuthenticatedConnection | None:
        """A fresh cache hit, without touching the database (safe on the event loop)."""
        key = credentials.digest(secret)
        with self._lock:
            hit = self._entries.get(key)
        if hit and hit[0] > time.monotonic() and credentials.matches(secret, hit[1].secret_digest):
            return hit[1]
        return None

    def get(self, secret: str) -> AuthenticatedConnection | None:
        hit = self.cached(secret)
        if hit is not None:
            return hit
        key = credentials.digest(secret)
        now = time.monotonic()
        found = self._lookup(secret)
        if found is not None:
            with self._lock:
                if len(self._entries) >= _MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (now + self._ttl, found)
        return found

    def forget_connection(self, connection_id: str) -> None:
        with self._lock:
            for key in [k for k, (_, c) in self._entries.items() if c.source.connection_id == connection_id]:
                del self._entries[key]
