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
"""

from __future__ import annotations

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

    def start_api(self, *extra_args: str) -> ApiProcess:
        self.api = start_api(self.env, self.workdir / "api.log", list(extra_args))
        return self.api

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
