"""The local stack: Google's Pub/Sub emulator, ``variance api``, ``variance pipeline`` and
``variance slack sender`` on free ports, all data in one folder; what ``make demo``, the end-to-end tests and the
streaming benchmarks run.

    with LocalStack(workdir) as stack:
        stack.start_emulator()
        workspace = Workspace.create(stack.env, "Acme")   # variance.samples.workspace
        stack.start_api()
        stack.start_pipeline()
        ...

The pipeline only records Slack posts in the app database's outbox; ``start_pipeline``
also starts the Slack sender that posts them (or writes the local outbox file), unless one
is running. ``stop()`` (or leaving the ``with``) stops what this stack started, newest
first: the sender, the pipeline, the API, then the emulator unless it was handed in (a test session shares one
emulator; the topic and subscription names of each stack are its own).

A stack can outlive the program that started it (``make demo KEEP=1``): ``save_state``
writes what runs (each process's id, start time, URL and log) to a JSON file, and
``stop_recorded`` (``make down``) reads it back and stops each process group by its id,
newest first, only if it is still the process that was recorded (its start time since
boot matches, so a reused id is left alone).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from pathlib import Path

from variance.clients.emulator import Emulator, free_port, start_emulator
from variance.stack.processes import (
    ApiProcess,
    PipelineProcess,
    Process,
    ProcessError,
    start,
    start_api,
    start_pipeline,
)


class SenderProcess(Process):
    """``variance slack sender`` with its ``/healthz`` on ``port``."""

    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        import httpx

        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


def start_sender(env: dict[str, str], log_path: Path, timeout: float = 60) -> SenderProcess:
    """``variance slack sender`` on a free port; returns once it answers ``/healthz``."""
    port = free_port()
    started = start("the Slack sender", ["slack", "sender", "--port", str(port)], env, log_path)
    sender = SenderProcess(started.name, started.process, log_path)
    sender.port = port
    try:
        sender.wait_until(sender.healthy, timeout, "before answering /healthz")
    except ProcessError:
        sender.stop()
        raise
    return sender


class LocalStack:
    def __init__(self, workdir: Path, *, emulator: Emulator | None = None, env: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        suffix = uuid.uuid4().hex[:8]
        self.env: dict[str, str] = {
            "VARIANCE_DATA_DIR": str(self.workdir / "data"),
            "VARIANCE_EVENTS_TOPIC": f"events-{suffix}",
            "VARIANCE_EVENTS_SUBSCRIPTION": f"pipeline-{suffix}",
            **(env or {}),
        }
        self.emulator: Emulator | None = None
        self._owns_emulator = False
        self.api: ApiProcess | None = None
        self.pipeline: PipelineProcess | None = None
        self.sender: SenderProcess | None = None
        self._pipelines = 0
        if emulator is not None:
            self.use_emulator(emulator)

    # -- where things are ---------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return Path(self.env["VARIANCE_DATA_DIR"])

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "slack-outbox.jsonl"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "variance.db"

    # -- starting -----------------------------------------------------------------------

    def use_emulator(self, emulator: Emulator) -> Emulator:
        self.emulator = emulator
        self.env["PUBSUB_EMULATOR_HOST"] = emulator.emulator_host
        return emulator

    def start_emulator(self, port: int | None = None) -> Emulator:
        """An emulator this stack owns (and stops); raises EmulatorError if it cannot run."""
        emulator = start_emulator(port or free_port(), log_path=self.workdir / "emulator.log")
        self._owns_emulator = True
        return self.use_emulator(emulator)

    def start_api(self, *extra_args: str, port: int | None = None) -> ApiProcess:
        """``variance api`` on ``port`` (when links must name it: set ``VARIANCE_PUBLIC_URL``
        to match first), else on a free one."""
        if port is None:
            self.api = start_api(self.env, self.workdir / "api.log", list(extra_args))
            return self.api
        log_path = self.workdir / "api.log"
        started = start("the API", ["api", "--port", str(port), *extra_args], self.env, log_path)
        api = ApiProcess(started.name, started.process, log_path, port)
        try:
            api.wait_until(api.healthy, 60, "before answering /healthz")
        except ProcessError:
            api.stop()
            raise
        self.api = api
        return api

    def start_pipeline(self, progress_every: float = 2) -> PipelineProcess:
        """A pipeline process; the previous one, if any, must be stopped first. Each
        process logs to its own file (``pipeline.log``, ``pipeline-1.log``, ...)."""
        if self.pipeline is not None and self.pipeline.alive():
            raise RuntimeError("a pipeline of this stack is still running: stop or kill it first")
        name = "pipeline.log" if self._pipelines == 0 else f"pipeline-{self._pipelines}.log"
        self._pipelines += 1
        self.pipeline = start_pipeline(self.env, self.workdir / name, progress_every=progress_every)
        if self.sender is None or not self.sender.alive():
            self.start_sender()
        return self.pipeline

    def start_sender(self) -> SenderProcess:
        """The Slack sender (one per stack: it alone keeps each channel's rate)."""
        if self.sender is not None and self.sender.alive():
            raise RuntimeError("the Slack sender of this stack is still running: stop it first")
        self.sender = start_sender(self.env, self.workdir / "slack-sender.log")
        return self.sender

    # -- stopping -----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop what this stack started, newest first; safe to call twice."""
        try:
            try:
                if self.sender is not None:
                    self.sender.stop()
            finally:
                if self.pipeline is not None:
                    self.pipeline.stop()
        finally:
            try:
                if self.api is not None:
                    self.api.stop()
            finally:
                if self.emulator is not None and self._owns_emulator:
                    self.emulator.stop()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


# -- outliving the program that started it (make demo KEEP=1, make down) ---------------------


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def process_start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot: with the id, it names one process."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def group_members(pgid: int) -> list[int]:
    """Live processes (zombies left out: they hold nothing) in process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        fields = _proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _stop_group(pgid: int, timeout: float) -> str:
    """SIGTERM to the group, SIGKILL to whatever is left after ``timeout`` s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not group_members(pgid):
        return "stopped"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return "killed" if not group_members(pgid) else "still running"


def _recorded(name: str, pid: int, **about: str) -> dict:
    return {"name": name, "pid": pid, "start_time": process_start_time(pid), **about}


class RecordedStack:
    """What ``save_state`` wrote: the processes of a stack, oldest first."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.record: dict = json.loads(self.path.read_text())

    @property
    def processes(self) -> list[dict]:
        return self.record["processes"]

    def running(self) -> list[dict]:
        """Recorded process groups with a live member: the leader as itself (same id, same
        start time), or children left by a leader that died (Linux reuses no id while a
        group of that id has members, so they are the recorded group's)."""
        return [
            p
            for p in self.processes
            if group_members(p["pid"]) and process_start_time(p["pid"]) in (p["start_time"], None)
        ]


def save_state(stack: LocalStack, path: Path, **extra: object) -> Path:
    """Write what ``stack`` runs to ``path`` (JSON, replaced whole), with ``extra`` facts."""
    processes = []
    if stack.emulator is not None and stack._owns_emulator:
        processes.append(_recorded("the Pub/Sub emulator", stack.emulator.pid, host=stack.emulator.emulator_host))
    if stack.api is not None:
        processes.append(_recorded(stack.api.name, stack.api.pid, url=stack.api.url, log=str(stack.api.log_path)))
    if stack.pipeline is not None:
        processes.append(_recorded(stack.pipeline.name, stack.pipeline.pid, log=str(stack.pipeline.log_path)))
    if stack.sender is not None:
        processes.append(_recorded(stack.sender.name, stack.sender.pid, log=str(stack.sender.log_path)))
    record = {"workdir": str(stack.workdir), "data_dir": str(stack.data_dir), "processes": processes, **extra}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    temporary.replace(path)
    return path


def stop_recorded(path: Path, timeout: float = 30) -> list[tuple[str, int, str]]:
    """Stop the processes ``save_state`` recorded in ``path``, newest first, each by its
    process group; returns (name, pid, what happened) and removes the file."""
    recorded = RecordedStack(path)
    alive = {p["pid"] for p in recorded.running()}
    outcome = []
    for process in reversed(recorded.processes):
        if process["pid"] not in alive:
            outcome.append((process["name"], process["pid"], "already gone"))
            continue
        outcome.append((process["name"], process["pid"], _stop_group(process["pid"], timeout)))
    if all(what != "still running" for _, _, what in outcome):
        recorded.path.unlink()
    return outcome
