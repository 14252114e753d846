"""Who a CLI command acts as: a user of the organisation (the first admin by default)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from variance.appdb.models import Role, User
from variance.cli.common import CliError
from variance.workspace.orgs import Principal, get_org


def principal_for(session: Session, org_id: str, user_id: str | None) -> Principal:
    get_org(session, org_id)
    if user_id:
        user = session.get(User, user_id)
        if user is None or user.org_id != org_id:
            raise CliError(
                f"no user {user_id!r} in organisation {org_id!r}; list them with `variance users list --org {org_id}`"
            )
    else:
        user = session.scalars(
            select(User).where(User.org_id == org_id, User.role == Role.admin.value).order_by(User.id)
        ).first()
        if user is None:
            raise CliError(f"organisation {org_id!r} has no admin; pass --user")
    return Principal(org_id=org_id, user_id=user.id, role=user.role)
