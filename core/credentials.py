"""Connection secrets and API tokens.

Both are 256-bit random values shown once, at creation. We store only their SHA-256
digest: with that much entropy a slow password hash adds nothing against guessing,
while a fast digest lets every ingestion request find its connection through an index.
Digests are compared with ``hmac.compare_digest`` so the comparison takes the same
time however many leading characters match.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "vsec_"
TOKEN_PREFIX = "vtok_"


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def hint(secret: str) -> str:
    """The last four characters, so a user can tell secrets apart without seeing them."""
    return "..." + secret[-4:]


def matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)
