"""The Slack sink: current matches of streams with a channel posted once each; a post that
keeps failing becomes a dead letter (stage ``slack``), never silently dropped."""

from __future__ import annotations

import json
import socket

import apache_beam as beam
import orjson
from apache_beam.testing.util import assert_that, equal_to

from tests.support.beam import StaticConfig, batch_pipeline
from tests.support.events import config, selector, selector_stream
from variance.core.rows import StreamMatchRecord
from variance.core.vocabulary import MatchedBy, RowStatus, WarehouseTable
from variance.core.warehouse import DEAD_LETTERS, invalid_reason
from variance.pipelines.sinks import PostToSlack

T0 = 1_714_521_600_000_000
CONFIG = StaticConfig(
    config(
        streams=[
            selector_stream("s_alerts", selector("Action", "Invited User"), channel="C1"),
            selector_stream("s_quiet", selector("Action", "Invited User")),  # no channel
        ]
    )
)


def match(message_id: str, stream_id: str = "s_alerts", status: RowStatus = RowStatus.current):
    return StreamMatchRecord(
        org_id="org_a",
        stream_id=stream_id,
        message_id=message_id,
        event_time=T0,
        kind="Action",
        name="Invited User",
        contact_id="u1",
        matched_by=MatchedBy.selector.value,
        status=status.value,
        recorded_at=T0,
    ).as_row()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_current_matches_of_streams_with_a_channel_are_posted_once(tmp_path):
    outbox = tmp_path / "slack-outbox.jsonl"
    elements = [
        match("m1"),
        match("m1"),  # redelivered: posted once
        match("m2", status=RowStatus.retracted),
        match("m3", stream_id="s_quiet"),
        (WarehouseTable.events.value, {"message_id": "m1"}),  # not a match
    ]
    with batch_pipeline() as p:
        letters = p | beam.Create(elements) | beam.ParDo(PostToSlack(CONFIG, str(outbox), None, None))
        assert_that(letters, equal_to([]))
    posted = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [(r["message_id"], r["channel_id"], r["via"]) for r in posted] == [("m1", "C1", "outbox")]


def test_a_post_that_keeps_failing_becomes_a_dead_letter(tmp_path):
    slack = f"http://127.0.0.1:{closed_port()}/api/"
    outbox = tmp_path / "slack-outbox.jsonl"
    posts = PostToSlack(CONFIG, str(outbox), "xoxb-test", slack, attempts=2, backoff_s=0)

    def check(letters):
        (table, row), *others = letters
        assert others == []
        assert table == DEAD_LETTERS.name and invalid_reason(DEAD_LETTERS, row) is None
        assert (row["org_id"], row["stage"], row["message_id"]) == ("org_a", "slack", "m1")
        assert row["reason"].startswith("posting to Slack failed 2 times; last error: ")
        assert orjson.loads(row["payload"])["stream_id"] == "s_alerts"

    with batch_pipeline() as p:
        letters = p | beam.Create([match("m1")]) | beam.ParDo(posts)
        assert_that(letters, check)
    assert not outbox.exists() or outbox.read_text() == ""  # not recorded as sent: a restart retries it
