"""Coders for what the keyed signals steps hand each other: events and the messages
between keys (core/engine/keyed.py).

Every event crosses a shuffle twice in a backfill (by message id, then by contact), and a
runner encodes each element it shuffles or sends to another process. Left to Beam, these
objects go through its fallback, pickle, whole: a slots dataclass and NamedTuples pickle
and unpickle through copyreg's Python helpers, one call per object. Here they are taken
apart into plain tuples first, which pickle handles in C: about half the cost per element
(``bench/pipeline.py``), and exact, since pickle keeps every Python value as it is (large
integers, shared dicts: an event's ``raw`` shares its properties).

A PCollection gets these coders from its element type: ``KEYED_EVENT`` and
``KEYED_MESSAGE`` as type hints (``with_output_types``).
"""

from __future__ import annotations

import dataclasses
import operator
import pickle
from typing import Any

from apache_beam import coders

from variance.core.engine.keyed import (
    AccountCount,
    AnonymousArrival,
    AnonymousLink,
    Arrival,
    Counted,
    Rebuild,
    Recount,
)
from variance.core.events import SignalEvent

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_event_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(SignalEvent)))


def _event(fields: tuple) -> SignalEvent:
    return SignalEvent(*fields)


class SignalEventCoder(coders.Coder):
    """A SignalEvent as the tuple of its fields, pickled."""

    def encode(self, value: SignalEvent) -> bytes:
        return pickle.dumps(_event_fields(value), _PROTOCOL)

    def decode(self, encoded: bytes) -> SignalEvent:
        return SignalEvent(*pickle.loads(encoded))  # noqa: S301 - our own elements

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self):
        return SignalEvent


class KeyedMessage:
    """The type hint of a message between keys (any of core/engine/keyed.py's messages);
    it selects :class:`KeyedMessageCoder`."""


# One tag per message type; each message is encoded as (tag, plain fields).
_ANONYMOUS_ARRIVAL, _ARRIVAL, _LINK, _RECOUNT, _ACCOUNT_COUNT, _REBUILD, _OTHER = range(7)


def _plain(message: Any) -> tuple:
    kind = type(message)
    if kind is Arrival:
        return (_ARRIVAL, _event_fields(message.event), message.ack_id, tuple(message.counted), message.version)
    if kind is AnonymousArrival:
        return (_ANONYMOUS_ARRIVAL, _event_fields(message.event), message.ack_id, tuple(message.counted))
    if kind is Recount:
        fields = tuple(message)
        return (_RECOUNT, fields[:3], tuple(message.counted), fields[4:])
    if kind is AnonymousLink:
        return (_LINK, tuple(message))
    if kind is AccountCount:
        return (_ACCOUNT_COUNT, tuple(message))
    if kind is Rebuild:
        return (_REBUILD, tuple(message))
    return (_OTHER, message)  # anything else (Wake) as pickle has it


def _message(plain: tuple) -> Any:
    tag = plain[0]
    if tag == _ARRIVAL:
        return Arrival(SignalEvent(*plain[1]), plain[2], Counted(*plain[3]), plain[4])
    if tag == _ANONYMOUS_ARRIVAL:
        return AnonymousArrival(SignalEvent(*plain[1]), plain[2], Counted(*plain[3]))
    if tag == _RECOUNT:
        return Recount(*plain[1], Counted(*plain[2]), *plain[3])  # type: ignore[call-arg]  # (3 fields, counted, 4 fields)
    if tag == _LINK:
        return AnonymousLink(*plain[1])
    if tag == _ACCOUNT_COUNT:
        return AccountCount(*plain[1])
    if tag == _REBUILD:
        return Rebuild(*plain[1])
    return plain[1]


class KeyedMessageCoder(coders.Coder):
    """A message between keys as a tagged tuple of plain fields, pickled."""

    def encode(self, value: Any) -> bytes:
        return pickle.dumps(_plain(value), _PROTOCOL)

    def decode(self, encoded: bytes) -> Any:
        return _message(pickle.loads(encoded))  # noqa: S301 - our own elements

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self):
        return KeyedMessage


coders.registry.register_coder(SignalEvent, SignalEventCoder)
coders.registry.register_coder(KeyedMessage, KeyedMessageCoder)

# The element types of the keyed steps' PCollections: (key, event) and (key, message).
KEYED_EVENT = tuple[tuple[str, str], SignalEvent]
KEYED_MESSAGE = tuple[tuple[str, str], KeyedMessage]

__all__ = ["KEYED_EVENT", "KEYED_MESSAGE", "KeyedMessage", "KeyedMessageCoder", "SignalEventCoder"]
