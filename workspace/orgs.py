"""Organisations, their users and API tokens."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from variance.appdb.models import ApiToken, Organisation, Role, User
from variance.core import credentials
from variance.core.ids import new_id
from variance.workspace.errors import InvalidInput, Unauthorized


@dataclass(frozen=True)
class Principal:
    """Who is calling: every management request acts inside ``org_id``."""

    org_id: str
    user_id: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin.value


@dataclass(frozen=True)
class CreatedOrg:
    org: Organisation
    admin: User
    token: str


def _clean_name(value: str, field: str = "name", max_len: int = 200) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(field, "must not be empty")
    if len(value) > max_len:
        raise InvalidInput(field, f"must be at most {max_len} characters")
    return value


def issue_token(session: Session, user: User) -> str:
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


def create_org(
    session: Session, name: str, admin_name: str = "Admin", admin_email: str = "admin@localhost"
) -> CreatedOrg:
    """Create an organisation with its first admin user and that user's API token."""
    org = Organisation(id=new_id("org"), name=_clean_name(name))
    session.add(org)
    admin = User(
        id=new_id("usr"),
        org_id=org.id,
        name=_clean_name(admin_name, "admin_name"),
        email=_clean_name(admin_email, "admin_email", 320).lower(),
        role=Role.admin.value,
    )
    session.add(admin)
    session.flush()
    from variance.workspace.users import create_default_stream

    create_default_stream(session, admin)
    token = issue_token(session, admin)
    session.flush()
    return CreatedOrg(org=org, admin=admin, token=token)


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


def get_org(session: Session, org_id: str) -> Organisation:
    from variance.workspace.errors import NotFound

    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"no organisation {org_id!r}; create one with `variance orgs create NAME`")
    return org
