"""Progress that does not depend on the runner's metrics (the local runner reports them
only at the end): counters shared by the sources and sinks of this process, a periodic
one-line report, and a state file that says what the running pipeline is doing.

The state file (``pipeline-state.json`` in ``VARIANCE_DATA_DIR``) is how the demo, the
tests and the benchmarks know the pipeline is ready, or has processed what they sent,
without reading its log: ``{"pid", "phase", "updated_at", "counts"}``, where ``phase``
is one of ``PHASES`` and ``counts`` holds the counters below (``acked``: messages
acknowledged, so durable in the warehouse). It is replaced atomically (a temporary file
renamed over it), so a reader sees a whole state or the previous one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from variance.core.vocabulary import WarehouseTable

log = logging.getLogger("variance.progress")

_COUNTS: Counter[str] = Counter()
_LOCK = threading.Lock()
_LAG: dict[str, float] = {}


# Counters across processes: a runner may run steps in worker processes of its own
# (FnApiRunner's multi_processing), whose counters the command showing progress cannot
# see. With SHARED_DIR_ENV set (workers inherit the environment), each process also
# writes its counters to a file of its own there, at most every SHARE_EVERY_S seconds,
# and ``combined`` sums them.
SHARED_DIR_ENV = "VARIANCE_PROGRESS_DIR"
SHARE_EVERY_S = 0.2
_share: dict = {}


def add(name: str, n: int = 1) -> None:
    with _LOCK:
        _COUNTS[name] += n
        if _share.get("next_at", 0.0) <= time.monotonic():
            _share_counts()


def _share_counts() -> None:
    """Under _LOCK: this process's counters to its file in the shared directory, if any."""
    directory = _share.setdefault("dir", os.environ.get(SHARED_DIR_ENV))
    if not directory:
        _share["next_at"] = float("inf")
        return
    _share["next_at"] = time.monotonic() + SHARE_EVERY_S
    path = Path(directory) / f"{os.getpid()}.json"
    temporary = path.with_suffix(".tmp")
    try:
        temporary.write_text(json.dumps(dict(_COUNTS)))
        os.replace(temporary, path)
    except OSError as exc:  # progress only: never fail the work for it
        log.debug("cannot share progress counters in %s (%s)", directory, exc)


def flush_shared() -> None:
    """Write this process's counters for the others now (at the end of a bundle)."""
    with _LOCK:
        _share["next_at"] = 0.0
        _share_counts()


def share_with_workers(directory: Path | str) -> None:
    """Have this process and the worker processes it starts from now on share their
    counters through ``directory`` (see ``combined``)."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    os.environ[SHARED_DIR_ENV] = str(directory)
    with _LOCK:
        _share.clear()


def combined() -> dict[str, int]:
    """This process's counters plus those the other processes shared."""
    total = Counter(snapshot())
    directory = os.environ.get(SHARED_DIR_ENV)
    if directory:
        for path in Path(directory).glob("*.json"):
            if path.stem == str(os.getpid()):
                continue
            try:
                total.update(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # replaced while read: the next look sees it
    return dict(total)


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
    written = {table: counts.get(table.value, 0) for table in WarehouseTable}
    return (
        f"events in {counts.get('received', 0)}, events written {written[WarehouseTable.events]}, "
        f"dead letters {written[WarehouseTable.dead_letters]}, "
        f"milestone changes {written[WarehouseTable.milestone_changes]}, "
        f"matches {written[WarehouseTable.stream_matches]}, acked {counts.get('acked', 0)}, lag {lag}"
    )


STATE_FILE = "pipeline-state.json"
# starting: migrating, reaching Pub/Sub; restoring: rebuilding state from the warehouse
# (local runner); running: reading messages; stopping: draining after SIGINT/SIGTERM;
# stopped: everything flushed and acknowledged; failed: the runner stopped by itself.
PHASES = ("starting", "restoring", "running", "stopping", "stopped", "failed")


def state_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / STATE_FILE


@dataclass(frozen=True)
class PipelineState:
    """One snapshot of the state file."""

    pid: int
    phase: str
    updated_at: float
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def acked(self) -> int:
        """Messages acknowledged by this process: their rows are durable in the warehouse."""
        return self.counts.get("acked", 0)

    @property
    def received(self) -> int:
        return self.counts.get("received", 0)


def read_state(path: Path | str) -> PipelineState | None:
    """The last state written, or None when there is none (yet)."""
    try:
        data = json.loads(Path(path).read_text())
        return PipelineState(int(data["pid"]), str(data["phase"]), float(data["updated_at"]), dict(data["counts"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class StateFile:
    """Writes this process's phase and counters to the state file; thread-safe."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._phase: str | None = None
        self._lock = threading.Lock()

    def set(self, phase: str) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown pipeline phase {phase!r}; one of {', '.join(PHASES)}")
        with self._lock:
            self._phase = phase
            self._write(phase)

    def refresh(self) -> None:
        """Rewrite the current phase with the counters as they are now."""
        with self._lock:
            if self._phase is not None:
                self._write(self._phase)

    def _write(self, phase: str) -> None:
        state = {"pid": os.getpid(), "phase": phase, "updated_at": time.time(), "counts": snapshot()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(state))
        os.replace(temporary, self.path)


class Reporter:
    """Logs ``line()`` every ``every_s`` seconds until stopped, and refreshes the state
    file (if given) every ``state_every_s`` seconds, so waiters see counters move."""

    def __init__(self, every_s: float = 10.0, state: StateFile | None = None, state_every_s: float = 0.25):
        self._every = every_s
        self._state = state
        self._tick = min(every_s, state_every_s) if state is not None else every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def start(self) -> Reporter:
        self._thread.start()
        return self

    def _run(self) -> None:
        next_line = time.monotonic() + self._every
        while not self._stop.wait(self._tick):
            if self._state is not None:
                try:
                    self._state.refresh()
                except OSError as exc:
                    log.warning("cannot write the pipeline state file (%s)", exc)
            if time.monotonic() >= next_line:
                next_line = time.monotonic() + self._every
                log.info("progress: %s", line())

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        log.info("progress: %s", line())
