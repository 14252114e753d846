"""Running the engine over a finite set of events (backfills, recomputation, tests), and
reading its output as the warehouse would (newest row per key)."""

from __future__ import annotations

from collections.abc import Iterable

from variance.core.engine.config import OrgConfig
from variance.core.engine.engine import OrgEngine
from variance.core.events import SignalEvent
from variance.core.vocabulary import ChangeSource, RowStatus, WarehouseTable
from variance.core.warehouse import TABLES, Row, row_key


def run_batch(
    config: OrgConfig, events: Iterable[SignalEvent], as_of_us: int, lateness_us: int, *, clock=None
) -> list[Row]:
    """All rows for one organisation's events, as of ``as_of_us``.

    Events are taken in event-time order (message id breaking ties), so every identity
    link is known before the events it applies to and nothing is late; the streaming
    engine reaches the same milestone changes through corrections.
    """
    engine = OrgEngine(
        config.org_id,
        lateness_us=lateness_us,
        source=ChangeSource.backfill.value,
        **({"clock": clock} if clock else {}),
    )
    engine.configure(config)
    rows: list[Row] = []
    for event in sorted(events, key=lambda e: (e.event_time, e.message_id)):
        rows.extend(engine.process(event))
    rows.extend(engine.advance(as_of_us))
    return rows


def current_rows(rows: Iterable[Row], table: str) -> dict[str, dict]:
    """The rows of one table as the warehouse resolves them: the last row per key."""
    spec = TABLES[table]
    out: dict[str, dict] = {}
    for name, row in rows:
        if name == spec.name:
            out[row_key(spec, row)] = row
    return out


def current_milestone_changes(rows: Iterable[Row]) -> set[tuple]:
    """(milestone, entity, kind, time, count) of every change that is still current."""
    return {
        (r["milestone_id"], r["entity_type"], r["entity_id"], r["kind"], r["changed_at"], r["count"])
        for r in current_rows(rows, WarehouseTable.milestone_changes.value).values()
        if r["status"] == RowStatus.current
    }


def current_stream_matches(rows: Iterable[Row]) -> set[tuple]:
    return {
        (r["stream_id"], r["message_id"], r["kind"], r["name"], r["contact_id"], r["account_id"])
        for r in current_rows(rows, WarehouseTable.stream_matches.value).values()
        if r["status"] == RowStatus.current
    }
