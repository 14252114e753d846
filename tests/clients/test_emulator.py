"""Starting and stopping Google's Pub/Sub emulator by PID, and the errors users see."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from google.cloud import pubsub_v1

from variance.clients import emulator as emulator_module
from variance.clients.emulator import EmulatorError, free_port, listens_on, port_answers, start_emulator


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it has exited all the same
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_starts_answers_and_stops_without_orphans(monkeypatch):
    emulator = start_emulator(free_port())
    try:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.emulator_host)
        topic = pubsub_v1.PublisherClient().create_topic(name="projects/variance-test/topics/started")
        assert topic.name == "projects/variance-test/topics/started"
    finally:
        emulator.stop()
    assert emulator.process.returncode is not None
    assert not _alive(emulator.pid)


def test_port_taken_is_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(
            EmulatorError, match=f"port {port} on 127.0.0.1 is already in use; choose another with --port"
        ):
            start_emulator(port)


def test_a_port_taken_after_the_check_is_still_a_clear_error(monkeypatch):
    """The port was free when checked, somebody else listens by the time the JVM binds:
    the answering port is not the emulator's, so it is an error, not a false start."""
    monkeypatch.setattr(emulator_module, "port_is_free", lambda port, host="127.0.0.1": True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(EmulatorError, match=f"port {port} on 127.0.0.1 is already in use"):
            start_emulator(port)


def test_ready_means_the_emulators_own_process_listens():
    emulator = start_emulator(free_port())
    try:
        assert port_answers(emulator.port)
        assert listens_on(emulator.pid, emulator.port) is True
        assert listens_on(os.getpid(), emulator.port) is False
    finally:
        emulator.stop()
    assert not port_answers(emulator.port)


def test_missing_emulator_says_how_to_install(monkeypatch):
    monkeypatch.setenv("VARIANCE_PUBSUB_EMULATOR_JAR", "/nonexistent/emulator.jar")
    with pytest.raises(
        EmulatorError, match=re.escape("VARIANCE_PUBSUB_EMULATOR_JAR points to /nonexistent/emulator.jar")
    ):
        start_emulator(free_port())


def test_missing_java_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # gcloud and java both gone
    monkeypatch.setenv("CLOUDSDK_ROOT_DIR", "/usr/lib/google-cloud-sdk")
    with pytest.raises(EmulatorError, match="Java was not found"):
        start_emulator(free_port())


def test_cli_runs_in_foreground_and_stops_on_sigterm():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "variance", "emulator", "pubsub", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = process.stderr.readline()
        assert f"export PUBSUB_EMULATOR_HOST=127.0.0.1:{port}" in line
        jvm_pid = int(line.split("(pid ")[1].split(")")[0])
        assert _alive(jvm_pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        deadline = time.monotonic() + 10
        while _alive(jvm_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(jvm_pid), "the emulator's JVM outlived the command"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def test_cli_port_taken_is_one_line_and_nonzero():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "variance", "emulator", "pubsub", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr == f"error: port {port} on 127.0.0.1 is already in use; choose another with --port\n"
