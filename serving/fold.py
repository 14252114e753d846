"""Folding warehouse rows into what the serving tables need, in memory and without I/O.

One :class:`Fold` takes one call's rows (``apply_rows``) or an organisation's whole
current warehouse (``rebuild``). Everything it keeps is order-independent within what it
was given: profiles keep, per field and per trait key, the value of the newest call
(event time, then message id, the order the identity graph uses for links at the same
instant); a contact's account is the one of its newest link; the newest row of a key
(``recorded_at``, then position) decides a milestone change's or a stream match's status.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from variance.core.events import EventKind
from variance.core.rows import ACTIVITY
from variance.core.timeutil import from_micros
from variance.core.vocabulary import EntityType, RowStatus, ServingTable, WarehouseTable
from variance.core.warehouse import Row

Order = tuple[int, str]  # (event time or link time, message id): later wins

# The warehouse tables the serving tables are built from, in the order ``rebuild`` reads
# them: stream matches before events, so only the events of retained items keep a payload.
SERVED_WAREHOUSE_TABLES: tuple[str, ...] = tuple(
    t.value
    for t in (
        WarehouseTable.stream_matches,
        WarehouseTable.milestone_changes,
        WarehouseTable.contacts,
        WarehouseTable.accounts,
        WarehouseTable.contact_account_links,
        WarehouseTable.events,
    )
)
# Everything ``apply_rows`` takes: those, and the pipeline's daily activity counts.
SERVING_INPUTS = frozenset({*SERVED_WAREHOUSE_TABLES, ServingTable.daily_activity.value})
# Rows the pipeline emits that the serving tables do not hold (counted as ignored).
NOT_SERVED = frozenset({WarehouseTable.identity_links.value, WarehouseTable.dead_letters.value, ACTIVITY})
_PROFILE_KINDS = frozenset({EventKind.identify.value, EventKind.group.value})  # items show traits, not properties
_CURRENT = RowStatus.current.value


def json_object(text: Any) -> dict:
    """A JSON column's value as a dict ({} for null, non-objects and bad text)."""
    if isinstance(text, dict):
        return text
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(slots=True)
class EntityFold:
    """What the rows say about one contact or account."""

    first_us: int | None = None
    last_us: int | None = None
    name: tuple[Order, str] | None = None
    address: tuple[Order, str] | None = None  # email (contacts) or domain (accounts)
    traits: dict[str, tuple[Order, Any]] = field(default_factory=dict)
    link: tuple[Order, str] | None = None  # contacts: the newest link's account

    def seen(self, t_us: int) -> None:
        if self.first_us is None or t_us < self.first_us:
            self.first_us = t_us
        if self.last_us is None or t_us > self.last_us:
            self.last_us = t_us

    def profile(self, order: Order, name: str | None, address: str | None, traits: dict) -> None:
        if name and (self.name is None or order > self.name[0]):
            self.name = (order, name)
        if address and (self.address is None or order > self.address[0]):
            self.address = (order, address)
        for key, value in traits.items():
            held = self.traits.get(key)
            if held is None or order > held[0]:
                self.traits[key] = (order, value)

    def linked(self, order: Order, account_id: str) -> None:
        if self.link is None or order > self.link[0]:
            self.link = (order, account_id)

    @property
    def trait_values(self) -> dict[str, Any]:
        return {key: value for key, (_, value) in self.traits.items()}


@dataclass
class EventSummary:
    """An organisation's current events already aggregated (by the warehouse's engine),
    standing in for its ``events`` rows in a rebuild: the same totals ``Fold`` would
    count from the rows, without a million rows crossing into Python.

    Each field holds tuples:

    - ``seen``: (entity_type, entity_id, first_us, last_us) of every contact and account
      an event names;
    - ``catalog``: (kind, name, first_us, last_us, count) per event type (name "" when none);
    - ``daily``: (entity_type, entity_id, day, kind, name, count), the day in UTC as
      ``YYYY-MM-DD``;
    - ``payloads``: (message_id, connection_name, body) of the events asked for.
    """

    events: int
    seen: Iterable[tuple[str, str, int, int]]
    catalog: Iterable[tuple[str, str, int, int, int]]
    daily: Iterable[tuple[str, str, str, str, str, int]]
    payloads: Iterable[tuple[str, str | None, str | None]]


@dataclass(slots=True)
class CatalogFold:
    first_us: int
    last_us: int
    count: int = 0


class Fold:
    """Accumulates rows; :mod:`variance.serving.writer` turns the result into statements.

    ``rebuild=True`` is for an organisation's current warehouse rows: each key appears
    once, so events need no de-duplication; retracted changes and matches are simply not
    current; stream matches are bounded to the newest ``retention`` per stream as they
    arrive; and daily activity is counted from the events (``daily_activity`` rows are
    not in the warehouse).
    """

    def __init__(self, *, retention: int, rebuild: bool = False) -> None:
        self.retention = retention
        self.rebuild = rebuild
        self.rows = 0
        self.ignored = 0
        self.contacts: dict[tuple[str, str], EntityFold] = {}
        self.accounts: dict[tuple[str, str], EntityFold] = {}
        # (org, milestone, entity) -> change_id -> (order, row); the newest row per change wins
        self.changes: dict[tuple[str, str, str], dict[str, tuple[tuple[int, int], dict]]] = {}
        # (org, stream, message) -> (order, row)
        self.matches: dict[tuple[str, str, str], tuple[tuple[int, int], dict]] = {}
        self._bounded: dict[tuple[str, str], list[tuple[int, str]]] = {}  # rebuild: heap per stream
        self.payloads: dict[tuple[str, str], tuple[str | None, str]] = {}  # (org, message) -> (connection, JSON)
        self.wanted_payloads: set[tuple[str, str]] | None = None
        self.catalog: dict[tuple[str, str, str], CatalogFold] = {}
        self.daily: dict[tuple[str, str, str, str, str, str], int] = {}
        self._counted: set[tuple[str, str]] = set()

    # -- input -------------------------------------------------------------------------------

    def add_all(self, rows: Iterable[Row]) -> None:
        for table, row in rows:
            self.add(table, row)

    def add(self, table: str, row: dict) -> None:
        self.rows += 1
        handler = _HANDLERS.get(table)
        if handler is not None:
            handler(self, row)
        elif table in NOT_SERVED:
            self.ignored += 1
        else:
            raise ValueError(f"unknown serving input table {table!r}")

    def add_event_summary(self, org_id: str, summary: EventSummary) -> None:
        """Rebuild: an organisation's events as aggregates, equal to adding its rows."""
        if not self.rebuild:
            raise ValueError("an event summary stands in for a whole organisation's events: rebuild only")
        self.rows += summary.events
        entities = {EntityType.contact.value: self._contact, EntityType.account.value: self._account}
        for entity_type, entity_id, first_us, last_us in summary.seen:
            fold = entities[entity_type](org_id, entity_id)
            fold.seen(first_us)
            fold.seen(last_us)
        for kind, name, first_us, last_us, count in summary.catalog:
            entry = self.catalog.get((org_id, kind, name))
            if entry is None:
                self.catalog[(org_id, kind, name)] = CatalogFold(first_us, last_us, count)
            else:
                entry.first_us, entry.last_us = min(entry.first_us, first_us), max(entry.last_us, last_us)
                entry.count += count
        for entity_type, entity_id, day, kind, name, count in summary.daily:
            daily_key = (org_id, entity_type, entity_id, day, kind, name)
            self.daily[daily_key] = self.daily.get(daily_key, 0) + count
        for message_id, connection_name, body in summary.payloads:
            key = (org_id, message_id)
            if self.wanted_payloads is None or key in self.wanted_payloads:
                self.payloads[key] = (connection_name, body or "{}")

    def _contact(self, org_id: str, contact_id: str) -> EntityFold:
        key = (org_id, contact_id)
        fold = self.contacts.get(key)
        if fold is None:
            fold = self.contacts[key] = EntityFold()
        return fold

    def _account(self, org_id: str, account_id: str) -> EntityFold:
        key = (org_id, account_id)
        fold = self.accounts.get(key)
        if fold is None:
            fold = self.accounts[key] = EntityFold()
        return fold

    def _event(self, row: dict) -> None:
        org_id, t, message_id = row["org_id"], row["event_time"], row["message_id"]
        contact, account = row.get("contact_id"), row.get("account_id")
        if contact:
            self._contact(org_id, contact).seen(t)
        if account:
            self._account(org_id, account).seen(t)
        kind = row.get("kind")
        if not kind:
            return  # alias: identity only, not an event type
        name = row.get("name") or ""
        key = (org_id, message_id)
        if self.wanted_payloads is None or key in self.wanted_payloads:
            body = row.get("traits") if kind in _PROFILE_KINDS else row.get("properties")
            self.payloads[key] = (row.get("connection_name"), body or "{}")
        if not self.rebuild:
            if key in self._counted:
                return  # the same event twice in one call counts once
            self._counted.add(key)
        entry = self.catalog.get((org_id, kind, name))
        if entry is None:
            entry = self.catalog[(org_id, kind, name)] = CatalogFold(t, t)
        entry.first_us, entry.last_us, entry.count = min(entry.first_us, t), max(entry.last_us, t), entry.count + 1
        if self.rebuild:
            day = from_micros(t).date().isoformat()
            for entity_type, entity_id in ((EntityType.contact.value, contact), (EntityType.account.value, account)):
                if entity_id:
                    daily_key = (org_id, entity_type, entity_id, day, kind, name)
                    self.daily[daily_key] = self.daily.get(daily_key, 0) + 1

    def _identify(self, row: dict) -> None:
        fold = self._contact(row["org_id"], row["contact_id"])
        fold.seen(row["event_time"])
        email = row.get("email")
        fold.profile(
            (row["event_time"], row["message_id"]),
            row.get("name"),
            email.strip().lower() if isinstance(email, str) else None,
            json_object(row.get("traits")),
        )

    def _account_call(self, row: dict) -> None:
        fold = self._account(row["org_id"], row["account_id"])
        fold.seen(row["event_time"])
        domain = row.get("domain")
        fold.profile(
            (row["event_time"], row["message_id"]),
            row.get("name"),
            domain.strip().lower() if isinstance(domain, str) else None,
            json_object(row.get("traits")),
        )

    def _link(self, row: dict) -> None:
        org_id, t = row["org_id"], row["linked_at"]
        contact = self._contact(org_id, row["contact_id"])
        contact.seen(t)
        contact.linked((t, row["message_id"]), row["account_id"])
        self._account(org_id, row["account_id"]).seen(t)

    def _change(self, row: dict) -> None:
        if self.rebuild and row.get("status") != _CURRENT:
            return
        key = (row["org_id"], row["milestone_id"], row["entity_id"])
        order = (row.get("recorded_at") or 0, self.rows)
        by_id = self.changes.setdefault(key, {})
        held = by_id.get(row["change_id"])
        if held is None or order > held[0]:
            by_id[row["change_id"]] = (order, row)

    def _match(self, row: dict) -> None:
        if self.rebuild:
            if row.get("status") == _CURRENT:
                self._keep_newest(row)
            return
        key = (row["org_id"], row["stream_id"], row["message_id"])
        order = (row.get("recorded_at") or 0, self.rows)
        held = self.matches.get(key)
        if held is None or order > held[0]:
            self.matches[key] = (order, row)

    def _keep_newest(self, row: dict) -> None:
        """Rebuild: hold only the newest ``retention`` current matches of each stream."""
        stream = (row["org_id"], row["stream_id"])
        heap = self._bounded.setdefault(stream, [])
        rank = (row["event_time"], row["message_id"])
        if len(heap) < self.retention:
            heapq.heappush(heap, rank)
        elif rank > heap[0]:
            dropped = heapq.heapreplace(heap, rank)
            self.matches.pop((*stream, dropped[1]), None)
        else:
            return
        self.matches[(*stream, row["message_id"])] = ((0, self.rows), row)

    def _daily(self, row: dict) -> None:
        key = (row["org_id"], row["entity_type"], row["entity_id"], row["day"], row["kind"], row.get("name") or "")
        # Panes of an accumulating window only grow and one call has no order: the
        # highest count is the newest firing. Across calls the newer call replaces.
        self.daily[key] = max(self.daily.get(key, 0), int(row["count"]))

    # -- output ------------------------------------------------------------------------------

    def matched_payload_keys(self) -> set[tuple[str, str]]:
        """(org, message) of the current matches held, for rebuild to keep only their events."""
        return {(org_id, message_id) for (org_id, _, message_id) in self.matches}

    def change_payloads(self) -> dict[tuple[str, str], str]:
        """A stream item's properties for a Milestone event (what the engine matched on)."""
        out = {}
        for (org_id, _, entity_id), by_id in self.changes.items():
            for change_id, (_, row) in by_id.items():
                properties = {
                    "kind": row["kind"],
                    "count": row["count"],
                    "entity_type": row["entity_type"],
                    "entity_id": entity_id,
                }
                out[(org_id, change_id)] = orjson.dumps(properties).decode()
        return out


_HANDLERS = {
    WarehouseTable.events.value: Fold._event,
    WarehouseTable.contacts.value: Fold._identify,
    WarehouseTable.accounts.value: Fold._account_call,
    WarehouseTable.contact_account_links.value: Fold._link,
    WarehouseTable.milestone_changes.value: Fold._change,
    WarehouseTable.stream_matches.value: Fold._match,
    ServingTable.daily_activity.value: Fold._daily,
}
if set(_HANDLERS) != SERVING_INPUTS:  # one list of inputs: a handler per input, no other
    raise RuntimeError(f"serving handlers {sorted(_HANDLERS)} are not the inputs {sorted(SERVING_INPUTS)}")
