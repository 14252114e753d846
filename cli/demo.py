"""``make demo``: the local stack end to end on sample data.

Starts Google's Pub/Sub emulator, the API and the streaming pipeline on free ports;
configures an organisation with the CLI (a connection, a PQL milestone, a stream that
follows an account and posts to a Slack channel, a Pricing stream); sends sample events
with Segment's Python library; shows what reached the warehouse, the serving tables
(through the API) and the Slack outbox; and stops everything it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


class Stack:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []
        self.env = dict(os.environ)

    def cli(self, *args: str) -> dict:
        result = subprocess.run([sys.executable, "-m", "variance", *args], env=self.env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"error: variance {' '.join(args[:2])}: {result.stderr.strip()}")
        return json.loads(result.stdout)

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(
            [sys.executable, "-m", "variance", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"error: timed out waiting for {what}; see the logs in the demo folder")


def main() -> int:
    from segment.analytics import Client

    from variance.clients.emulator import EmulatorError, free_port, start_emulator
    from variance.samples.events import sample_calls
    from variance.warehouse.local import LakeReader

    workdir = Path(tempfile.mkdtemp(prefix="variance-demo-"))
    step(f"Starting Google's Pub/Sub emulator (logs and data in {workdir})")
    try:
        emulator = start_emulator(free_port(), log_path=workdir / "emulator.log")
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stack = Stack(workdir)
    stack.env.update(
        {
            "PUBSUB_EMULATOR_HOST": emulator.emulator_host,
            "VARIANCE_DATA_DIR": str(workdir / "data"),
            "VARIANCE_CONFIG_REFRESH": "5",
        }
    )
    try:
        step("Configuring an organisation with the variance CLI")
        org = stack.cli("orgs", "create", "Demo Co", "--admin-name", "Ada")
        o = org["org_id"]
        connection = stack.cli("connections", "create", "--org", o, "--name", "web app", "--mapping", "group")
        stack.cli(
            "milestones",
            "create",
            "--org",
            o,
            "--name",
            "PQL",
            "--entity",
            "account",
            "--kind",
            "Action",
            "--event",
            "Invited User",
            "--filters",
            '[{"path":"role","op":"equals","value":"admin"}]',
            "--threshold",
            "2",
            "--window",
            "30d",
        )
        acme = stack.cli(
            "streams",
            "create",
            "--org",
            o,
            "--name",
            "Acme watch",
            "--visibility",
            "team",
            "--slack-channel-id",
            "C0ACME",
            "--slack-channel-name",
            "#acme",
        )
        stack.cli(
            "follows", "add", "--org", o, "--entity-type", "account", "--entity-id", "acme", "--stream", acme["id"]
        )
        stack.cli(
            "streams",
            "create",
            "--org",
            o,
            "--name",
            "Pricing",
            "--type",
            "event_type",
            "--visibility",
            "team",
            "--selectors",
            '[{"kind":"Page","filters":[{"path":"path","op":"starts_with","value":"/pricing"}]}]',
        )
        print(
            f"    org {o}: connection 'web app', milestone PQL (2 admin invites in 30 days), streams 'Acme watch' -> #acme and 'Pricing'"
        )

        step("Starting the API and the streaming pipeline")
        port = free_port()
        stack.start("api", "api", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ok(url + "/healthz"), 60, "the API")
        pipeline = stack.start("pipeline", "pipeline", "--progress-every", "5")
        wait_until(
            lambda: "streaming from" in (workdir / "pipeline.log").read_text(errors="replace"), 120, "the pipeline"
        )
        print(f"    API on {url}; pipeline pid {pipeline.pid} (Beam's local runner)")

        calls = sample_calls()
        step(f"Sending {len(calls)} sample calls with Segment's Python library")
        client = Client(write_key=connection["secret"], host=url, sync_mode=True)
        for call in calls:
            kind = call.pop("type")
            common = {
                "timestamp": datetime.fromisoformat(call.pop("timestamp")),
                "message_id": call.pop("messageId"),
                "context": call.pop("context", None),
            }
            if kind == "identify":
                client.identify(user_id=call["userId"], traits=call["traits"], **common)
            elif kind == "group":
                client.group(user_id=call["userId"], group_id=call["groupId"], traits=call["traits"], **common)
            elif kind == "track":
                client.track(user_id=call["userId"], event=call["event"], properties=call["properties"], **common)
            else:
                client.page(user_id=call["userId"], name=call["name"], properties=call["properties"], **common)
        client.flush()

        step("Waiting for the pipeline")
        reader = LakeReader(workdir / "data" / "lake")
        wait_until(lambda: len(reader.current("events")) >= len(calls), 120, "the events in the warehouse")
        time.sleep(3)
        _, by_kind = reader.query("select coalesce(kind, type) as kind, count(*) from events group by 1 order by 1")
        print("    warehouse events: " + ", ".join(f"{n} {k}" for k, n in by_kind))
        _, changes = reader.query(
            "select entity_id, kind, count, strftime(changed_at, '%Y-%m-%d %H:%M') from milestone_changes "
            "where status = 'current' order by changed_at"
        )
        print(f"    milestone changes ({len(changes)}):")
        for entity, kind, count, at in changes:
            print(f"      {at}  {entity:10s} {kind:8s} PQL (count {count})")
        _, matches = reader.query("select count(*) from stream_matches where status = 'current'")
        print(f"    stream matches: {matches[0][0]}")

        headers = {"Authorization": f"Bearer {org['admin_token']}"}
        accounts = httpx.get(f"{url}/v1/accounts", headers=headers).json()["items"]
        print("    accounts in the app (serving tables), with their milestones:")
        for account in accounts:
            names = ", ".join(m["name"] for m in account["milestones"]) or "-"
            print(f"      {account['account_id']:10s} {account['name'] or '':12s} milestones: {names}")
        outbox = workdir / "data" / "slack-outbox.jsonl"
        posts = outbox.read_text().splitlines() if outbox.exists() else []
        print(f"    Slack outbox (no token set): {len(posts)} messages for #acme, e.g.:")
        for line in posts[:3]:
            print("      " + json.loads(line)["text"])
        print(
            f'\n    Look around: VARIANCE_DATA_DIR={workdir / "data"} .venv/bin/variance warehouse query "select * from events limit 5"'
        )
        return 0
    finally:
        step("Stopping the local stack")
        stack.stop()
        emulator.stop()
        print("    stopped the pipeline, the API and the emulator")


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())
