"""What flows between the source, the transforms and the sinks, and the names of the
transforms' tagged outputs (``with_outputs``): each output carries one kind of element,
so no sink filters by a name carried inside the element."""

from __future__ import annotations

from typing import NamedTuple

from variance.core.events import SignalEvent
from variance.core.rows import ACTIVITY as ACTIVITY_ROWS
from variance.core.vocabulary import WarehouseTable
from variance.core.warehouse import Row

# Tagged outputs. An output that carries one table's rows (or the events bound for it) is
# named after that table.
EVENTS = WarehouseTable.events.value  # parsed events, keyed by organisation
DEAD_LETTERS = WarehouseTable.dead_letters.value  # dead-letter rows, ``(table, row)``
ROWS = "rows"  # warehouse rows of every table, ``(table, row)``
ACTIVITY = ACTIVITY_ROWS  # the engine's activity rows (dicts), for the daily activity counts
ACKS = "acks"  # Ack elements: an ack id with the rows to make durable before acknowledging it


class ReceivedMessage(NamedTuple):
    """A bus message as a source delivers it; ``ack_id`` is set when the sink must
    acknowledge it (the local durable read), None when the runner does (Dataflow)."""

    data: bytes
    attributes: dict
    ack_id: str | None = None


class Ack(NamedTuple):
    """A message to acknowledge, with the warehouse rows it produced (those rows travel
    here, not on the rows output). The lake writer acknowledges it once they are durable.

    One element, because Beam orders nothing across PCollections: on an output of its
    own, an ack could reach the writer before its rows (measured on the local runner),
    and a crash between the two would lose them."""

    ack_id: str
    rows: tuple[Row, ...] = ()


class Envelope(NamedTuple):
    """An event on its way through the engine; ``event=None`` is a wake-up that only
    arms the organisation's timers (after a restart, before its first new event)."""

    event: SignalEvent | None
    ack_id: str | None = None
