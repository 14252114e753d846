"""Parsing bus messages: events keyed by organisation, bad messages to dead letters."""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from tests.support.beam import batch_pipeline
from variance.core import bus
from variance.core.vocabulary import WarehouseTable
from variance.transforms.messages import ReceivedMessage
from variance.transforms.parse import ParseMessages

DEAD_LETTERS = WarehouseTable.dead_letters.value
ATTRS = {
    bus.ORG_ID: "org_a",
    bus.CONNECTION_ID: "con_1",
    bus.CONNECTION_NAME: "web",
    bus.MESSAGE_ID: "m1",
    bus.TYPE: "track",
    bus.EVENT_TIME: "2024-05-01T10:00:00.000Z",
}
GOOD = {
    "type": "track",
    "userId": "u1",
    "event": "Invited User",
    "messageId": "m1",
    "timestamp": "2024-05-01T10:00:00.000Z",
    "receivedAt": "2024-05-01T10:00:01.000Z",
    "properties": {"role": "admin"},
}


def test_good_and_bad_messages():
    messages = [
        ReceivedMessage(json.dumps(GOOD).encode(), dict(ATTRS), "ack-1"),
        ReceivedMessage(b"{not json", dict(ATTRS, message_id="m2"), "ack-2"),
        ReceivedMessage(json.dumps(dict(GOOD, event="")).encode(), dict(ATTRS), "ack-3"),
        ReceivedMessage(json.dumps(GOOD).encode(), {k: v for k, v in ATTRS.items() if k != bus.ORG_ID}, "ack-4"),
        ReceivedMessage(
            b'{"type":"track"}',
            dict(ATTRS, message_id="r1", type="rejected", rejected="batch[1].event: is required"),
            "ack-5",
        ),
        ReceivedMessage(b"[]", dict(ATTRS, message_id="m6"), None),  # the runner acknowledges (Dataflow)
    ]
    not_json = "data is not JSON (unexpected character, expected a string key: line 1 column 2 (char 1))"
    with batch_pipeline() as p:
        out = p | beam.Create(messages) | ParseMessages()
        assert_that(
            out.events
            | beam.Map(
                lambda kv: (kv[0], kv[1].event.message_id, kv[1].event.name, kv[1].event.event_time, kv[1].ack_id)
            ),
            equal_to([("org_a", "m1", "Invited User", 1714557600000000, "ack-1")]),
            label="parsed events",
        )
        # A bad message to acknowledge travels with its dead letter, so both are durable together.
        assert_that(
            out.acks
            | beam.Map(
                lambda a: (a.ack_id, *[(r[0], r[1]["stage"], r[1]["message_id"], r[1]["reason"]) for r in a.rows])
            ),
            equal_to(
                [
                    ("ack-2", (DEAD_LETTERS, "parse", "m2", not_json)),
                    (
                        "ack-3",
                        (
                            DEAD_LETTERS,
                            "parse",
                            "m1",
                            "event: is required for track calls and must be a non-empty string",
                        ),
                    ),
                    ("ack-4", (DEAD_LETTERS, "parse", "m1", "attributes org_id are missing")),
                    ("ack-5", (DEAD_LETTERS, "ingest", "r1", "batch[1].event: is required")),
                ]
            ),
            label="acks",
        )
        assert_that(
            out.dead_letters | beam.Map(lambda r: (r[0], r[1]["stage"], r[1]["message_id"], r[1]["reason"])),
            equal_to([(DEAD_LETTERS, "parse", "m6", "data must be a JSON object")]),
            label="dead letters",
        )


def _known(org_id: str, connection_id: str) -> bool:
    return (org_id, connection_id) == ("org_a", "con_1")


def test_messages_that_did_not_come_through_the_api_are_dead_letters_naming_why():
    big = dict(GOOD, messageId="m3", properties={"blob": "x" * 40_000})
    messages = [
        ReceivedMessage(json.dumps(GOOD).encode(), dict(ATTRS), None),
        ReceivedMessage(
            json.dumps(dict(GOOD, messageId="m2")).encode(), dict(ATTRS, message_id="m2", org_id="org_x"), None
        ),
        ReceivedMessage(json.dumps(big).encode(), dict(ATTRS, message_id="m3"), None),
        ReceivedMessage(
            json.dumps(dict(GOOD, messageId="m4")).encode(), dict(ATTRS, message_id="m4", event_time="soon"), None
        ),
    ]
    size = len(json.dumps(big).encode())
    with batch_pipeline() as p:
        out = p | beam.Create(messages) | ParseMessages(_known)
        assert_that(out.events | beam.Map(lambda kv: kv[1].event.message_id), equal_to(["m1"]), label="parsed")
        assert_that(
            out.dead_letters | beam.Map(lambda r: (r[1]["message_id"], r[1]["stage"], r[1]["reason"])),
            equal_to(
                [
                    (
                        "m2",
                        "parse",
                        "attribute connection_id: organisation 'org_x' has no connection 'con_1' "
                        "(deleted, or the message did not come through the API)",
                    ),
                    (
                        "m3",
                        "parse",
                        f"data is {size} bytes: more than Segment's limit of 32 KB per call (and the fields the API adds)",
                    ),
                    (
                        "m4",
                        "parse",
                        "attribute event_time: must be an ISO-8601 date-time string such as 2024-05-01T10:00:00.000Z",
                    ),
                ]
            ),
            label="dead letters",
        )
