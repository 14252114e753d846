"""``make demo``: the local stack end to end on sample data.

Starts Google's Pub/Sub emulator, the API and the streaming pipeline on free ports
(``variance.stack.local``); configures an organisation through the workspace functions
the CLI and the API call (a connection, a PQL milestone, a stream that follows an account
and posts to a Slack channel, a Pricing stream: ``variance.samples.workspace``); sends
sample events with Segment's Python library; waits until the pipeline has acknowledged
every one and the serving tables and the Slack outbox show what the warehouse holds;
shows all three; and stops everything it started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from variance.workspace.schemas.entities import AccountOut


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def main() -> int:
    from variance.clients.emulator import EmulatorError
    from variance.samples.events import sample_calls, send_with_segment
    from variance.samples.workspace import demo_workspace
    from variance.stack.local import LocalStack
    from variance.stack.processes import VARIANCE, ProcessError
    from variance.workspace.errors import WorkspaceError

    workdir = Path(tempfile.mkdtemp(prefix="variance-demo-"))
    stack = LocalStack(workdir, env={"VARIANCE_CONFIG_REFRESH": "5"})
    try:
        step(f"Starting Google's Pub/Sub emulator (logs and data in {workdir})")
        stack.start_emulator()
        step("Configuring an organisation (what `variance orgs|connections|milestones|streams|follows` do)")
        workspace = demo_workspace(stack.env)
        print(
            f"    org {workspace.org_id}: connection 'web app', milestone PQL (2 admin invites in 30 days), "
            "streams 'Acme watch' -> #acme and 'Pricing'"
        )

        step("Starting the API, the streaming pipeline and the Slack sender")
        api = stack.start_api()
        pipeline = stack.start_pipeline(progress_every=5)
        sender = stack.sender
        print(
            f"    API on {api.url}; pipeline pid {pipeline.pid} (Beam's local runner); "
            f"Slack sender pid {sender.pid if sender else '-'} (no token: the local outbox)"
        )

        calls = sample_calls()
        step(f"Sending {len(calls)} sample calls with Segment's Python library")
        send_with_segment(calls, workspace.connection["secret"], api.url)

        step("Waiting for the pipeline")
        pipeline.wait_until_acked(len(calls), timeout=120)
        show(stack, workspace, api.url, pipeline)

        step("Building the analysts' warehouse (`variance dbt build`)")
        subprocess.run([*VARIANCE, "dbt", "build"], env={**os.environ, **stack.env}, check=True)
        print(
            f"    try: VARIANCE_DATA_DIR={stack.env['VARIANCE_DATA_DIR']} variance warehouse export fct_milestone_changes"
        )
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"error: `variance dbt build` failed ({exc.returncode}); its log is in {workdir}", file=sys.stderr)
        return 1
    except (EmulatorError, WorkspaceError, ProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(f"       the logs are in {workdir}", file=sys.stderr)
        return 1
    finally:
        step("Stopping the local stack")
        stack.stop()
        print("    stopped the Slack sender, the pipeline, the API and the emulator")


def show(stack, workspace, url: str, pipeline) -> None:
    """What reached the warehouse, the serving tables and the Slack outbox, once the
    latter two have caught up with the former."""
    from variance.warehouse.local import LakeReader

    reader = LakeReader(stack.lake_dir)
    headers = {"Authorization": f"Bearer {workspace.admin_token}"}
    slack_stream = workspace.streams["Acme watch"]["id"]
    _, [(slack_matches,)] = reader.query(
        "select count(*) from stream_matches where status = 'current' and stream_id = $stream",
        {"stream": slack_stream},
    )
    achieved = _achieved_accounts(reader)
    posts = pipeline.wait_until(
        lambda: len(lines := _outbox(stack.outbox_path)) >= slack_matches and lines,
        30,
        f"before the Slack outbox held {slack_matches} posts",
    )

    def serving_caught_up() -> list[AccountOut]:
        accounts = _accounts(url, headers)
        with_milestones = {a.account_id for a in accounts if a.milestones}
        return accounts if accounts and with_milestones == achieved else []

    accounts = pipeline.wait_until(
        serving_caught_up,
        30,
        "before the serving tables showed the milestones of the warehouse",
    )

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
    print("    accounts in the app (serving tables), with their milestones:")
    for account in accounts:
        names = ", ".join(m.name for m in account.milestones) or "-"
        print(f"      {account.account_id:10s} {account.name or '':12s} milestones: {names}")
    print(
        f"    Slack outbox (no token set; Block Kit payloads in {stack.outbox_path}): {len(posts)} messages for #acme, e.g.:"
    )
    for line in posts[:3]:
        print("      " + json.loads(line)["text"])
    print(
        f'\n    Look around: VARIANCE_DATA_DIR={stack.data_dir} .venv/bin/variance warehouse query "select * from events limit 5"'
    )


def _achieved_accounts(reader) -> set[str]:
    """Accounts whose latest current milestone change is an achievement."""
    _, rows = reader.query(
        "select entity_id, arg_max(kind, changed_at) from milestone_changes where status = 'current' group by 1"
    )
    return {entity for entity, kind in rows if kind == "achieved"}


def _outbox(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _accounts(url: str, headers: dict) -> list[AccountOut]:
    """The accounts the app shows, as the API's schema reads them."""
    from variance.workspace.schemas.entities import AccountOut

    try:
        items = httpx.get(f"{url}/v1/accounts", headers=headers, timeout=5).json()["items"]
    except (httpx.HTTPError, ValueError, KeyError):
        return []
    return [AccountOut.model_validate(item) for item in items]


if __name__ == "__main__":
    sys.exit(main())
