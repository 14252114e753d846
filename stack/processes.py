"""The ``variance`` command as real processes, for ``make demo``, the tests and the
benchmarks: the API on a free port, the streaming pipeline, and one-shot commands.

Each long-running process starts in a session (process group) of its own and is stopped
by that group: SIGTERM, SIGKILL if it lingers, then SIGKILL to anything of the group
still alive, so a stop leaves no child behind and suites can run side by side. Readiness
comes from what the process serves, never from its log: the API from ``/healthz`` on a
port it holds, the pipeline from its state file (``variance.pipelines.progress``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from variance.clients.emulator import free_port, listens_on
from variance.core.settings import Settings
from variance.pipelines.progress import PipelineState, read_state, state_path

VARIANCE = [sys.executable, "-m", "variance"]
T = TypeVar("T")


class ProcessError(RuntimeError):
    """A process exited, or did not become ready in time; the message ends with its log."""


class CommandFailed(RuntimeError):
    """A one-shot ``variance`` command exited non-zero; the message is its error line."""


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


@dataclass
class Process:
    """A ``variance`` process in its own process group, with its output in ``log_path``."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM to the group, as a Ctrl-C or a supervisor would; SIGKILL after
        ``timeout`` s. Returns the exit code (negative: killed by that signal)."""
        if self.alive():
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.process.wait(10)
        self._reap_group()
        return self.process.returncode

    def kill(self) -> None:
        """kill -9 of the whole group: no chance to flush or acknowledge anything."""
        if self.alive():
            _signal_group(self.pid, signal.SIGKILL)
            self.process.wait(10)
        self._reap_group()

    def _reap_group(self) -> None:
        """Children that outlived the leader (a JVM, a worker) go with it."""
        if _group_alive(self.pid):
            _signal_group(self.pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while _group_alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def wait_until(
        self, check: Callable[[], T], timeout: float, what: str | Callable[[], str], every: float = 0.1
    ) -> T:
        """Poll ``check`` until it returns something truthy; fails at once if the process
        exits, and after ``timeout`` s, saying ``what`` was awaited (a callable is asked
        then, so it can describe the last state) and ending with the log's tail."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if not self.alive():
                raise ProcessError(f"{self.name} exited with {self.process.returncode} {_text(what)}:\n{self._tail()}")
            if time.monotonic() >= deadline:
                raise ProcessError(f"{self.name}: timed out after {timeout:.0f} s {_text(what)}:\n{self._tail()}")
            time.sleep(every)

    def _tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def _text(what: str | Callable[[], str]) -> str:
    return what if isinstance(what, str) else what()


def start(name: str, args: list[str], env: dict[str, str], log_path: Path) -> Process:
    """``variance ARGS`` in a new session, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [*VARIANCE, *args],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name, process, log_path)


def run_cli(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    """A one-shot ``variance`` command; with ``check``, a non-zero exit raises CommandFailed."""
    result = subprocess.run([*VARIANCE, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise CommandFailed(f"variance {' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}")
    return result


# -- the API ----------------------------------------------------------------------------


@dataclass
class ApiProcess(Process):
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        """``/healthz`` answers 200 on a port this process holds (not somebody else's)."""
        try:
            answered = httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
        return answered and listens_on(self.pid, self.port) is not False


def start_api(
    env: dict[str, str], log_path: Path, extra_args: list[str] | None = None, timeout: float = 60
) -> ApiProcess:
    """``variance api`` on a free port; returns once it answers ``/healthz``."""
    port = free_port()
    started = start("the API", ["api", "--port", str(port), *(extra_args or [])], env, log_path)
    api = ApiProcess(started.name, started.process, log_path, port)
    try:
        api.wait_until(api.healthy, timeout, "before answering /healthz")
    except ProcessError:
        api.stop()
        raise
    return api


# -- the streaming pipeline ---------------------------------------------------------------


@dataclass
class PipelineProcess(Process):
    state_file: Path = field(default_factory=Path)

    def state(self) -> PipelineState | None:
        """This process's last state (a state left by an earlier pipeline does not count)."""
        state = read_state(self.state_file)
        return state if state is not None and state.pid == self.pid else None

    def wait_for_phase(self, phase: str, timeout: float = 120) -> PipelineState:
        return self.wait_until(
            lambda: (s := self.state()) is not None and s.phase == phase and s, timeout, f"before phase {phase!r}"
        )

    def wait_until_acked(self, messages: int, timeout: float = 60) -> PipelineState:
        """Until this process has acknowledged ``messages`` messages: each one's rows are
        durable in the warehouse, duplicates included (they are acknowledged too)."""
        return self.wait_until(
            lambda: (s := self.state()) is not None and s.acked >= messages and s,
            timeout,
            lambda: f"before acknowledging {messages} messages (last state {self.state()})",
        )

    def wait_until_drained(self, timeout: float = 60) -> PipelineState:
        """Until this process has acknowledged every message it pulled: nothing it read
        is still in flight inside it."""
        return self.wait_until(
            lambda: (s := self.state()) is not None and s.phase == "running" and s.acked >= s.received and s,
            timeout,
            lambda: f"before acknowledging what it pulled (last state {self.state()})",
        )


def pipeline_state_file(env: dict[str, str]) -> Path:
    """Where the pipeline started with ``env`` keeps its state file."""
    return state_path(Settings(**env).data_dir)


def start_pipeline(
    env: dict[str, str], log_path: Path, timeout: float = 120, progress_every: float = 2
) -> PipelineProcess:
    """``variance pipeline``; returns once it reads messages (its state is restored)."""
    started = start("the pipeline", ["pipeline", "--progress-every", str(progress_every)], env, log_path)
    pipeline = PipelineProcess(started.name, started.process, log_path, pipeline_state_file(env))
    try:
        pipeline.wait_for_phase("running", timeout)
    except ProcessError:
        pipeline.kill()
        raise
    return pipeline
