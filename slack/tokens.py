"""Bot tokens: Fernet-encrypted at rest, decrypted only where a message is posted, never
returned by the API or written to a log.

``VARIANCE_TOKEN_ENCRYPTION_KEY`` holds one or more Fernet keys, comma-separated
(``cryptography``'s ``MultiFernet``): the first encrypts, every one decrypts. Rotation: put
a new key first, run ``variance slack rotate-key`` (re-encrypts every token with it), then
drop the old key.

Which token posts for an organisation (:func:`token_for`): its installation (the "Add to
Slack" flow), unless Slack said it was revoked; else the single-team token from
``VARIANCE_SLACK_TOKEN`` when ``VARIANCE_SLACK_TOKEN_ORG`` names this organisation; else
none, and its messages go to the local outbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from variance.appdb.models import SlackInstallation
from variance.core.settings import Settings


class TokenKeyError(RuntimeError):
    """No usable encryption key: installing Slack needs ``VARIANCE_TOKEN_ENCRYPTION_KEY``."""


class TokenCipher:
    """Encrypts and decrypts bot tokens with the configured Fernet keys."""

    def __init__(self, keys: str | None):
        from cryptography.fernet import Fernet, MultiFernet

        parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
        if not parts:
            raise TokenKeyError(
                "VARIANCE_TOKEN_ENCRYPTION_KEY is not set: generate one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
        except ValueError as exc:
            raise TokenKeyError(f"VARIANCE_TOKEN_ENCRYPTION_KEY holds a key that is not a Fernet key ({exc})") from None

    @classmethod
    def of(cls, settings: Settings) -> TokenCipher:
        return cls(settings.token_encryption_key)

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, encrypted: str) -> str:
        return self._fernet.decrypt(encrypted.encode()).decode()

    def rotate(self, encrypted: str) -> str:
        """The same token encrypted with the first key."""
        return self._fernet.rotate(encrypted.encode()).decode()


@dataclass(frozen=True)
class OrgToken:
    """The token an organisation posts with, and the workspace it belongs to."""

    token: str
    team_id: str  # the installation's team; "single-team" for the configured token
    revoked: bool = False  # Slack said so: nothing is posted (or written to the outbox) for it

    def __repr__(self) -> str:  # never print a token, even in a traceback's locals
        return f"OrgToken(team_id={self.team_id!r}, token=***)"


def token_for(session: Session, org_id: str, settings: Settings) -> OrgToken | None:
    """The token that posts for ``org_id``, or None (messages go to the outbox); a revoked
    installation gives a token marked ``revoked`` (its streams show ``token_revoked``)."""
    installation = session.get(SlackInstallation, org_id)
    if installation is not None:
        if installation.revoked_at is not None:
            return OrgToken("", installation.team_id, revoked=True)
        return OrgToken(TokenCipher.of(settings).decrypt(installation.bot_token_encrypted), installation.team_id)
    if installation is None and settings.slack_token and settings.slack_token_org == org_id:
        return OrgToken(settings.slack_token, "single-team")
    return None


def rotate_all(session: Session, settings: Settings) -> int:
    """Re-encrypt every stored token with the first key; returns how many."""
    cipher = TokenCipher.of(settings)
    installations = list(session.scalars(select(SlackInstallation)))
    for installation in installations:
        installation.bot_token_encrypted = cipher.rotate(installation.bot_token_encrypted)
    return len(installations)
