"""The ORM speaks the core's vocabulary: its tables are named by ``AppTable`` and
``ServingTable``, and each column that holds a value of an enum refuses any other value."""

from __future__ import annotations

from enum import Enum

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from variance.appdb import models
from variance.appdb.models import (
    Base,
    Connection,
    Favorite,
    Follow,
    Milestone,
    SmartTag,
    Stream,
    StreamSelector,
    User,
    View,
)
from variance.appdb.types import Choice
from variance.core.events import EventKind
from variance.core.vocabulary import (
    AccountMapping,
    AppTable,
    EntityType,
    FavoriteTargetType,
    Role,
    ServingTable,
    StreamType,
    Visibility,
)

VOCABULARY_COLUMNS = {
    User.role: Role,
    Connection.mapping: AccountMapping,
    Stream.type: StreamType,
    Stream.visibility: Visibility,
    StreamSelector.kind: EventKind,
    Follow.entity_type: EntityType,
    Milestone.entity: EntityType,
    Milestone.event_kind: EventKind,
    SmartTag.entity: EntityType,
    View.entity: EntityType,
    View.visibility: Visibility,
    Favorite.target_type: FavoriteTargetType,
}


def test_the_tables_are_exactly_the_vocabularys():
    assert set(Base.metadata.tables) == {t.value for t in AppTable} | {t.value for t in ServingTable}


def test_the_orm_defines_no_enum_of_its_own():
    own = [name for name, value in vars(models).items() if isinstance(value, type) and issubclass(value, Enum)]
    assert all(getattr(models, name).__module__ != models.__name__ for name in own)


@pytest.mark.parametrize(("column", "enum"), VOCABULARY_COLUMNS.items(), ids=lambda c: getattr(c, "key", None))
def test_each_enum_column_holds_the_cores_enum(column, enum):
    assert isinstance(column.type, Choice)
    assert column.type.enum is enum


def test_a_value_outside_the_vocabulary_is_refused_when_written_and_reads_stay_plain_strings():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(models.Organisation(id="org_a", name="Acme"))
        session.add(User(id="usr_a", org_id="org_a", name="Ada", email="ada@acme.com", role=Role.admin))
        session.flush()
        role = session.scalar(select(User.role))
        assert (type(role), role) == (str, "admin")
        session.add(User(id="usr_b", org_id="org_a", name="Bo", email="bo@acme.com", role="owner"))
        with pytest.raises(StatementError, match=r"'owner' is not a Role \(one of admin, member\)"):
            session.flush()
    engine.dispose()
