"""Starting the local streaming pipeline from the warehouse.

Beam's local runner keeps state in memory only. Before the pipeline emits anything new,
this module rebuilds from the warehouse what the engines knew: the identity links, the
message ids seen recently (so redelivered messages are skipped), and each milestone's
counts (the events within its window plus the allowed lateness; all of them for a
milestone without a window), evaluated with the same code as a backfill. It then
repairs what a crash may have cut short: milestone changes that came due while the
pipeline was down (or whose rows were never written) are written, changes the history
no longer supports are retracted, the serving tables are rebuilt, and stream matches
that never reached Slack are posted. Outputs already written are recognised by their
keys and not written, matched or posted again.

It also serves the running pipeline: ``LakeHistory`` answers the history of a milestone
created or changed while it runs.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from variance.core.engine.config import MilestoneSpec, OrgConfig
from variance.core.engine.engine import OrgEngine
from variance.core.events import SEGMENT_TYPE_TO_KIND, SignalEvent
from variance.core.milestone_engine import Change
from variance.core.rows import (
    ContactAccountLinkRecord,
    EventRecord,
    IdentityLinkRecord,
    MilestoneChangeRecord,
)
from variance.core.settings import Settings
from variance.core.vocabulary import ChangeSource, RowStatus, WarehouseTable
from variance.core.warehouse import Row
from variance.serving import SERVED_WAREHOUSE_TABLES

log = logging.getLogger(__name__)

# The Segment call type of each event kind a milestone can count (Milestone events are
# not in the warehouse's events table).
_SEGMENT_TYPES = {kind.value: segment_type for segment_type, kind in SEGMENT_TYPE_TO_KIND.items()}


def event_from_row(row: dict) -> SignalEvent:
    """A warehouse events row back as the event the engine saw."""
    record = EventRecord.from_row(row)
    return SignalEvent(
        org_id=record.org_id,
        connection_id=record.connection_id,
        connection_name=record.connection_name,
        message_id=record.message_id,
        type=record.type,
        event_time=record.event_time,
        received_at=record.received_at,
        user_id=record.user_id,
        anonymous_id=record.anonymous_id,
        group_id=record.group_id,
        previous_id=(orjson.loads(record.raw) if record.raw else {}).get("previousId")
        if record.type == "alias"
        else None,
        name=record.name,
        properties=orjson.loads(record.properties) if record.properties else {},
        traits=orjson.loads(record.traits) if record.traits else {},
        context=orjson.loads(record.context) if record.context else {},
        raw={},
    )


def milestone_history(reader, org_id: str, spec: MilestoneSpec, since_us: int | None) -> list[SignalEvent]:
    """The events a milestone may count: its kind (and name), since ``since_us``."""
    segment_type = _SEGMENT_TYPES.get(spec.kind)
    if segment_type is None:
        return []
    where = ["org_id = $org", "type = $type"]
    params: dict = {"org": org_id, "type": segment_type}
    if spec.event_name is not None:
        where.append("name = $name")
        params["name"] = spec.event_name
    if since_us is not None:
        where.append("epoch_us(event_time) >= $since")
        params["since"] = since_us
    rows = reader.current(WarehouseTable.events.value, " and ".join(where), params, order_by="event_time, message_id")
    return [event_from_row(r) for r in rows]


class LakeHistory:
    """History provider for milestones created or changed while the pipeline runs."""

    def __init__(self, lake_dir: str):
        self.lake_dir = lake_dir

    def __call__(self, org_id: str, spec: MilestoneSpec) -> list[SignalEvent]:
        from variance.pipelines.sinks import flush_writer
        from variance.warehouse.local import LakeReader

        flush_writer(self.lake_dir)  # what this process processed so far is history too
        return milestone_history(LakeReader(self.lake_dir), org_id, spec, None)


# Beam pickles the provider into every DoFn instance (one per bundle on the local runner):
# the engines live here so that each is handed out once per process, not once per copy.
_RESTORED: dict[int, dict[str, OrgEngine]] = {}
_TOKENS = itertools.count(1)
_LOCK = threading.Lock()


class RestoredEngines:
    """Hands each organisation's rebuilt engine to the pipeline once (kept in this
    process: the local runner re-creates its DoFns for every bundle)."""

    def __init__(self, engines: dict[str, OrgEngine]):
        with _LOCK:
            self.token = next(_TOKENS)
            _RESTORED[self.token] = dict(engines)

    def __call__(self, org_id: str) -> OrgEngine | None:
        with _LOCK:
            return _RESTORED.get(self.token, {}).pop(org_id, None)

    def organisations(self) -> list[str]:
        with _LOCK:
            return sorted(_RESTORED.get(self.token, {}))


@dataclass
class Restored:
    engines: dict[str, OrgEngine] = field(default_factory=dict)
    repairs: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    events_read: int = 0


def restore(settings: Settings, reader, config_provider, now_us: int) -> Restored:
    """Rebuild every organisation's engine from the lake, and the rows that repair it."""
    started = time.monotonic()
    lateness = int(settings.allowed_lateness.total_seconds() * 1_000_000)
    dedupe = int(settings.dedupe_window.total_seconds() * 1_000_000)
    _, orgs = reader.query("select distinct org_id from events order by org_id")
    result = Restored()
    for (org_id,) in orgs:
        config: OrgConfig = config_provider(org_id)
        engine = OrgEngine(org_id, lateness_us=lateness, dedupe_us=dedupe, source=ChangeSource.recompute.value)
        engine.configure(config)
        by_org = {"org": org_id}
        for row in reader.current(WarehouseTable.identity_links.value, "org_id = $org", by_org, order_by="linked_at"):
            user = IdentityLinkRecord.from_row(row)
            engine.identity.link_user(user.anonymous_id, user.user_id, user.linked_at, user.message_id)
        for row in reader.current(
            WarehouseTable.contact_account_links.value, "org_id = $org", by_org, order_by="linked_at"
        ):
            link = ContactAccountLinkRecord.from_row(row)
            engine.identity.link_account(link.contact_id, link.account_id, link.linked_at, link.message_id)
        _, seen = reader.query(
            "select message_id, epoch_us(event_time) from events where org_id = $org and epoch_us(event_time) >= $since",
            {"org": org_id, "since": now_us - max(lateness, dedupe)},
        )
        for message_id, event_time in seen:
            engine.remember(message_id, event_time)
        recomputed: list[Row] = []
        for spec in config.milestones.values():
            since = None if spec.window_us is None else now_us - spec.window_us - lateness
            history = milestone_history(reader, org_id, spec, since)
            result.events_read += len(history)
            recomputed += engine.restore_milestone(spec, history, now_us)
        engine.as_of = now_us
        engine.source = ChangeSource.streaming.value
        result.repairs += _repairs(reader, org_id, config, recomputed, now_us, lateness, engine)
        result.engines[org_id] = engine
    result.seconds = time.monotonic() - started
    return result


def _repairs(reader, org_id, config, recomputed: list[Row], now_us: int, lateness: int, engine: OrgEngine) -> list[Row]:
    """Rows that make the warehouse's current milestone changes those the history gives,
    within the range the pipeline may still change (older history is final)."""
    fresh: dict[str, MilestoneChangeRecord] = {}
    for table, row in recomputed:
        if table == WarehouseTable.milestone_changes:
            change = MilestoneChangeRecord.from_row(row)
            fresh[change.change_id] = change
    written = {
        change.change_id: change
        for change in map(
            MilestoneChangeRecord.from_row,
            reader.current(
                WarehouseTable.milestone_changes.value,
                "org_id = $org and status = $status",
                {"org": org_id, "status": RowStatus.current.value},
            ),
        )
    }
    repairs: list[Row] = []
    for change_id, change in fresh.items():
        if change_id not in written:
            repairs += engine.change_rows(
                config.milestones[change.milestone_id], change.entity_id, _as_change(change), RowStatus.current.value
            )
    for change_id, change in written.items():
        spec = config.milestones.get(change.milestone_id)
        if spec is None or spec.version != change.milestone_version or change_id in fresh:
            continue
        open_range = spec.window_us is None or change.changed_at >= now_us - lateness
        if open_range:
            repairs += engine.change_rows(spec, change.entity_id, _as_change(change), RowStatus.retracted.value)
    for table, row in repairs:
        if table == WarehouseTable.milestone_changes:
            row["source"] = ChangeSource.recompute.value
    return repairs


def _as_change(change: MilestoneChangeRecord) -> Change:
    return Change(change.kind, change.changed_at, change.count)


def serving_tables(reader, org_id: str) -> dict[str, Iterable[dict]]:
    """The warehouse's current rows of one organisation, for rebuilding the serving tables."""
    return {name: reader.iter_current(name, "org_id = $org", {"org": org_id}) for name in SERVED_WAREHOUSE_TABLES}
