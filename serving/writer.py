"""apply_rows: one call's warehouse rows into the serving tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from sqlalchemy.orm import Session

from variance.core.warehouse import Row
from variance.serving.entities import write_accounts, write_contacts
from variance.serving.feeds import write_daily_activity, write_event_types, write_stream_items
from variance.serving.fold import Fold
from variance.serving.milestones import write_statuses

DEFAULT_STREAM_RETENTION = 500


@dataclass
class ServingStats:
    """What one call read and changed (rows written count even when a value stayed)."""

    rows: int = 0  # input rows
    ignored: int = 0  # rows of tables the serving tables do not hold (identity links, dead letters, activity)
    contacts: int = 0  # contact rows inserted or changed
    accounts: int = 0
    milestone_statuses: int = 0  # status rows written
    milestone_statuses_removed: int = 0
    milestone_changes_skipped: int = 0  # of another milestone version, or of a deleted milestone
    stream_items: int = 0  # items written
    stream_items_removed: int = 0  # retracted matches
    stream_items_expired: int = 0  # beyond the retention (deleted, or never written)
    stream_matches_skipped: int = 0  # of streams that no longer exist
    event_types: int = 0  # catalog rows written
    events_counted: int = 0  # events added to catalog counts
    daily_activity: int = 0  # daily counts written

    def __add__(self, other: ServingStats) -> ServingStats:
        return ServingStats(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


def apply_rows(
    session: Session, rows: Iterable[Row], *, stream_retention: int = DEFAULT_STREAM_RETENTION
) -> ServingStats:
    """Write the signals engine's rows (``(table, row)`` pairs, as it emits them, of any
    organisations) into the serving tables, inside the caller's transaction (commit after).

    Idempotent: the same rows applied again leave the tables as they were, except the
    event type catalog's counts, which count the events of each call (see the package
    notes). Within one call the order of the rows does not matter; across calls, apply
    them in the order the engine emitted them (a retraction must follow what it
    retracts). The statements per call depend on the tables, not on the rows: one
    executemany per kind of write, one read per merged table (per 10,000 keys).
    Assumes one writer per organisation at a time, as the engine is keyed by
    organisation; on PostgreSQL merged rows are locked, so a second writer waits.
    """
    if stream_retention < 1:
        raise ValueError("stream_retention must be at least 1")
    fold = Fold(retention=stream_retention)
    fold.add_all(rows)
    return write_fold(session, fold, replace_counts=False)


def write_fold(session: Session, fold: Fold, *, replace_counts: bool, new: bool = False) -> ServingStats:
    """``new``: the organisations' serving rows were deleted in this transaction (a rebuild)."""
    stats = ServingStats(rows=fold.rows, ignored=fold.ignored)
    stats.accounts = write_accounts(session, fold.accounts)
    stats.contacts = write_contacts(session, fold.contacts)
    milestones = write_statuses(session, fold.changes)
    stats.milestone_statuses = milestones.written
    stats.milestone_statuses_removed = milestones.removed
    stats.milestone_changes_skipped = milestones.skipped
    streams = write_stream_items(session, fold.matches, fold.payloads, fold.change_payloads(), fold.retention)
    stats.stream_items = streams.written
    stats.stream_items_removed = streams.removed
    stats.stream_items_expired = streams.expired
    stats.stream_matches_skipped = streams.skipped
    stats.event_types = write_event_types(session, fold.catalog, replace=replace_counts)
    stats.events_counted = sum(entry.count for entry in fold.catalog.values())
    stats.daily_activity = write_daily_activity(session, fold.daily, new=new)
    return stats
