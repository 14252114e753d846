"""Users: admins invite them; each gets an API token and a default personal stream."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from variance.appdb.models import User
from variance.core.ids import new_id
from variance.core.vocabulary import Role
from variance.workspace.errors import Conflict, InvalidInput, NotFound
from variance.workspace.pagination import paginate
from variance.workspace.principals import issue_token
from variance.workspace.schemas.users import UserCreate, UserOut, UserUpdate, UserWithToken
from variance.workspace.streams import create_default_stream, default_stream, default_stream_id, default_stream_name


def to_out(session: Session, user: User) -> UserOut:
    return UserOut(
        id=user.id,
        org_id=user.org_id,
        name=user.name,
        email=user.email,
        role=Role(user.role),
        default_stream_id=default_stream_id(session, user.id),
        created_at=user.created_at,
    )


def create_user(session: Session, org_id: str, body: UserCreate) -> UserWithToken:
    name = body.name.strip()
    if not name:
        raise InvalidInput("name", "must not be empty")
    user = User(id=new_id("usr"), org_id=org_id, name=name, email=body.email.strip().lower(), role=body.role.value)
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise Conflict(f"a user with email {user.email!r} already exists in this organisation", field="email") from None
    create_default_stream(session, user)
    token = issue_token(session, user)
    session.flush()
    return UserWithToken(**to_out(session, user).model_dump(), token=token)


def get_user(session: Session, org_id: str, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or user.org_id != org_id:
        raise NotFound(f"no user {user_id!r} in this organisation")
    return user


def list_users(session: Session, org_id: str, limit: int, cursor: str | None) -> tuple[list[User], str | None]:
    rows, next_cursor = paginate(session, select(User).where(User.org_id == org_id), User.id, limit, cursor)
    return list(rows), next_cursor


def _admins(session: Session, org_id: str) -> int:
    return session.scalar(select(func.count()).where(User.org_id == org_id, User.role == Role.admin.value)) or 0


def update_user(session: Session, org_id: str, user_id: str, body: UserUpdate) -> User:
    user = get_user(session, org_id, user_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("role") == Role.member and user.role == Role.admin.value and _admins(session, org_id) == 1:
        raise Conflict("the organisation's last admin cannot become a member", field="role")
    if changes.get("name"):
        old_default = default_stream_name(user.name)
        user.name = changes["name"].strip()
        stream = default_stream(session, user.id)
        if stream is not None and stream.name == old_default:
            stream.name = default_stream_name(user.name)
    if changes.get("role"):
        user.role = Role(changes["role"]).value
    session.flush()
    return user


def delete_user(session: Session, org_id: str, user_id: str) -> None:
    user = get_user(session, org_id, user_id)
    if user.role == Role.admin.value and _admins(session, org_id) == 1:
        raise Conflict("the organisation's last admin cannot be deleted", field="user_id")
    session.delete(user)
    session.flush()


def create_token(session: Session, org_id: str, user_id: str) -> str:
    """Another API token for a user (e.g. for a script)."""
    return issue_token(session, get_user(session, org_id, user_id))
