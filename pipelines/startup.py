"""Everything the local streaming pipeline does before it reads its first message.

Beam's local runner keeps state in memory only, so each start rebuilds it from the
warehouse and repairs what a stop cut short, in this order:

1. every key's state (``restore.restore`` and ``restore.split_by_key``): message ids
   within the de-duplication window, identity links, milestone states, and the events
   within the allowed lateness that a late link or a redelivery may still correct;
2. repair rows: milestone changes that came due while the pipeline was down, or that the
   history no longer supports, written to the warehouse;
3. the serving tables rebuilt from the warehouse;
4. Slack: stream matches written before the stop whose post never happened.

On Dataflow none of this runs: the runner keeps state across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass

from variance.core.settings import Settings
from variance.core.timeutil import now_micros
from variance.core.vocabulary import WarehouseTable
from variance.pipelines.restore import (
    LakeHistory,
    Restored,
    RestoredState,
    deleted_contacts_in_force,
    restore,
    serving_event_summary,
    serving_tables,
)


@dataclass
class StartUp:
    history: LakeHistory
    initial: RestoredState
    restored: Restored
    slack_posts: int

    def summary(self) -> str:
        restored = self.restored
        keys = restored.keys
        counts = {stage: len(states) for stage, states in keys.states.items()}
        return (
            f"restored {len(restored.engines)} organisations from the warehouse in {restored.seconds:.1f} s "
            f"({restored.events_read} events read; keys: {len(keys.seen)} messages, "
            f"{counts.get('anonymous', 0)} anonymous, {counts.get('contact', 0)} contacts, "
            f"{counts.get('account', 0)} accounts; {len(restored.repairs)} repair rows, "
            f"{self.slack_posts} Slack posts caught up)"
        )


def start_up(settings: Settings, now_us: int | None = None) -> StartUp:
    """Rebuild, repair, serve and catch up; returns what the pipeline starts with."""
    from variance.appdb.session import make_engine, session_factory
    from variance.pipelines.config_source import AppDatabaseConfig
    from variance.pipelines.sinks.slack import catch_up
    from variance.serving import rebuild
    from variance.warehouse.local import LakeReader, LakeWriter

    now = now_micros() if now_us is None else now_us
    deleted = deleted_contacts_in_force(settings)
    reader = LakeReader(settings.lake_dir, deleted_contacts=deleted)
    provider = AppDatabaseConfig(settings.resolved_database_url, settings.config_refresh_s)
    restored = restore(settings, reader, provider, now)
    if restored.repairs:
        writer = LakeWriter(settings.lake_dir)
        writer.append(
            [r for r in restored.repairs if r[0] in (WarehouseTable.milestone_changes, WarehouseTable.stream_matches)]
        )
        writer.close()
    engine = make_engine(settings.resolved_database_url)
    sessions = session_factory(engine)
    for org_id in restored.engines:
        lake = LakeReader(settings.lake_dir, deleted_contacts=deleted)
        with sessions() as session, session.begin():
            tables = serving_tables(lake, org_id, events=False)
            rebuild(session, org_id, tables, summarise_events=serving_event_summary(lake, org_id))
    engine.dispose()
    posted = catch_up(settings, LakeReader(settings.lake_dir, deleted_contacts=deleted), provider, now)
    return StartUp(LakeHistory(str(settings.lake_dir), deleted), RestoredState(restored.keys), restored, posted)
