"""rebuild: an organisation's serving rows recomputed from its current warehouse rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import delete
from sqlalchemy.orm import Session

from variance.appdb.models import (
    AccountRow,
    ContactRow,
    DailyActivityRow,
    EventTypeRow,
    MilestoneStatusRow,
    StreamItemRow,
)
from variance.core.vocabulary import WarehouseTable
from variance.serving.fold import SERVED_WAREHOUSE_TABLES, EventSummary, Fold
from variance.serving.writer import DEFAULT_STREAM_RETENTION, ServingStats, write_fold

_SERVING = (ContactRow, AccountRow, MilestoneStatusRow, StreamItemRow, EventTypeRow, DailyActivityRow)


def rebuild(
    session: Session,
    org_id: str,
    tables: Mapping[str, Iterable[dict]],
    *,
    stream_retention: int = DEFAULT_STREAM_RETENTION,
    summarise_events: Callable[[set[str]], EventSummary] | None = None,
) -> ServingStats:
    """Replace one organisation's serving rows with what its warehouse says (after a
    restart, or to repair drift), inside the caller's transaction: readers see the old
    rows until the commit, then the new ones.

    ``tables`` maps warehouse table names to that organisation's current rows (the
    newest row per key, as the lake reader or ``current_rows`` resolves them); each is
    iterated once, lazily, so they can stream from files. Memory grows with the number of
    contacts, accounts, event types, milestone changes and daily counts, not with events:
    only the newest ``stream_retention`` matches per stream and their events' payloads
    are held.

    Unlike a sequence of :func:`apply_rows` calls, the result is exact whatever the
    history: profiles, links and milestone statuses are computed from all of it. Daily
    activity is counted from the events (every event, including those the streaming
    windows skipped as too late), and catalog counts are set, not added.

    ``summarise_events``, when given, stands in for the ``events`` rows: called with the
    message ids whose payloads the retained stream items need, it returns the
    organisation's events already aggregated (see :class:`EventSummary`), the same result
    for a fraction of the work on a large warehouse.
    """
    if summarise_events is not None and WarehouseTable.events.value in tables:
        raise ValueError("give the events as rows or as a summary, not both")
    fold = Fold(retention=stream_retention, rebuild=True)
    for table in SERVED_WAREHOUSE_TABLES:
        if table == WarehouseTable.events:
            fold.wanted_payloads = fold.matched_payload_keys()
            if summarise_events is not None:
                fold.add_event_summary(org_id, summarise_events({m for _, m in fold.wanted_payloads}))
                continue
        for row in tables.get(table, ()):
            if row.get("org_id") != org_id:
                raise ValueError(f"a {table} row of organisation {row.get('org_id')!r} given to rebuild {org_id!r}")
            fold.add(table, row)
    for model in _SERVING:
        session.execute(delete(model.__table__).where(model.__table__.c.org_id == org_id))
    return write_fold(session, fold, replace_counts=True, new=True)
