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
from variance.core.engine.engine import OrgEngine, Row
from variance.core.events import SignalEvent
from variance.core.settings import Settings
from variance.core.warehouse import TABLES

log = logging.getLogger(__name__)


def event_from_row(row: dict) -> SignalEvent:
    """A warehouse events row back as the event the engine saw."""
    return SignalEvent(
        org_id=row["org_id"],
        connection_id=row["connection_id"],
        connection_name=row["connection_name"],
        message_id=row["message_id"],
        type=row["type"],
        event_time=row["event_time"],
        received_at=row["received_at"],
        user_id=row.get("user_id"),
        anonymous_id=row.get("anonymous_id"),
        group_id=row.get("group_id"),
        previous_id=(orjson.loads(row["raw"]) if row.get("raw") else {}).get("previousId")
        if row["type"] == "alias"
        else None,
        name=row.get("name"),
        properties=orjson.loads(row["properties"]) if row.get("properties") else {},
        traits=orjson.loads(row["traits"]) if row.get("traits") else {},
        context=orjson.loads(row["context"]) if row.get("context") else {},
        raw={},
    )


def milestone_history(reader, org_id: str, spec: MilestoneSpec, since_us: int | None) -> list[SignalEvent]:
    """The events a milestone may count: its kind (and name), since ``since_us``."""
    kind_types = {"Page": "page", "Screen": "screen", "Action": "track", "Identify": "identify", "Group": "group"}
    segment_type = kind_types.get(spec.kind)
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
    rows = reader.current("events", " and ".join(where), params, order_by="event_time, message_id")
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
        engine = OrgEngine(org_id, lateness_us=lateness, dedupe_us=dedupe, source="recompute")
        engine.configure(config)
        for row in reader.current("identity_links", "org_id = $org", {"org": org_id}, order_by="linked_at"):
            engine.identity.link_user(row["anonymous_id"], row["user_id"], row["linked_at"], row["message_id"])
        for row in reader.current("contact_account_links", "org_id = $org", {"org": org_id}, order_by="linked_at"):
            engine.identity.link_account(row["contact_id"], row["account_id"], row["linked_at"], row["message_id"])
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
        engine.source = "streaming"
        result.repairs += _repairs(reader, org_id, config, recomputed, now_us, lateness, engine)
        result.engines[org_id] = engine
    result.seconds = time.monotonic() - started
    return result


def _repairs(reader, org_id, config, recomputed: list[Row], now_us: int, lateness: int, engine: OrgEngine) -> list[Row]:
    """Rows that make the warehouse's current milestone changes those the history gives,
    within the range the pipeline may still change (older history is final)."""
    fresh = {row["change_id"]: row for table, row in recomputed if table == "milestone_changes"}
    written = {
        row["change_id"]: row
        for row in reader.current("milestone_changes", "org_id = $org and status = 'current'", {"org": org_id})
    }
    repairs: list[Row] = []
    for change_id, row in fresh.items():
        if change_id not in written:
            repairs += engine.change_rows(
                config.milestones[row["milestone_id"]], row["entity_id"], _as_change(row), "current"
            )
    for change_id, row in written.items():
        spec = config.milestones.get(row["milestone_id"])
        if spec is None or spec.version != row["milestone_version"] or change_id in fresh:
            continue
        open_range = spec.window_us is None or row["changed_at"] >= now_us - lateness
        if open_range:
            repairs += engine.change_rows(spec, row["entity_id"], _as_change(row), "retracted")
    for table, row in repairs:
        if table == "milestone_changes":
            row["source"] = "recompute"
    return repairs


def _as_change(row: dict):
    from variance.core.milestone_engine import Change

    return Change(row["kind"], row["changed_at"], row["count"])


def serving_tables(reader, org_id: str) -> dict[str, Iterable[dict]]:
    """The warehouse's current rows of one organisation, for rebuilding the serving tables."""
    return {
        name: reader.iter_current(name, "org_id = $org", {"org": org_id})
        for name in TABLES
        if name in ("events", "contacts", "accounts", "contact_account_links", "milestone_changes", "stream_matches")
    }
