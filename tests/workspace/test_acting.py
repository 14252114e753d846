"""Whom the CLI acts as, decided by the workspace: the user it names, else the
organisation's first admin, held to the same permissions as an API token would be."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from variance.appdb.models import User
from variance.appdb.session import make_engine, migrate, session_factory
from variance.core.vocabulary import Role
from variance.workspace.errors import Forbidden, NotFound
from variance.workspace.orgs import act_as, create_org
from variance.workspace.principals import require_admin
from variance.workspace.schemas.users import UserCreate, UserUpdate
from variance.workspace.users import create_user, update_user


@pytest.fixture
def session(tmp_path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    migrate(engine)
    try:
        with session_factory(engine)() as session, session.begin():
            yield session
    finally:
        engine.dispose()


def test_without_a_user_the_first_admin_acts(session):
    created = create_org(session, "Acme", admin_name="Ada")
    later = create_user(session, created.org.id, UserCreate(name="Bo", email="bo@acme.com", role=Role.admin))
    principal = act_as(session, created.org.id)
    assert (principal.user_id, principal.role, principal.is_admin) == (created.admin.id, "admin", True)
    assert later.id > created.admin.id  # ids grow with time, so "first" is the oldest admin


def test_a_named_user_acts_with_their_own_role(session):
    org = create_org(session, "Acme").org.id
    mia = create_user(session, org, UserCreate(name="Mia", email="mia@acme.com"))
    principal = act_as(session, org, mia.id)
    assert (principal.user_id, principal.is_admin) == (mia.id, False)
    with pytest.raises(Forbidden, match="only an admin of this organisation may do this"):
        require_admin(principal)


def test_unknown_organisations_and_strangers_are_refused_with_what_to_do(session):
    org = create_org(session, "Acme").org.id
    other = create_org(session, "Other")
    with pytest.raises(NotFound, match=r"^no organisation 'org_nope'; create one with `variance orgs create NAME`$"):
        act_as(session, "org_nope")
    with pytest.raises(NotFound) as refused:
        act_as(session, org, other.admin.id)  # a user of another organisation is nobody here
    assert refused.value.message == (
        f"no user {other.admin.id!r} in organisation {org!r}; list them with `variance users list --org {org}`"
    )


def test_the_first_admin_is_whoever_is_admin_now(session):
    created = create_org(session, "Acme")
    mia = create_user(session, created.org.id, UserCreate(name="Mia", email="mia@acme.com", role=Role.admin))
    update_user(session, created.org.id, created.admin.id, UserUpdate(role=Role.member))
    assert act_as(session, created.org.id).user_id == mia.id
    # The rules never leave an organisation without an admin; rows changed by hand might.
    session.get(User, mia.id).role = Role.member.value
    session.flush()
    with pytest.raises(NotFound, match=r"^organisation 'org_\w+' has no admin; pass --user$"):
        act_as(session, created.org.id)
