"""Parse and validate bus messages into typed events; anything bad goes to dead letters
with the stage and the reason, and is acknowledged only once that dead letter is durable."""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.metrics import Metrics

from variance.core import bus
from variance.core.engine.engine import dead_letter_row
from variance.core.events import ParseError, parse_bus_message
from variance.transforms.messages import Envelope, ReceivedMessage, ack_row

DEAD_LETTERS = "dead_letters"


class ParseMessageFn(beam.DoFn):
    """ReceivedMessage -> (org_id, Envelope), or dead-letter rows on the DEAD_LETTERS output."""

    def __init__(self) -> None:
        self.parsed = Metrics.counter("variance", "events_parsed")
        self.dead = Metrics.counter("variance", "dead_letters")

    def process(self, message: ReceivedMessage):
        try:
            event = parse_bus_message(message.data, message.attributes)
        except ParseError as exc:
            self.dead.inc()
            attributes = dict(message.attributes)
            rejected = attributes.get(bus.REJECTED)
            stage = "ingest" if rejected else "parse"
            reason = rejected or str(exc)
            row = dead_letter_row(
                attributes.get(bus.ORG_ID),
                stage,
                reason,
                attributes.get(bus.MESSAGE_ID),
                message.data,
                time.time_ns() // 1000,
                attributes,
            )
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, (DEAD_LETTERS, row))
            if message.ack_id:
                yield beam.pvalue.TaggedOutput(DEAD_LETTERS, ack_row(message.ack_id))
            return
        self.parsed.inc()
        yield (event.org_id, Envelope(event, message.ack_id))


class ParseMessages(beam.PTransform):
    """Outputs ``events`` (keyed by organisation) and ``dead_letters`` (warehouse rows)."""

    def expand(self, messages):
        return messages | "Parse" >> beam.ParDo(ParseMessageFn()).with_outputs(DEAD_LETTERS, main="events")
