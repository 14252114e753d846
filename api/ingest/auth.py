"""Write-key authentication for ingestion, as Segment does it.

The write key is the HTTP Basic user name with an empty password; a batch may carry
it as ``writeKey`` in the body instead; the destination webhook also accepts it as a
Bearer token. Lookups are cached for a few seconds per process, because the hot path
must not hit the database for every event. Rotating or deleting a secret through this
process takes effect at once; through another process (the CLI, a second API instance)
within ``STAMP_INTERVAL_S`` (see ``SecretCache``).
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
STAMP_INTERVAL_S = 1.0
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
    """digest(secret) -> connection, for at most TTL_S seconds; misses are not cached.

    A hit is trusted only while the connections' change stamp (``appdb.stamps``, bumped in the
    same transaction as a rotation, rename or deletion in any process) was read less than
    ``STAMP_INTERVAL_S`` ago, and a new stamp empties the cache: so a change made by the CLI or
    another API instance takes effect here within about a second, for one small query per
    second rather than one per request.
    """

    def __init__(
        self,
        lookup: Callable[[str], AuthenticatedConnection | None],
        read_stamp: Callable[[], int],
        ttl_s: float = TTL_S,
        stamp_interval_s: float = STAMP_INTERVAL_S,
    ):
        self._lookup = lookup
        self._read_stamp = read_stamp
        self._ttl = ttl_s
        self._stamp_interval = stamp_interval_s
        self._entries: dict[str, tuple[float, AuthenticatedConnection]] = {}
        self._stamp: int | None = None
        self._stamp_read_at = float("-inf")
        self._lock = threading.Lock()

    def cached(self, secret: str) -> AuthenticatedConnection | None:
        """A fresh cache hit, without touching the database (safe on the event loop)."""
        now = time.monotonic()
        key = credentials.digest(secret)
        with self._lock:
            if now - self._stamp_read_at >= self._stamp_interval:
                return None  # the stamp is due: let get() read it off the event loop
            hit = self._entries.get(key)
        if hit and hit[0] > now and credentials.matches(secret, hit[1].secret_digest):
            return hit[1]
        return None

    def get(self, secret: str) -> AuthenticatedConnection | None:
        self._check_stamp()
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

    def _check_stamp(self) -> None:
        with self._lock:
            due = time.monotonic() - self._stamp_read_at >= self._stamp_interval
        if not due:
            return
        read_at = time.monotonic()
        stamp = self._read_stamp()
        with self._lock:
            if stamp != self._stamp:
                self._entries.clear()
                self._stamp = stamp
            self._stamp_read_at = max(self._stamp_read_at, read_at)

    def forget_connection(self, connection_id: str) -> None:
        with self._lock:
            for key in [k for k, (_, c) in self._entries.items() if c.source.connection_id == connection_id]:
                del self._entries[key]
