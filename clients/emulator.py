"""Google's Pub/Sub emulator (from the Google Cloud CLI), started and stopped by PID.

We run the emulator's jar with ``java`` directly rather than through
``gcloud beta emulators pubsub start``: a signal to gcloud leaves its JVM orphaned,
while a JVM we started ourselves stops cleanly on SIGTERM. The same code serves
``variance emulator pubsub``, ``make demo`` and the test fixtures.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "install the Google Cloud CLI and its Pub/Sub emulator: "
    "`gcloud components install pubsub-emulator`, or on Debian/Ubuntu "
    "`apt-get install google-cloud-cli-pubsub-emulator`"
)
_SDK_ROOTS = (
    "/usr/lib/google-cloud-sdk",
    "/usr/share/google-cloud-sdk",
    "/opt/google-cloud-sdk",
    "/usr/local/google-cloud-sdk",
    "~/google-cloud-sdk",
    "/snap/google-cloud-cli/current",
    "/opt/homebrew/share/google-cloud-sdk",
    "/usr/local/Caskroom/google-cloud-sdk/latest/google-cloud-sdk",
)
_JAR_GLOB = "platform/pubsub-emulator/lib/cloud-pubsub-emulator-*-all.jar"


class EmulatorError(RuntimeError):
    """The emulator cannot run here; the message says why and what to do."""


def _sdk_roots() -> list[Path]:
    roots = []
    for env in ("CLOUDSDK_ROOT_DIR", "CLOUD_SDK_ROOT"):
        if os.environ.get(env):
            roots.append(Path(os.environ[env]))
    gcloud = shutil.which("gcloud")
    if gcloud:
        # .../google-cloud-sdk/bin/gcloud, possibly through a symlink in /usr/bin
        roots.append(Path(os.path.realpath(gcloud)).parent.parent)
    roots.extend(Path(os.path.expanduser(root)) for root in _SDK_ROOTS)
    return roots


def find_emulator_jar() -> Path:
    if os.environ.get("VARIANCE_PUBSUB_EMULATOR_JAR"):
        jar = Path(os.environ["VARIANCE_PUBSUB_EMULATOR_JAR"])
        if jar.is_file():
            return jar
        raise EmulatorError(f"VARIANCE_PUBSUB_EMULATOR_JAR points to {jar}, which does not exist")
    for root in _sdk_roots():
        jars = sorted(glob.glob(str(root / _JAR_GLOB)))
        if jars:
            return Path(jars[-1])
    raise EmulatorError("Google's Pub/Sub emulator was not found; " + INSTALL_HINT)


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and Path(java_home, "bin", "java").is_file():
        return str(Path(java_home, "bin", "java"))
    java = shutil.which("java")
    if not java:
        raise EmulatorError(
            "Java was not found: the Pub/Sub emulator needs a Java 11+ runtime "
            "(e.g. `apt-get install default-jre-headless`, or set JAVA_HOME)"
        )
    return java


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do (the emulator's JVM included): connections lingering in
        # TIME_WAIT after a restart must not count as "in use", a listener must.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def listens_on(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds the socket listening on ``port``; None where the
    system cannot tell (no ``/proc``: macOS), so callers then trust the port alone."""
    inodes, tables_read = set(), 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                tables_read += 1
                for entry in lines:
                    fields = entry.split()
                    # local address "HEXIP:HEXPORT", state 0A = LISTEN, inode in column 10
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(f"socket:[{fields[9]}]")
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    if not tables_read:
        return None
    for descriptor in descriptors:
        try:
            if os.readlink(f"/proc/{pid}/fd/{descriptor}") in inodes:
                return True
        except OSError:
            continue
    return False


@dataclass
class Emulator:
    """A running emulator process; ``host`` is the value for PUBSUB_EMULATOR_HOST."""

    process: subprocess.Popen
    host: str
    port: int
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def emulator_host(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the JVM's process group, then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)


def start_emulator(port: int, host: str = "127.0.0.1", log_path: Path | None = None, timeout: float = 30.0) -> Emulator:
    """Start the emulator on ``host:port`` and return once it accepts connections."""
    if not port_is_free(port, host):
        raise EmulatorError(f"port {port} on {host} is already in use; choose another with --port")
    jar = find_emulator_jar()
    java = find_java()
    if log_path is None:
        log_path = Path(tempfile.mkstemp(prefix="pubsub-emulator-", suffix=".log")[1])
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [java, "-jar", str(jar), f"--host={host}", f"--port={port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a stop reaches the whole JVM
        )
    emulator = Emulator(process, host, port, log_path)
    # Ready when the port answers. On a taken port the JVM keeps running without
    # listening, so an answering port could be somebody else's server: check who listens.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(
                f"the Pub/Sub emulator exited with code {process.returncode} while starting; see {log_path}"
            )
        if port_answers(port, host):
            if listens_on(process.pid, port) is False:
                emulator.stop()
                raise EmulatorError(f"port {port} on {host} is already in use; choose another with --port")
            return emulator
        time.sleep(0.05)
    emulator.stop()
    raise EmulatorError(f"the Pub/Sub emulator did not start on {host}:{port} within {timeout:.0f} s; see {log_path}")


@contextmanager
def running_emulator(port: int | None = None, log_path: Path | None = None) -> Iterator[Emulator]:
    emulator = start_emulator(port or free_port(), log_path=log_path)
    try:
        yield emulator
    finally:
        emulator.stop()
