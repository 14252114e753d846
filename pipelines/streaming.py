"""The streaming pipeline: Pub/Sub -> parse -> per-organisation engine -> warehouse,
serving tables, Slack; daily activity through one-day event-time windows."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from variance.core import bus
from variance.core.settings import Settings
from variance.pipelines.config_source import AppDatabaseConfig
from variance.pipelines.runner import in_process_state, is_local
from variance.pipelines.sinks import ACKS, DAILY_ACTIVITY, ROWS, WriteSignals
from variance.transforms.activity import CountDailyActivity
from variance.transforms.messages import ReceivedMessage
from variance.transforms.parse import ParseMessages
from variance.transforms.signals import ComputeSignals


def _read_messages(p: beam.Pipeline, settings: Settings, local: bool):
    if local:
        from variance.pipelines.sources.local_pubsub import ReadDurablyFromPubSub

        return p | "ReadDurably" >> ReadDurablyFromPubSub(settings)
    # On Dataflow the runner checkpoints and acknowledges; Beam's read is the right one.
    return (
        p
        | "ReadFromPubSub"
        >> beam.io.ReadFromPubSub(
            subscription=settings.subscription_path, with_attributes=True, timestamp_attribute=bus.EVENT_TIME
        )
        | "ToMessages" >> beam.Map(lambda m: ReceivedMessage(m.data, dict(m.attributes or {}), None))
    )


def build_signals(
    p: beam.Pipeline,
    messages,
    settings: Settings,
    local: bool,
    *,
    synchronous: bool = False,
    history=None,
    initial=None,
):
    """Everything after the source, the same for every runner."""
    config = AppDatabaseConfig(settings.resolved_database_url, settings.config_refresh_s)
    lateness_us = int(settings.allowed_lateness.total_seconds() * 1_000_000)
    dedupe_us = int(settings.dedupe_window.total_seconds() * 1_000_000)
    parsed = messages | "ParseMessages" >> ParseMessages(config.knows_connection)
    signals = parsed.events | "ComputeSignals" >> ComputeSignals(
        config,
        lateness_us,
        dedupe_us,
        in_process_state=in_process_state(p.options) if local else False,
        history=history,
        initial=initial,
        refresh_s=settings.config_refresh_s,
    )
    daily_activity = signals.activity | "CountDailyActivity" >> CountDailyActivity(
        int(settings.allowed_lateness.total_seconds())
    )
    rows = (signals.rows, parsed.dead_letters) | "WarehouseRows" >> beam.Flatten()
    to_write = {ROWS: rows, DAILY_ACTIVITY: daily_activity}
    if local:  # on Dataflow the runner acknowledges
        to_write[ACKS] = (signals.acks, parsed.acks) | "Acks" >> beam.Flatten()
    to_write | "WriteSignals" >> WriteSignals(settings, synchronous=synchronous, slack_config=config)
    return rows


def run_streaming(settings: Settings, options: PipelineOptions, *, history=None, initial=None):
    """Start the streaming pipeline; returns Beam's PipelineResult (running)."""
    local = is_local(options)
    p = beam.Pipeline(options=options)
    build_signals(
        p,
        _read_messages(p, settings, local),
        settings,
        local,
        history=history,
        initial=initial,
    )
    return p.run()
