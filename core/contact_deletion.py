"""Which warehouse rows are a deleted contact's: one rule, rendered as SQL for the local
lake (DuckDB, when ``variance warehouse compact`` rewrites its files) and for BigQuery
(the DELETE statements ``variance dbt build --target bigquery`` runs first).

A contact is its ``contact_id`` (the Segment userId, or an anonymousId never identified)
and the anonymousIds linked to it (identity links whose ``user_id`` is the contact, plus
the ones a deletion request learnt before, whose links may already be gone). From those:

- its **messages**: every event whose ``user_id`` is one of them, or that has no ``user_id``
  and whose ``anonymous_id`` is one of them (an anonymous visit linked later is theirs,
  whenever it happened). The pipeline's own attribution (``events.contact_id``) is not
  used: it depends on the order links arrived in, the ids do not;
- its **changes**: contact milestone changes whose entity is one of its ids.

Each table then loses the rows named below (``MATCHED_BY``): every row whose key column is
one of those messages or changes, or whose contact column is one of its ids. All versions
of a key go together (each key holds its message or change id), so an older version never
becomes current again. Account milestone changes are the account's, not the contact's:
they stay as written; dbt's recomputation and the pipeline's next start count without the
contact's events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

import sqlglot
from sqlglot import exp

from variance.core.vocabulary import EntityType, WarehouseTable

Dialect = Literal["duckdb", "bigquery"]

# The three relations the rule is written over, each (org_id, id).
IDS = "deleted_contact_ids"
MESSAGES = "deleted_contact_messages"
CHANGES = "deleted_contact_changes"

# table -> (relation, column of the table that must not be in it), any one of which removes a row
MATCHED_BY: dict[WarehouseTable, tuple[tuple[str, str], ...]] = {
    WarehouseTable.events: ((MESSAGES, "message_id"),),
    WarehouseTable.contacts: ((MESSAGES, "message_id"), (IDS, "contact_id")),
    WarehouseTable.accounts: ((MESSAGES, "message_id"),),
    WarehouseTable.contact_account_links: ((MESSAGES, "message_id"), (IDS, "contact_id")),
    WarehouseTable.identity_links: ((IDS, "user_id"),),
    WarehouseTable.milestone_changes: ((CHANGES, "change_id"),),
    WarehouseTable.stream_matches: ((MESSAGES, "message_id"), (CHANGES, "message_id"), (IDS, "contact_id")),
    WarehouseTable.dead_letters: ((MESSAGES, "message_id"),),
}

# The order BigQuery deletes in: the relations are computed from events, milestone_changes
# and identity_links, so those go last (identity_links after everything that needs the ids).
# A run cut short and started again finds the same rows, or none: it is safe to repeat.
DELETE_ORDER: tuple[WarehouseTable, ...] = (
    WarehouseTable.stream_matches,
    WarehouseTable.contacts,
    WarehouseTable.accounts,
    WarehouseTable.contact_account_links,
    WarehouseTable.dead_letters,
    WarehouseTable.milestone_changes,
    WarehouseTable.events,
    WarehouseTable.identity_links,
)


@dataclass(frozen=True)
class DeletedContact:
    """A contact whose data was asked to be deleted: its organisation, its id, and the
    anonymousIds known to be linked to it (learnt when the lake was last rewritten)."""

    org_id: str
    contact_id: str
    known_ids: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.contact_id, *(i for i in self.known_ids if i != self.contact_id))


def _literal(value: str) -> str:
    return exp.Literal.string(value).sql(dialect="duckdb")


def requested_sql(deleted: Iterable[DeletedContact]) -> str:
    """The requests as rows (org_id, id): each contact id and its known anonymousIds."""
    rows = [f"select {_literal(d.org_id)} as org_id, {_literal(i)} as id" for d in deleted for i in d.ids]
    return (
        " union all ".join(rows)
        if rows
        else "select cast(null as varchar) as org_id, cast(null as varchar) as id limit 0"
    )


def ids_sql(requested: str, identity_links: str) -> str:
    """(org_id, id): the requested ids and every anonymousId linked to one of them."""
    return (
        f"select org_id, id from ({requested}) as r union "
        f"select l.org_id, l.anonymous_id as id from {identity_links} as l "
        f"where exists (select 1 from ({requested}) as r where r.org_id = l.org_id and r.id = l.user_id)"
    )


def messages_sql(ids: str, events: str) -> str:
    """(org_id, id): the message ids of the contacts' events (see the module docstring)."""
    return (
        f"select distinct e.org_id, e.message_id as id from {events} as e "
        f"where exists (select 1 from {ids} as i where i.org_id = e.org_id "
        "and (e.user_id = i.id or (e.user_id is null and e.anonymous_id = i.id)))"
    )


def changes_sql(ids: str, milestone_changes: str) -> str:
    """(org_id, id): the change ids of the contacts' own milestone changes."""
    return (
        f"select distinct c.org_id, c.change_id as id from {milestone_changes} as c "
        f"where c.entity_type = {_literal(EntityType.contact.value)} "
        f"and exists (select 1 from {ids} as i where i.org_id = c.org_id and i.id = c.entity_id)"
    )


def deleted_rows_predicate(table: WarehouseTable, alias: str, relations: dict[str, str]) -> str:
    """SQL true for a row of ``table`` (as ``alias``) that is a deleted contact's;
    ``relations`` gives each relation's SQL (a table name or a parenthesised subquery)."""
    return " or ".join(
        f"exists (select 1 from {relations[relation]} as x where x.org_id = {alias}.org_id and x.id = {alias}.{column})"
        for relation, column in MATCHED_BY[table]
    )


# BigQuery refuses DML over rows still in the streaming buffer of the legacy insertAll API
# (what Beam's BigQuery writer uses): up to 90 minutes after they were streamed. Rows
# recorded since then are left for the next build.
STREAMING_BUFFER = timedelta(minutes=90)


def bigquery_delete_statements(
    deleted: Sequence[DeletedContact], table_ref: Callable[[WarehouseTable], exp.Table], now: datetime
) -> list[str]:
    """One DELETE per warehouse table, in ``DELETE_ORDER``, for BigQuery; empty when
    nothing was asked. ``table_ref`` names each source table (project, dataset, table)."""
    if not deleted:
        return []
    statements = delete_statements(
        deleted, lambda t: table_ref(t).sql("duckdb"), recorded_before=now - STREAMING_BUFFER
    )
    return [_render(sql, "bigquery") for sql in statements]


def delete_statements(
    deleted: Sequence[DeletedContact],
    table_name: Callable[[WarehouseTable], str],
    recorded_before: datetime | None = None,
) -> list[str]:
    """The DELETE statements as DuckDB SQL text over tables named by ``table_name``: what
    BigQuery runs, transpiled, and what the tests run on real DuckDB tables. With
    ``recorded_before``, rows recorded at or after it stay (see ``STREAMING_BUFFER``)."""
    requested = requested_sql(deleted)
    ids = f"({ids_sql(requested, table_name(WarehouseTable.identity_links))})"
    relations = {
        IDS: ids,
        MESSAGES: f"({messages_sql(ids, table_name(WarehouseTable.events))})",
        CHANGES: f"({changes_sql(ids, table_name(WarehouseTable.milestone_changes))})",
    }
    settled = ""
    if recorded_before is not None:
        cutoff = recorded_before.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
        settled = f"t.recorded_at < cast({_literal(cutoff)} as timestamptz) and "
    return [
        f"delete from {table_name(table)} as t where {settled}({deleted_rows_predicate(table, 't', relations)})"
        for table in DELETE_ORDER
    ]


def _render(sql: str, dialect: Dialect) -> str:
    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]
