"""Who is calling, and the API tokens that say so.

Every workspace rule that depends on who asks takes a ``Principal`` and acts inside its
organisation. The API finds it from a token (``authenticate_token``); the CLI chooses a user
of the organisation (``orgs.act_as``), so both are held to the same permissions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from variance.appdb.models import ApiToken, User
from variance.core import credentials
from variance.core.ids import new_id
from variance.core.vocabulary import Role
from variance.workspace.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class Principal:
    """Who is calling: every management request acts inside ``org_id``."""

    org_id: str
    user_id: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin.value


def require_admin(principal: Principal) -> Principal:
    """The principal, if an admin of their organisation: connections, users, milestones and
    smart tags are theirs to change."""
    if not principal.is_admin:
        raise Forbidden("only an admin of this organisation may do this")
    return principal


def issue_token(session: Session, user: User) -> str:
    """A new API token for ``user``; only its digest is stored, so this is the one time it is seen."""
    token = credentials.new_secret(credentials.TOKEN_PREFIX)
    session.add(
        ApiToken(
            id=new_id("tok"),
            org_id=user.org_id,
            user_id=user.id,
            token_digest=credentials.digest(token),
            hint=credentials.hint(token),
        )
    )
    return token


def authenticate_token(session: Session, token: str) -> Principal:
    if not token or not token.startswith(credentials.TOKEN_PREFIX):
        raise Unauthorized("a valid API token is required: send `Authorization: Bearer <token>`")
    row = session.execute(
        select(ApiToken.token_digest, User.id, User.org_id, User.role)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_digest == credentials.digest(token))
    ).first()
    if row is None or not credentials.matches(token, row[0]):
        raise Unauthorized("a valid API token is required: send `Authorization: Bearer <token>`")
    return Principal(org_id=row[2], user_id=row[1], role=row[3])
