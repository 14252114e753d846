"""What flows between the source, the transforms and the sinks."""

from __future__ import annotations

from typing import NamedTuple

from variance.core.events import SignalEvent

ACK = "_ack"  # a Row whose table is ACK carries a Pub/Sub ack id for the sink to acknowledge


class ReceivedMessage(NamedTuple):
    """A bus message as a source delivers it; ``ack_id`` is set when the sink must
    acknowledge it (the local durable read), None when the runner does (Dataflow)."""

    data: bytes
    attributes: dict
    ack_id: str | None = None


class Envelope(NamedTuple):
    """An event on its way through the engine; ``event=None`` is a wake-up that only
    arms the organisation's timers (after a restart, before its first new event)."""

    event: SignalEvent | None
    ack_id: str | None = None


def ack_row(ack_id: str) -> tuple[str, dict]:
    return (ACK, {"ack_id": ack_id})
