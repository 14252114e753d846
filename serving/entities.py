"""Contacts and accounts: seen times, profile (name, email or domain, traits), account.

Merge rules, per stored row and what one call's rows say about it:

- ``first_seen_at`` / ``last_seen_at``: the earliest / latest time any row mentions the
  entity (events, identify and group calls, links); min and max, so any order gives the
  same result.
- ``name`` and ``email`` (contacts) or ``domain`` (accounts, lower case): the newest
  call's value when it has one; a call without one keeps the stored value.
- ``traits``: a shallow merge; for each top-level key the newest call's value wins.
- ``account_id`` (contacts): the account of the newest contact-account link; never from
  events.
- ``search_name``: the name, else the email or domain, else the id, stripped and
  case-folded (what the API's search compares a query's case-folded prefix with).

Within one call all of this is exact whatever the order of the rows. Across calls the
stored row keeps no times for its profile or its link, so a call's values override the
stored ones: an identify, group call or link older than one applied by an earlier call
(a phone delivering hours late) wins until a newer one arrives. ``rebuild`` is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from variance.appdb.models import AccountRow, ContactRow, search_key
from variance.appdb.types import utcnow
from variance.core.timeutil import from_micros
from variance.serving.fold import EntityFold, json_object
from variance.serving.sql import by_org, earliest, latest, read_for_update, upsert

# Column sizes of the serving tables (appdb.models); PostgreSQL refuses longer values.
_NAME_CHARS = 400
_EMAIL_CHARS = 320
_DOMAIN_CHARS = 253


@dataclass(frozen=True)
class _Kind:
    model: type
    id_column: str
    address_column: str  # email or domain
    address_chars: int
    has_account: bool


_CONTACTS = _Kind(ContactRow, "contact_id", "email", _EMAIL_CHARS, True)
_ACCOUNTS = _Kind(AccountRow, "account_id", "domain", _DOMAIN_CHARS, False)
_COMPARED = ("name", "search_name", "traits", "first_seen_at", "last_seen_at")


def write_contacts(session: Session, folds: dict[tuple[str, str], EntityFold]) -> int:
    return _write(session, _CONTACTS, folds)


def write_accounts(session: Session, folds: dict[tuple[str, str], EntityFold]) -> int:
    return _write(session, _ACCOUNTS, folds)


def _write(session: Session, kind: _Kind, folds: dict[tuple[str, str], EntityFold]) -> int:
    """Merge each entity's fold into its stored row; write only rows that change."""
    table = kind.model.__table__
    stored: dict[tuple[str, str], Any] = {}
    for org_id, keys in by_org(folds).items():
        for row in read_for_update(session, table, org_id, kind.id_column, (k[1] for k in keys)):
            stored[(org_id, getattr(row, kind.id_column))] = row
    now = utcnow()
    changed = []
    for key, fold in folds.items():
        old = stored.get(key)
        new = _merged(kind, key, fold, old)
        if old is None or _differs(kind, old, new):
            new["updated_at"] = now
            changed.append(new)
    changed.sort(key=lambda r: (r["org_id"], r[kind.id_column]))  # lock order on PostgreSQL

    def update(stmt) -> dict:
        columns = ["name", "search_name", kind.address_column, "traits", "updated_at"]
        if kind.has_account:
            columns.append("account_id")
        values = {c: stmt.excluded[c] for c in columns}
        values["first_seen_at"] = earliest(table.c.first_seen_at, stmt.excluded.first_seen_at)
        values["last_seen_at"] = latest(table.c.last_seen_at, stmt.excluded.last_seen_at)
        return values

    return upsert(session, table, changed, update)


def _merged(kind: _Kind, key: tuple[str, str], fold: EntityFold, old: Any) -> dict:
    org_id, entity_id = key
    first: datetime = from_micros(fold.first_us)
    last: datetime = from_micros(fold.last_us)
    name = fold.name[1][:_NAME_CHARS] if fold.name else None
    address = fold.address[1] if fold.address and len(fold.address[1]) <= kind.address_chars else None
    traits_text = "{}"
    if old is not None:
        first, last = min(first, old.first_seen_at), max(last, old.last_seen_at)
        name = name or old.name
        address = address or getattr(old, kind.address_column)
        traits_text = old.traits or "{}"
    if fold.traits:
        stored_traits = json_object(traits_text)
        merged = {**stored_traits, **fold.trait_values}
        if merged != stored_traits:
            traits_text = orjson.dumps(merged).decode()
    row = {
        "org_id": org_id,
        kind.id_column: entity_id,
        "name": name,
        "search_name": search_key(name or address or entity_id)[:_NAME_CHARS],
        kind.address_column: address,
        "traits": traits_text,
        "first_seen_at": first,
        "last_seen_at": last,
    }
    if kind.has_account:
        row["account_id"] = fold.link[1] if fold.link else (old.account_id if old is not None else None)
    return row


def _differs(kind: _Kind, old: Any, new: dict) -> bool:
    columns = (*_COMPARED, kind.address_column, *(("account_id",) if kind.has_account else ()))
    return any(getattr(old, c) != new[c] for c in columns)
