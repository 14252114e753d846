"""Progress that does not depend on the runner's metrics (the local runner reports them
only at the end): counters shared by the sources and sinks of this process, and a
periodic one-line report."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

log = logging.getLogger("variance.progress")

_COUNTS: Counter[str] = Counter()
_LOCK = threading.Lock()
_LAG: dict[str, float] = {}


def add(name: str, n: int = 1) -> None:
    with _LOCK:
        _COUNTS[name] += n


def observe_event_time(event_time_us: int) -> None:
    """The newest event time written; lag is how far it trails the wall clock."""
    with _LOCK:
        _LAG["newest"] = max(_LAG.get("newest", 0.0), event_time_us / 1e6)


def snapshot() -> dict[str, int]:
    with _LOCK:
        return dict(_COUNTS)


def line() -> str:
    counts = snapshot()
    with _LOCK:
        newest = _LAG.get("newest")
    lag = f"{max(0.0, time.time() - newest):.1f}s" if newest else "-"
    return (
        f"events in {counts.get('received', 0)}, events written {counts.get('events', 0)}, "
        f"dead letters {counts.get('dead_letters', 0)}, milestone changes {counts.get('milestone_changes', 0)}, "
        f"matches {counts.get('stream_matches', 0)}, acked {counts.get('acked', 0)}, lag {lag}"
    )


class Reporter:
    """Logs ``line()`` every ``every_s`` seconds until stopped."""

    def __init__(self, every_s: float = 10.0):
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def start(self) -> Reporter:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            log.info("progress: %s", line())

    def stop(self) -> None:
        self._stop.set()
        log.info("progress: %s", line())
