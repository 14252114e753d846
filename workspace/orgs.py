"""Organisations: creating one with its first admin, finding one, and acting inside one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from variance.appdb.models import Organisation, User
from variance.core.ids import new_id
from variance.core.vocabulary import Role
from variance.workspace.errors import InvalidInput, NotFound
from variance.workspace.principals import Principal, issue_token
from variance.workspace.streams import create_default_stream


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
    create_default_stream(session, admin)
    token = issue_token(session, admin)
    session.flush()
    return CreatedOrg(org=org, admin=admin, token=token)


def get_org(session: Session, org_id: str) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"no organisation {org_id!r}; create one with `variance orgs create NAME`")
    return org


def act_as(session: Session, org_id: str, user_id: str | None = None) -> Principal:
    """Whom a command acts as when no token says who is calling (the CLI): the user
    ``user_id`` of the organisation, or without one its first admin (by id). The rules
    then hold them to the same permissions as the API would."""
    get_org(session, org_id)
    if user_id:
        user = session.get(User, user_id)
        if user is None or user.org_id != org_id:
            raise NotFound(
                f"no user {user_id!r} in organisation {org_id!r}; list them with `variance users list --org {org_id}`"
            )
    else:
        user = session.scalars(
            select(User).where(User.org_id == org_id, User.role == Role.admin.value).order_by(User.id)
        ).first()
        if user is None:
            raise NotFound(f"organisation {org_id!r} has no admin; pass --user")
    return Principal(org_id=org_id, user_id=user.id, role=user.role)
