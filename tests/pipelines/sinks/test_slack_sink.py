"""The Slack sink records current matches of streams with a channel in the Slack outbox of
the app database, once each, with the event's properties and the milestone change the
bundle carried; it never talks to Slack (``variance slack sender`` does)."""

from __future__ import annotations

import apache_beam as beam
import orjson
from apache_beam.testing.util import assert_that, equal_to
from sqlalchemy import select

from tests.support.beam import StaticConfig, batch_pipeline
from tests.support.events import config, selector, selector_stream
from variance.appdb.models import SlackOutboxRow
from variance.appdb.session import make_engine, migrate, session_factory
from variance.core.rows import StreamMatchRecord
from variance.core.vocabulary import MatchedBy, RowStatus, WarehouseTable
from variance.pipelines.sinks import PostToSlack
from variance.pipelines.sinks.slack import RecordSlackPosts, catch_up
from variance.slack.outbox import match_key

T0 = 1_714_521_600_000_000
CONFIG = StaticConfig(
    config(
        streams=[
            selector_stream("s_alerts", selector("Action", "Invited User"), channel="C1"),
            selector_stream("s_quiet", selector("Action", "Invited User")),  # no channel
        ]
    )
)


def match(message_id: str, stream_id: str = "s_alerts", status: RowStatus = RowStatus.current, kind="Action"):
    return StreamMatchRecord(
        org_id="org_a",
        stream_id=stream_id,
        message_id=message_id,
        event_time=T0,
        kind=kind,
        name="Invited User",
        contact_id="u1",
        matched_by=MatchedBy.selector.value,
        status=status.value,
        recorded_at=T0,
    ).as_row()


def outbox_rows(database_url: str) -> list[SlackOutboxRow]:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(SlackOutboxRow).order_by(SlackOutboxRow.created_at)))
    finally:
        engine.dispose()


def migrated(database_url: str) -> str:
    engine = make_engine(database_url)
    migrate(engine)
    engine.dispose()
    return database_url


def test_current_matches_of_streams_with_a_channel_are_recorded_once(database_url):
    url = migrated(database_url)
    elements = [
        (WarehouseTable.events.value, {"org_id": "org_a", "message_id": "m1", "properties": '{"role": "admin"}'}),
        match("m1"),
        match("m1"),  # redelivered: recorded once
        match("m2", status=RowStatus.retracted),
        match("m3", stream_id="s_quiet"),
    ]
    with batch_pipeline() as p:
        out = p | beam.Create(elements) | beam.ParDo(RecordSlackPosts(CONFIG, url))
        assert_that(out, equal_to([]))
    (row,) = outbox_rows(url)
    assert (row.key, row.org_id, row.stream_id, row.message_id, row.channel_id, row.state) == (
        match_key("org_a", "s_alerts", "m1"),
        "org_a",
        "s_alerts",
        "m1",
        "C1",
        "pending",
    )
    payload = orjson.loads(row.payload)
    assert payload["match"] == match("m1")[1]
    assert (payload["stream_name"], payload["properties"], payload["milestone"]) == (
        "s_alerts",
        {"role": "admin"},
        None,
    )

    with batch_pipeline() as p:  # a restart replays the same rows: nothing new
        p | beam.Create(elements) | beam.ParDo(RecordSlackPosts(CONFIG, url))
    assert len(outbox_rows(url)) == 1


def test_a_milestone_match_carries_its_change(database_url):
    url = migrated(database_url)
    change = {
        "org_id": "org_a",
        "change_id": "chg_1",
        "milestone_id": "ms_1",
        "milestone_name": "PQL",
        "entity_type": "account",
        "entity_id": "acme",
        "kind": "achieved",
        "changed_at": T0,
        "count": 3,
        "status": "current",
    }
    with batch_pipeline() as p:
        rows = [(WarehouseTable.milestone_changes.value, change), match("chg_1", kind="Milestone")]
        p | beam.Create(rows) | beam.ParDo(RecordSlackPosts(CONFIG, url))
    (row,) = outbox_rows(url)
    assert orjson.loads(row.payload)["milestone"] == change


def test_the_sink_is_no_longer_a_poster():
    # The name the pipeline's wiring imports is the recording DoFn: no worker posts.
    assert PostToSlack is RecordSlackPosts and RecordSlackPosts.__name__ != "PostToSlack"


class Reader:
    """The warehouse reader ``catch_up`` asks for the last day's current matches."""

    def __init__(self, rows):
        self.rows = rows
        self.asked = None

    def current(self, table, where, params, order_by):
        self.asked = (table, where, params, order_by)
        return self.rows


def test_catch_up_records_what_a_stop_cut_short_and_skips_known_keys(settings_for, tmp_path):
    settings = settings_for(VARIANCE_DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}")
    migrated(settings.resolved_database_url)
    now = T0 + 3_600_000_000
    reader = Reader([match("m1")[1], match("m2")[1], match("m3", stream_id="s_quiet")[1]])
    assert catch_up(settings, reader, CONFIG, now) == 2
    assert reader.asked[0] == WarehouseTable.stream_matches and reader.asked[2] == {"since": now - 86_400_000_000}
    assert catch_up(settings, reader, CONFIG, now) == 0  # known keys
    assert [r.message_id for r in outbox_rows(settings.resolved_database_url)] == ["m1", "m2"]
