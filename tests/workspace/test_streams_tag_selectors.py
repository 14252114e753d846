"""Event Type streams select smart tags entered or left: a Tag selector names a tag of the
organisation, checked when the stream is created or its selectors change."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from variance.appdb.models import SmartTag
from variance.appdb.session import make_engine, migrate, session_factory
from variance.workspace.errors import InvalidInput
from variance.workspace.orgs import act_as, create_org
from variance.workspace.schemas.streams import StreamCreate, StreamUpdate
from variance.workspace.streams import create_stream, selectors_of, update_stream

DEFINITION = (
    '{"type":"group","match":"all","conditions":[{"type":"trait","filter":{"path":"plan","op":"exists","value":null}}]}'
)


@pytest.fixture
def session(database_url) -> Iterator[Session]:
    engine = make_engine(database_url)
    migrate(engine)
    try:
        with session_factory(engine)() as session, session.begin():
            yield session
    finally:
        engine.dispose()


def _org(session: Session):
    org = create_org(session, "Acme").org.id
    other = create_org(session, "Other").org.id
    session.add_all(
        [
            SmartTag(id="tag_hot", org_id=org, name="Hot Trial", entity="account", definition=DEFINITION),
            SmartTag(id="tag_theirs", org_id=other, name="Their Tag", entity="account", definition=DEFINITION),
        ]
    )
    session.flush()
    return act_as(session, org)


def _body(*selectors: dict) -> StreamCreate:
    return StreamCreate.model_validate(
        {"name": "Hot", "type": "event_type", "visibility": "team", "selectors": list(selectors)}
    )


def test_a_tag_selector_naming_a_tag_of_the_organisation_is_kept(session):
    principal = _org(session)
    stream = create_stream(session, principal, _body({"kind": "Tag", "name": "Hot Trial"}))
    [selector] = selectors_of(session, [stream.id])[stream.id]
    assert (selector.kind.value, selector.name) == ("Tag", "Hot Trial")


def test_a_tag_selector_without_a_name_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as raised:
        _body({"kind": "Tag"})
    [error] = raised.value.errors()
    assert error["loc"] == ("selectors", 0)
    assert "name is required for Tag event types" in error["msg"]


def test_a_tag_selector_naming_an_unknown_or_foreign_tag_is_refused(session):
    principal = _org(session)
    for name in ("Cold Trial", "Their Tag"):
        with pytest.raises(InvalidInput) as raised:
            create_stream(session, principal, _body({"kind": "Page"}, {"kind": "Tag", "name": name}))
        assert raised.value.field == "selectors[1].name"
        assert str(raised.value) == (
            f"selectors[1].name: no smart tag named {name!r} in this organisation: name one of its tags"
        )
    stream = create_stream(session, principal, _body({"kind": "Page"}))
    with pytest.raises(InvalidInput, match=r"selectors\[0\].name: no smart tag named 'Gone'"):
        update_stream(session, principal, stream.id, StreamUpdate(selectors=[{"kind": "Tag", "name": "Gone"}]))
