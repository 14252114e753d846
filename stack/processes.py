"""Real processes for tests: the API (through the ``variance`` command) on a free
port, stopped by PID so suites can run side by side and leave nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from variance.clients.emulator import free_port

VARIANCE = [sys.executable, "-m", "variance"]


@dataclass
class ApiProcess:
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def start_api(
    env: dict[str, str], log_path: Path, extra_args: list[str] | None = None, timeout: float = 60
) -> ApiProcess:
    port = free_port()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [*VARIANCE, "api", "--port", str(port), *(extra_args or [])],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = ApiProcess(process, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}:\n{api.log()}")
        try:
            if httpx.get(api.url + "/healthz", timeout=1).status_code == 200:
                return api
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    api.stop()
    raise RuntimeError(f"the API did not answer within {timeout} s:\n{api.log()}")


def run_cli(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*VARIANCE, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"variance {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


@dataclass
class PipelineProcess:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a user's Ctrl-C or a supervisor would; returns the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode

    def kill(self) -> None:
        """kill -9: no chance to flush or acknowledge anything."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def start_pipeline(
    env: dict[str, str], log_path: Path, wait_for: str = "streaming from", timeout: float = 120
) -> PipelineProcess:
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [*VARIANCE, "pipeline", "--progress-every", "2"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pipeline = PipelineProcess(process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the pipeline exited with {process.returncode}:\n{pipeline.log()}")
        if wait_for in pipeline.log():
            return pipeline
        time.sleep(0.2)
    pipeline.kill()
    raise RuntimeError(f"the pipeline did not start within {timeout} s:\n{pipeline.log()}")
