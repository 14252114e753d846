"""The sinks' writers that outlive a DoFn instance: one per process, kind and key.

Beam's local runner makes a new DoFn instance for every bundle, so a writer that batches
rows across bundles (the lake writer, the serving buffer) lives here, in the process:
that is what makes files and transactions of a sensible size. ``close_writers`` flushes
and stops them at shutdown. On Dataflow each worker process has its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, TypeVar, cast


class Writer(Protocol):
    def flush(self) -> None: ...

    def close(self) -> None: ...


W = TypeVar("W", bound=Writer)

LAKE = "lake"  # LakeWriter per lake folder
SERVING = "serving"  # ServingBuffer per app database URL
_CLOSE_ORDER = (LAKE, SERVING)  # the lake first: closing it acknowledges what became durable

# The one registry of the sinks: the local runner's DoFns live for one bundle, the writers must not.
_WRITERS: dict[tuple[str, str], Writer] = {}
_LOCK = threading.Lock()


def shared_writer(kind: str, key: str, make: Callable[[], W]) -> W:
    """This process's writer of ``kind`` for ``key``, made on first use."""
    with _LOCK:
        writer = _WRITERS.get((kind, key))
        if writer is None:
            writer = _WRITERS[(kind, key)] = make()
        return cast(W, writer)


def existing_writer(kind: str, key: str) -> Writer | None:
    with _LOCK:
        return _WRITERS.get((kind, key))


def flush_writer(lake_dir: str) -> None:
    """Make what this process buffered for the lake durable now (if it has a writer)."""
    writer = existing_writer(LAKE, lake_dir)
    if writer is not None:
        writer.flush()


def close_writers() -> None:
    """Flush and stop every writer of this process (at shutdown), the lake's first."""
    with _LOCK:
        writers = sorted(_WRITERS.items(), key=lambda item: _CLOSE_ORDER.index(item[0][0]))
        _WRITERS.clear()
    for _, writer in writers:
        writer.close()
