"""Parse and validate bus messages into typed events; anything bad goes to dead letters
with the stage and the reason. A bad message the sink must acknowledge goes to ``ACKS``
with its dead letter, so the lake writer acknowledges it only once that is durable."""

from __future__ import annotations

import time
from collections.abc import Callable

import apache_beam as beam
from apache_beam.metrics import Metrics

from variance.core import bus
from variance.core.events import ParseError, parse_bus_message
from variance.core.rows import dead_letter
from variance.core.vocabulary import Stage, WarehouseTable
from variance.transforms.messages import ACKS, DEAD_LETTERS, EVENTS, Ack, Envelope, ReceivedMessage

# (org_id, connection_id) -> whether the app database has that connection (pipelines/
# config_source.py); messages published straight onto the topic may name neither.
KnownConnection = Callable[[str, str], bool]


@beam.typehints.with_input_types(ReceivedMessage)
@beam.typehints.with_output_types(tuple[str, Envelope])
class ParseMessageFn(beam.DoFn):
    """ReceivedMessage -> (org_id, Envelope); a bad message -> its dead-letter row on
    ``DEAD_LETTERS``, or, with an ack id, an ``Ack`` carrying that row on ``ACKS``.
    With ``known_connection``, a message of a connection the app database does not
    have is a bad message too."""

    def __init__(self, known_connection: KnownConnection | None = None) -> None:
        self.parsed = Metrics.counter("variance", "events_parsed")
        self.dead = Metrics.counter("variance", WarehouseTable.dead_letters.value)
        self._known = known_connection

    def process(self, message: ReceivedMessage):
        try:
            event = parse_bus_message(message.data, message.attributes)
        except ParseError as exc:
            yield self._dead_letter(message, str(exc))
            return
        if self._known is not None and not self._known(event.org_id, event.connection_id):
            reason = (
                f"attribute {bus.CONNECTION_ID}: organisation {event.org_id!r} has no connection "
                f"{event.connection_id!r} (deleted, or the message did not come through the API)"
            )
            yield self._dead_letter(message, reason)
            return
        self.parsed.inc()
        yield (event.org_id, Envelope(event, message.ack_id))

    def _dead_letter(self, message: ReceivedMessage, reason: str):
        self.dead.inc()
        attributes = dict(message.attributes)
        rejected = attributes.get(bus.REJECTED)
        letter = dead_letter(
            attributes.get(bus.ORG_ID),
            Stage.ingest if rejected else Stage.parse,
            rejected or reason,
            attributes.get(bus.MESSAGE_ID),
            message.data,
            time.time_ns() // 1000,
            attributes,
        )
        if message.ack_id:
            return beam.pvalue.TaggedOutput(ACKS, Ack(message.ack_id, (letter.as_row(),)))
        return beam.pvalue.TaggedOutput(DEAD_LETTERS, letter.as_row())


@beam.typehints.with_input_types(ReceivedMessage)
class ParseMessages(beam.PTransform):
    """Outputs ``events`` ((org_id, Envelope)), ``dead_letters`` (warehouse rows) and
    ``acks`` (``Ack``: a dead-lettered message to acknowledge, with its dead letter)."""

    def __init__(self, known_connection: KnownConnection | None = None) -> None:
        super().__init__()
        self._known = known_connection

    def expand(self, messages):
        return messages | "Parse" >> beam.ParDo(ParseMessageFn(self._known)).with_outputs(
            DEAD_LETTERS, ACKS, main=EVENTS
        )
