"""The local streaming pipeline's sinks as one step: every row reaches each place it
belongs, nothing else, and a message is acknowledged only after its Slack posts are in
the outbox and its rows were handed to the lake."""

from __future__ import annotations

import apache_beam as beam
from sqlalchemy import select

from tests.pipelines.sinks.test_write_signals import RecordingWriter
from tests.support.beam import StaticConfig, batch_pipeline
from tests.support.events import config, selector, selector_stream
from variance.appdb.models import ContactRow, DailyActivityRow, SlackOutboxRow
from variance.appdb.session import make_engine, session_factory
from variance.core.rows import ContactRecord, DailyActivityRecord, StreamMatchRecord
from variance.core.vocabulary import MatchedBy, RowStatus, ServingTable
from variance.pipelines.sinks import ACKS, DAILY_ACTIVITY, ROWS, WriteSignals, close_writers
from variance.pipelines.sinks.shared import LAKE, shared_writer
from variance.transforms.messages import Ack

T0 = 1_714_521_600_000_000


class OutboxAtAck(RecordingWriter):
    """Records, with each append that acknowledges, which messages the outbox held then."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.sessions = session_factory(make_engine(database_url))
        self.outbox_at_ack: dict[str, set[str]] = {}

    def append(self, rows, tokens=()) -> None:
        super().append(rows, tokens)
        with self.sessions() as session:
            entries = set(session.scalars(select(SlackOutboxRow.message_id)))
        for token in tokens:
            self.outbox_at_ack[token] = entries


def match(message_id: str) -> tuple:
    return StreamMatchRecord(
        org_id="org_a",
        stream_id="s_alerts",
        message_id=message_id,
        event_time=T0,
        kind="Action",
        name="Invited User",
        matched_by=MatchedBy.selector.value,
        status=RowStatus.current.value,
        recorded_at=T0,
    ).as_row()


def test_local_streaming_writes_each_row_where_it_belongs_and_acks_after_the_outbox(settings_for, migrate_app_database):
    settings = settings_for(VARIANCE_SLACK_TOKEN="xoxb-test")
    migrate_app_database(settings)
    url = settings.resolved_database_url
    lake = shared_writer(LAKE, str(settings.lake_dir), lambda: OutboxAtAck(url))
    streams = StaticConfig(
        config(streams=[selector_stream("s_alerts", selector("Action", "Invited User"), channel="C1")])
    )
    contact = ContactRecord(org_id="org_a", contact_id="u1", message_id="m1", event_time=T0, recorded_at=T0)
    daily = DailyActivityRecord(
        org_id="org_a", entity_type="contact", entity_id="u1", day="2024-05-01", kind="Action", name="Ran", count=3
    ).as_row()
    loose = match("m2")  # a row on the rows output (a correction's), not an ack's

    p = batch_pipeline()
    {
        ROWS: p | "Rows" >> beam.Create([loose]),
        ACKS: p | "Acks" >> beam.Create([Ack("ack-m1", (contact.as_row(), match("m1")))]),
        DAILY_ACTIVITY: p | "Daily" >> beam.Create([daily]),
    } | "WriteSignals" >> WriteSignals(settings, synchronous=True, slack_config=streams)
    steps = {t.unique_name: t for t in p.to_runner_api().components.transforms.values()}
    assert "WriteSignals/ToLocalSinks" in steps
    assert not any(name.startswith("WriteSignals/ToServingTables") for name in steps)
    p.run().wait_until_finish()
    close_writers()

    appended = [row for rows, _ in lake.calls for row in rows]
    assert sorted(r[1]["message_id"] for r in appended) == ["m1", "m1", "m2"]
    assert ServingTable.daily_activity.value not in {table for table, _ in appended}
    # the ack goes with or after its message's rows (another row may share its call)
    [ack_call] = [i for i, (_, tokens) in enumerate(lake.calls) if tokens]
    assert lake.calls[ack_call][1] == ["ack-m1"]
    m1_calls = [i for i, (rows, _) in enumerate(lake.calls) for _, row in rows if row["message_id"] == "m1"]
    assert len(m1_calls) == 2 and max(m1_calls) <= ack_call
    assert "m1" in lake.outbox_at_ack["ack-m1"]  # its match was in the outbox first

    with session_factory(make_engine(url))() as session:
        assert [c.contact_id for c in session.scalars(select(ContactRow))] == ["u1"]
        assert [(d.entity_id, d.count) for d in session.scalars(select(DailyActivityRow))] == [("u1", 3)]
        outbox = sorted((r.message_id, r.channel_id) for r in session.scalars(select(SlackOutboxRow)))
    assert outbox == [("m1", "C1"), ("m2", "C1")]
