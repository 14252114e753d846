"""The coders of events and messages between keys: exact round trips, chosen by Beam from
the element types of the keyed batch steps."""

from __future__ import annotations

import pickle

import apache_beam as beam
from apache_beam.coders import registry
from apache_beam.typehints.native_type_compatibility import convert_to_beam_type

from tests.support import events as ev
from variance.core.engine.keyed import (
    AccountCount,
    AnonymousArrival,
    AnonymousLink,
    Arrival,
    Counted,
    Rebuild,
    Recount,
    Wake,
)
from variance.transforms.message_coders import (
    KEYED_EVENT,
    KEYED_MESSAGE,
    KeyedMessageCoder,
    SignalEventCoder,
)
from variance.transforms.signals_batch import ComputeSignalsBatch

EVENT = ev.event(
    "track",
    "m1",
    1_714_521_600_000_000,
    user="u1",
    anon="a1",
    group="acme",
    name="Invited User",
    properties={"role": "admin", "n": 2**70, "nested": {"list": [1, 2.5, None, True]}, 3: "int key"},
)
MESSAGES = [
    Arrival(EVENT, "ack-1", Counted(("mil_a",), ("mil_b", "mil_c")), 1),
    Arrival(EVENT, None, Counted(), 0),
    AnonymousArrival(EVENT, None, Counted(("mil_a",), ())),
    AnonymousLink("u1", 17, "m2"),
    Recount("m1", 17, "acme", Counted((), ("mil_b",)), 2, False, "Action", "Invited User"),
    Recount("m1", 17, None, Counted(), 0, True),
    AccountCount("m1", "u1", 17, ("mil_b",), (1, 3), True),
    Rebuild("mil_a", (1, 2, 3), 99),
    Wake(),
]


def test_every_message_comes_back_equal_and_of_its_type():
    coder = KeyedMessageCoder()
    for message in MESSAGES:
        back = coder.decode(coder.encode(message))
        assert back == message and type(back) is type(message)
        if hasattr(message, "event"):
            assert type(back.event) is type(EVENT) and back.event.properties["n"] == 2**70
        if hasattr(message, "counted"):
            assert type(back.counted) is Counted


def test_an_event_comes_back_equal_and_its_raw_still_shares_its_properties():
    shared = ev.event("identify", "i1", 5, user="u1", traits={"plan": "pro"})
    shared.raw = {"traits": shared.traits}
    coder = SignalEventCoder()
    back = coder.decode(coder.encode(shared))
    assert back == shared
    assert back.raw["traits"] is back.traits  # pickled once, as the object was
    assert len(coder.encode(EVENT)) < len(pickle.dumps(EVENT, pickle.HIGHEST_PROTOCOL))


def test_beam_chooses_them_from_the_element_types():
    event_coder = registry.get_coder(convert_to_beam_type(KEYED_EVENT))
    message_coder = registry.get_coder(convert_to_beam_type(KEYED_MESSAGE))
    assert [type(c).__name__ for c in event_coder._coders] == ["TupleCoder", "SignalEventCoder"]
    assert [type(c).__name__ for c in message_coder._coders] == ["TupleCoder", "KeyedMessageCoder"]

    p = beam.Pipeline()
    events = p | beam.Create([("org_a", EVENT)]).with_output_types(tuple[str, type(EVENT)])
    events | "Signals" >> ComputeSignalsBatch(lambda org: ev.config(), 1, 2)
    shuffled = {}
    for transform in p.transforms_stack[0].parts[-1].parts:
        if transform.full_label.split("/")[-1].startswith("Group"):
            shuffled[transform.full_label.split("/")[-1]] = registry.get_coder(
                transform.inputs[0].element_type
            )._coders[1]
    assert {name: type(c).__name__ for name, c in shuffled.items()} == {
        "GroupMessages": "SignalEventCoder",
        "GroupAnonymous": "KeyedMessageCoder",
        "GroupContacts": "KeyedMessageCoder",
        "GroupAccounts": "KeyedMessageCoder",
    }
