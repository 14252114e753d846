"""How a key's state is kept in Beam state.

Beam state holds encoded values. On a distributed runner (Dataflow) each key's state is
encoded as the plain data of its ``to_state`` (PlainStateCoder): small, because a key
holds one entity's recent work. Beam's local runners keep all state in process memory
anyway and lose it on restart (the pipeline rebuilds it from the warehouse), so there the
coder stores a reference to the live object (InProcessReferenceCoder) and an element does
not pay for decoding and encoding its key's state.
"""

from __future__ import annotations

import itertools
import pickle
import threading
from typing import Any

from apache_beam.coders import Coder

# The local runner "encodes" each engine as a token naming the live object here: its
# state never leaves the process, so pickling a whole engine per event would be waste.
_OBJECTS: dict[int, object] = {}
_TOKENS = itertools.count(1)
_LOCK = threading.Lock()


class InProcessReferenceCoder(Coder):
    """Encodes an object as a token naming it in this process. Only for runners that run
    every step in one process (Beam's local runners)."""

    def encode(self, value: object) -> bytes:
        token = getattr(value, "_beam_state_token", None)
        with _LOCK:
            if token is None or _OBJECTS.get(token) is not value:
                token = next(_TOKENS)
                value._beam_state_token = token  # type: ignore[attr-defined]
            _OBJECTS[token] = value
        return token.to_bytes(8, "big")

    def decode(self, encoded: bytes) -> object:
        with _LOCK:
            return _OBJECTS[int.from_bytes(encoded, "big")]

    def is_deterministic(self) -> bool:
        return False


class PlainStateCoder(Coder):
    """A key's state as the plain data its ``to_state`` gives (ints, strings, tuples,
    dicts), pickled: what a distributed runner stores per key, small because each key
    holds one entity's recent work."""

    def __init__(self, state_class: Any):
        self.state_class = state_class

    def encode(self, value) -> bytes:
        return pickle.dumps(value.to_state(), protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, encoded: bytes):
        return self.state_class.from_state(pickle.loads(encoded))  # noqa: S301 - our own state

    def is_deterministic(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.state_class is self.state_class  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.state_class))


def key_state_coder(in_process: bool, state_class: type) -> Coder:
    """In process on Beam's local runners (state never leaves the process there, so an
    element does not pay for encoding its key's state); encoded everywhere else."""
    return InProcessReferenceCoder() if in_process else PlainStateCoder(state_class)
