"""Listing and searching accounts and contacts from the serving tables.

Search (``q``) is a case-insensitive prefix match on the name, the email (contacts) or
domain (accounts), or the exact id; each is an index range scan, so answers stay in
milliseconds at 100,000 contacts. ``trait`` narrows by one trait's exact value (its
text form); that one reads each candidate row's traits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import String, and_, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from variance.appdb.models import (
    AccountRow,
    ContactRow,
    EventTypeRow,
    Milestone,
    MilestoneStatusRow,
    SmartTag,
    TagMemberRow,
    search_key,
)
from variance.core.events import EventKind, EventTypeRef
from variance.core.vocabulary import EntityType
from variance.workspace import keyset
from variance.workspace.errors import InvalidInput, NotFound
from variance.workspace.schemas.entities import (
    AccountOut,
    ContactOut,
    EntityMilestone,
    EntitySort,
    EntityTag,
    EventTypeOut,
)

_TRAIT_PATH = re.compile(r"^[A-Za-z0-9_\- ]{1,100}(\.[A-Za-z0-9_\- ]{1,100}){0,9}$")
_MAX_CHAR = "\U0010ffff"


@dataclass(frozen=True)
class TraitMatch:
    path: tuple[str, ...]
    value: str

    @classmethod
    def parse(cls, text: str) -> TraitMatch:
        path, sep, value = text.partition(":")
        if not sep or not _TRAIT_PATH.match(path):
            raise InvalidInput("trait", "must be PATH:VALUE with a dotted path of letters, digits, _ - or space")
        return cls(tuple(path.split(".")), value)


def _trait_text(session: Session, column, path: tuple[str, ...]):
    """The trait's value as text, in the app database's own JSON functions."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(column, JSONB)[path].astext
    json_path = "$" + "".join(f'."{segment}"' for segment in path)
    return cast(func.json_extract(column, json_path), String)


def _prefix(column, q: str):
    return and_(column >= q, column < q + _MAX_CHAR)


def _entity_extras(session: Session, org_id: str, entity: str, ids: list[str]):
    milestones: dict[str, list[EntityMilestone]] = {i: [] for i in ids}
    tags: dict[str, list[EntityTag]] = {i: [] for i in ids}
    if not ids:
        return milestones, tags
    rows = session.execute(
        select(MilestoneStatusRow, Milestone.name)
        .join(Milestone, Milestone.id == MilestoneStatusRow.milestone_id)
        .where(
            MilestoneStatusRow.org_id == org_id,
            MilestoneStatusRow.entity_id.in_(ids),
            MilestoneStatusRow.achieved.is_(True),
            Milestone.entity == entity,
        )
        .order_by(Milestone.name)
    )
    for status, name in rows:
        milestones[status.entity_id].append(
            EntityMilestone(
                milestone_id=status.milestone_id, name=name, achieved_at=status.achieved_at, count=status.count
            )
        )
    rows = session.execute(
        select(TagMemberRow.entity_id, SmartTag.id, SmartTag.name)
        .join(SmartTag, SmartTag.id == TagMemberRow.tag_id)
        .where(TagMemberRow.org_id == org_id, TagMemberRow.entity_id.in_(ids), SmartTag.entity == entity)
        .order_by(SmartTag.name)
    )
    for entity_id, tag_id, name in rows:
        tags[entity_id].append(EntityTag(tag_id=tag_id, name=name))
    return milestones, tags


def _contact_out(row: ContactRow, milestones, tags) -> ContactOut:
    return ContactOut(
        contact_id=row.contact_id,
        name=row.name,
        email=row.email,
        account_id=row.account_id,
        traits=orjson.loads(row.traits or "{}"),
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        milestones=milestones[row.contact_id],
        tags=tags[row.contact_id],
    )


def _account_out(row: AccountRow, milestones, tags) -> AccountOut:
    return AccountOut(
        account_id=row.account_id,
        name=row.name,
        domain=row.domain,
        traits=orjson.loads(row.traits or "{}"),
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        milestones=milestones[row.account_id],
        tags=tags[row.account_id],
    )


def _narrow(session, query, spec: _Entity, org_id, traits, milestone_id, tag_id):
    for text in traits:
        match = TraitMatch.parse(text)
        query = query.where(_trait_text(session, spec.model.traits, match.path) == match.value)
    if milestone_id:
        query = query.where(
            spec.id_column.in_(
                select(MilestoneStatusRow.entity_id).where(
                    MilestoneStatusRow.org_id == org_id,
                    MilestoneStatusRow.milestone_id == milestone_id,
                    MilestoneStatusRow.achieved.is_(True),
                )
            )
        )
    if tag_id:
        query = query.where(
            spec.id_column.in_(
                select(TagMemberRow.entity_id).where(TagMemberRow.org_id == org_id, TagMemberRow.tag_id == tag_id)
            )
        )
    return query


def _searched_page(session, query, model, id_column, q, search_columns, sort, limit, cursor):
    """A page of rows matching ``q`` in any searched column.

    Each column is searched by its own query (an index range scan), each paged by the
    list's sort key, and the pages are merged: one query with an OR across columns
    would make the database walk the whole organisation instead.
    """
    if not q:
        return _sorted_page(session, query, model, id_column, sort, limit, cursor)
    key = search_key(q)
    branches = [query.where(_prefix(column, key)) for column in search_columns]
    branches.append(query.where(id_column == q.strip()))
    merged: dict[str, object] = {}
    more = False
    for branch in branches:
        rows, branch_next = _sorted_page(session, branch, model, id_column, sort, limit, cursor)
        more = more or branch_next is not None
        for row in rows:
            merged[getattr(row, id_column.key)] = row
    if sort == EntitySort.recent:
        ordered = sorted(merged.values(), key=lambda r: (r.last_seen_at, getattr(r, id_column.key)), reverse=True)
    else:
        ordered = sorted(merged.values(), key=lambda r: (r.search_name, getattr(r, id_column.key)))
    page = ordered[:limit]
    next_cursor = None
    if page and (more or len(ordered) > limit):
        last = page[-1]
        if sort == EntitySort.recent:
            next_cursor = keyset.encode((last.last_seen_at, getattr(last, id_column.key)))
        else:
            next_cursor = keyset.encode((last.search_name, getattr(last, id_column.key)))
    return page, next_cursor


def _sorted_page(session, query, model, id_column, sort: EntitySort, limit: int, cursor: str | None):
    if sort == EntitySort.recent:
        columns, descending = [model.last_seen_at, id_column], True

        def parse(values):
            try:
                return [datetime.fromisoformat(values[0]).astimezone(timezone.utc), values[1]]
            except (TypeError, ValueError):
                raise InvalidInput("cursor", "is not a cursor returned by this list") from None
    else:
        columns, descending, parse = [model.search_name, id_column], False, None
    rows = session.scalars(keyset.page(query, columns, descending, limit, cursor, parse)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        if sort == EntitySort.recent:
            next_cursor = keyset.encode((last.last_seen_at, getattr(last, id_column.key)))
        else:
            next_cursor = keyset.encode((last.search_name, getattr(last, id_column.key)))
    return rows, next_cursor


@dataclass(frozen=True)
class _Entity:
    """What differs between listing contacts and listing accounts."""

    name: str
    model: type
    id_column: Any
    search_columns: tuple
    to_out: Callable


_CONTACTS = _Entity(
    EntityType.contact.value,
    ContactRow,
    ContactRow.contact_id,
    (ContactRow.search_name, ContactRow.email),
    _contact_out,
)
_ACCOUNTS = _Entity(
    EntityType.account.value,
    AccountRow,
    AccountRow.account_id,
    (AccountRow.search_name, AccountRow.domain),
    _account_out,
)


def _list(session: Session, spec: _Entity, org_id: str, query, q, traits, milestone_id, tag_id, sort, limit, cursor):
    query = _narrow(session, query, spec, org_id, traits, milestone_id, tag_id)
    rows, next_cursor = _searched_page(
        session, query, spec.model, spec.id_column, q, list(spec.search_columns), sort, limit, cursor
    )
    milestones, tags = _entity_extras(session, org_id, spec.name, [getattr(r, spec.id_column.key) for r in rows])
    return [spec.to_out(r, milestones, tags) for r in rows], next_cursor


def _get(session: Session, spec: _Entity, org_id: str, entity_id: str):
    row = session.get(spec.model, (org_id, entity_id))
    if row is None:
        raise NotFound(f"no {spec.name} {entity_id!r} in this organisation")
    milestones, tags = _entity_extras(session, org_id, spec.name, [entity_id])
    return spec.to_out(row, milestones, tags)


def list_contacts(
    session: Session,
    org_id: str,
    *,
    q: str | None = None,
    account_id: str | None = None,
    traits: list[str] = (),
    milestone_id: str | None = None,
    tag_id: str | None = None,
    sort: EntitySort = EntitySort.name,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[ContactOut], str | None]:
    query = select(ContactRow).where(ContactRow.org_id == org_id)
    if account_id:
        query = query.where(ContactRow.account_id == account_id)
    return _list(session, _CONTACTS, org_id, query, q, traits, milestone_id, tag_id, sort, limit, cursor)


def get_contact(session: Session, org_id: str, contact_id: str) -> ContactOut:
    return _get(session, _CONTACTS, org_id, contact_id)


def list_accounts(
    session: Session,
    org_id: str,
    *,
    q: str | None = None,
    traits: list[str] = (),
    milestone_id: str | None = None,
    tag_id: str | None = None,
    sort: EntitySort = EntitySort.name,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[AccountOut], str | None]:
    query = select(AccountRow).where(AccountRow.org_id == org_id)
    return _list(session, _ACCOUNTS, org_id, query, q, traits, milestone_id, tag_id, sort, limit, cursor)


def get_account(session: Session, org_id: str, account_id: str) -> AccountOut:
    return _get(session, _ACCOUNTS, org_id, account_id)


def list_event_types(
    session: Session, org_id: str, kind: EventKind | None, q: str | None, limit: int, cursor: str | None
) -> tuple[list[EventTypeOut], str | None]:
    """The catalog of event types that really arrived, by kind and name, so users choose
    from them; ``q`` is a prefix of the name."""
    query = select(EventTypeRow).where(EventTypeRow.org_id == org_id)
    if kind:
        query = query.where(EventTypeRow.kind == kind.value)
    if q:
        query = query.where(_prefix(EventTypeRow.name, q))
    rows = session.scalars(keyset.page(query, [EventTypeRow.kind, EventTypeRow.name], False, limit, cursor)).all()
    next_cursor = keyset.encode((rows[limit - 1].kind, rows[limit - 1].name)) if len(rows) > limit else None
    items = []
    for row in rows[:limit]:
        ref = EventTypeRef(kind=row.kind, name=row.name or None)
        items.append(
            EventTypeOut(
                kind=ref.kind,
                name=ref.name,
                label=ref.label(),
                first_seen_at=row.first_seen_at,
                last_seen_at=row.last_seen_at,
                count=row.count,
            )
        )
    return items, next_cursor
