"""WriteSignals wires the sinks for streaming and backfill alike: what reaches the lake,
in what order, and where a failed Slack post ends up."""

from __future__ import annotations

import json
import socket

import apache_beam as beam
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue

from tests.support.beam import StaticConfig, batch_pipeline, streaming_pipeline
from tests.support.events import config, selector, selector_stream
from variance.core import bus
from variance.core.rows import StreamMatchRecord
from variance.core.settings import Settings
from variance.core.vocabulary import MatchedBy, RowStatus, WarehouseTable
from variance.core.warehouse import DEAD_LETTERS, EVENTS
from variance.pipelines.sinks import ROWS, WriteSignals, close_writers
from variance.pipelines.sinks.shared import LAKE, shared_writer
from variance.pipelines.streaming import build_signals
from variance.transforms.messages import ReceivedMessage
from variance.warehouse.local import LakeReader

T0_S = 1_714_521_600  # 2024-05-01T00:00:00Z


class RecordingWriter:
    """Stands in for the process's lake writer: records each ``append`` call in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[list, list]] = []

    def append(self, rows, tokens=()) -> None:
        self.calls.append((list(rows), list(tokens)))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def message(message_id: str, offset_s: int, *, good: bool = True) -> TimestampedValue:
    stamp = f"2024-05-01T00:{offset_s // 60:02d}:{offset_s % 60:02d}.000Z"
    call = {
        "type": "track",
        "userId": "u1",
        "event": "Invited User",
        "messageId": message_id,
        "timestamp": stamp,
        "receivedAt": stamp,
    }
    attributes = {
        bus.ORG_ID: "org_a",
        bus.CONNECTION_ID: "con_web",
        bus.CONNECTION_NAME: "web",
        bus.MESSAGE_ID: message_id,
        bus.TYPE: "track",
        bus.EVENT_TIME: stamp,
    }
    data = json.dumps(call).encode() if good else b"{not json"
    return TimestampedValue(ReceivedMessage(data, attributes, f"ack-{message_id}"), T0_S + offset_s)


def test_each_ack_reaches_the_lake_writer_after_the_rows_of_its_message(settings):
    """On Beam's local runner, with the streaming pipeline's own wiring: a message is
    acknowledged (so never redelivered) only after its rows were handed to the writer,
    which makes them durable before it reports the ack id. Dead letters too."""
    writer = shared_writer(LAKE, str(settings.lake_dir), RecordingWriter)
    good = [f"m{i}" for i in range(12)]
    bad = ["bad1", "bad2"]
    stream = TestStream().advance_watermark_to(T0_S)
    for i, message_id in enumerate(good):
        stream = stream.add_elements([message(message_id, 10 * i)])
        if message_id == "m5":
            stream = stream.add_elements([message(bad[0], 55, good=False), message(bad[1], 56, good=False)])
        stream = stream.advance_watermark_to(T0_S + 10 * i + 5)
    stream = stream.advance_watermark_to_infinity()

    p = streaming_pipeline()
    build_signals(p, p | stream, settings, local=True)
    p.run()
    close_writers()

    first_row_call: dict[str, int] = {}
    ack_call: dict[str, int] = {}
    for index, (rows, tokens) in enumerate(writer.calls):
        for table, row in rows:
            if table in (EVENTS.name, DEAD_LETTERS.name):
                first_row_call.setdefault(row["message_id"], index)
        for token in tokens:
            assert token not in ack_call, f"{token} acknowledged twice"
            ack_call[token] = index
    assert sorted(ack_call) == sorted(f"ack-{m}" for m in good + bad)
    late = {m: (first_row_call.get(m), ack_call[f"ack-{m}"]) for m in good + bad}
    assert {m: calls for m, calls in late.items() if calls[0] is None or calls[0] > calls[1]} == {}


def test_a_match_for_slack_is_recorded_in_the_outbox_and_nothing_talks_to_slack(
    settings_for, migrate_app_database, tmp_path
):
    # Slack unreachable: the pipeline does not notice, since it only records what to post
    # (``variance slack sender`` posts it, and turns its failures into dead letters).
    settings = settings_for(
        VARIANCE_SLACK_TOKEN="xoxb-test", VARIANCE_SLACK_API_URL=f"http://127.0.0.1:{closed_port()}/api/"
    )
    migrate_app_database(settings)
    streams = StaticConfig(
        config(streams=[selector_stream("s_alerts", selector("Action", "Invited User"), channel="C1")])
    )
    match = StreamMatchRecord(
        org_id="org_a",
        stream_id="s_alerts",
        message_id="m1",
        event_time=T0_S * 1_000_000,
        kind="Action",
        name="Invited User",
        matched_by=MatchedBy.selector.value,
        status=RowStatus.current.value,
        recorded_at=T0_S * 1_000_000,
    ).as_row()
    with batch_pipeline() as p:
        {ROWS: p | beam.Create([match])} | WriteSignals(settings, synchronous=True, slack_config=streams)
    close_writers()
    reader = LakeReader(settings.lake_dir)
    assert [r["message_id"] for r in reader.current(WarehouseTable.stream_matches.value)] == ["m1"]
    assert reader.current(DEAD_LETTERS.name) == []
    from sqlalchemy import select

    from variance.appdb.models import SlackOutboxRow
    from variance.appdb.session import make_engine, session_factory

    engine = make_engine(settings.resolved_database_url)
    with session_factory(engine)() as session:
        recorded = [(r.message_id, r.channel_id, r.state) for r in session.scalars(select(SlackOutboxRow))]
    engine.dispose()
    assert recorded == [("m1", "C1", "pending")]


def test_a_backfill_writes_rows_without_slack_or_acks(settings: Settings):
    """Backfill wiring: rows only; nothing posts to Slack and nothing is acknowledged."""
    p = batch_pipeline()
    {ROWS: p | beam.Create([])} | "WriteSignals" >> WriteSignals(settings, synchronous=True)
    names = [t.unique_name for t in p.to_runner_api().components.transforms.values()]
    assert any(n.startswith("WriteSignals/ToLocalWarehouse") for n in names)
    assert any(n.startswith("WriteSignals/ToServingTables") for n in names)
    assert not any("ToSlack" in n or "RowsThenAcks" in n for n in names)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed
