"""The pipeline's state file: what the demo, the tests and the benchmarks wait on instead
of its log. Replaced whole (never half-written), refreshed with the counters."""

from __future__ import annotations

import json
import os
import threading

import pytest

from tests.support.waiting import wait_for
from variance.pipelines import progress
from variance.pipelines.progress import Reporter, StateFile, read_state, state_path


def test_a_phase_is_written_with_the_pid_and_the_counters(tmp_path):
    path = state_path(tmp_path)
    assert path == tmp_path / "pipeline-state.json"
    before = progress.snapshot().get("acked", 0)
    progress.add("acked", 3)
    StateFile(path).set("restoring")
    state = read_state(path)
    assert (state.pid, state.phase, state.acked) == (os.getpid(), "restoring", before + 3)
    assert set(json.loads(path.read_text())) == {"pid", "phase", "updated_at", "counts"}


def test_no_state_or_a_broken_one_reads_as_none(tmp_path):
    assert read_state(tmp_path / "missing.json") is None
    (tmp_path / "broken.json").write_text('{"pid": 1, "pha')
    assert read_state(tmp_path / "broken.json") is None


def test_an_unknown_phase_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown pipeline phase 'ready'"):
        StateFile(state_path(tmp_path)).set("ready")


def test_readers_never_see_a_half_written_state(tmp_path):
    path = state_path(tmp_path)
    state = StateFile(path)
    state.set("running")
    seen: list = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(read_state(path))

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(300):
        progress.add("received")
        state.refresh()
    stop.set()
    reader.join()
    assert seen and None not in seen
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_reporter_refreshes_the_counters_while_running(tmp_path):
    path = state_path(tmp_path)
    state = StateFile(path)
    state.set("running")
    reporter = Reporter(every_s=3600, state=state, state_every_s=0.05).start()
    try:
        target = progress.snapshot().get("acked", 0) + 5
        progress.add("acked", 5)
        wait_for(lambda: (s := read_state(path)) and s.acked >= target, timeout=30, what="the new count in the file")
        state.set("stopped")
    finally:
        reporter.stop()
    assert read_state(path).phase == "stopped"  # the reporter keeps the phase it was given


def test_counters_of_worker_processes_reach_the_command_through_the_shared_directory(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv(progress.SHARED_DIR_ENV, "")  # restored after the test
    monkeypatch.setattr(progress, "_share", {})
    progress.share_with_workers(tmp_path / "shared")
    before = progress.snapshot().get("lines", 0)
    worker = "from variance.pipelines import progress\nprogress.add('lines', 5)\nprogress.add('lines', 2)\n"
    subprocess.run([sys.executable, "-c", worker + "progress.flush_shared()"], check=True)
    subprocess.run([sys.executable, "-c", worker], check=True)  # its first add is shared at once
    progress.add("lines", 1)
    assert progress.combined()["lines"] == before + 1 + 7 + 5
    assert len(list((tmp_path / "shared").glob("*.json"))) == 3  # this process's file too, counted once


def test_without_a_shared_directory_counters_stay_in_the_process(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.SHARED_DIR_ENV, raising=False)
    monkeypatch.setattr(progress, "_share", {})
    progress.add("lines", 1)
    assert progress.combined() == progress.snapshot()
