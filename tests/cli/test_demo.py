"""``make demo`` end to end, as a real process at a small call count: the summary it
prints is what the warehouse, the app database and the outbox hold, and what the seed's
traffic says to expect; with ``--keep`` the stack stays up until ``down`` stops every
process it recorded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import httpx
import pytest

from variance.core.vocabulary import WarehouseTable
from variance.samples.traffic import generate
from variance.stack.local import RecordedStack, group_members
from variance.warehouse.local import LakeReader

CALLS = 300
SEED = 5


def demo(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "variance.cli.demo", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_too_few_calls_are_refused_with_the_flag_and_the_rule(tmp_path):
    result = demo("--calls", "10", "--dir", str(tmp_path / "demo"))
    assert result.returncode == 2
    assert "argument --calls: must be at least 40 (got 10) to hold every kind of call" in result.stderr
    assert "Traceback" not in result.stderr


def test_down_with_nothing_recorded_says_so(tmp_path):
    result = demo("down", "--dir", str(tmp_path))
    assert (result.returncode, result.stdout.strip()) == (
        0,
        f"no demo stack is recorded in {tmp_path}/stack.json: nothing to stop",
    )


@pytest.mark.slow
def test_the_demo_summary_is_what_the_warehouse_holds_and_down_leaves_nothing(tmp_path):
    workdir = tmp_path / "demo"
    result = demo("--calls", str(CALLS), "--seed", str(SEED), "--keep", "--dir", str(workdir), "--port", "0")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    traffic = generate(CALLS, seed=SEED)
    summary = json.loads((workdir / "data" / "summary.json").read_text())
    reader = LakeReader(workdir / "data" / "lake")

    def one(sql: str):
        return reader.query(sql)[1][0][0]

    # what was sent, and what arrived: every call once, the re-sends dropped as duplicates
    events_in = one(f"select count(*) from {WarehouseTable.events.value}")
    assert events_in == CALLS - traffic.resent == summary["events_in"]
    assert f"events in: {events_in:,} of {CALLS:,} calls sent ({traffic.resent} duplicates dropped;" in out
    assert "dead letters: 0" in out
    contacts = one(f"select count(distinct contact_id) from {WarehouseTable.contacts.value}")
    accounts = one(f"select count(distinct account_id) from {WarehouseTable.accounts.value}")
    assert (contacts, accounts) == (traffic.users, len(traffic.accounts))
    assert f"contacts: {contacts:,}; accounts: {accounts:,};" in out
    assert f"anonymous visitors linked by identify: {traffic.anonymous_linked};" in out

    # milestones: the pipeline's current changes, and dbt's recomputation agrees
    _, held = reader.query(
        f"select milestone_name, count(*) from (select milestone_name, entity_id, arg_max(kind, changed_at) as kind "
        f"from {WarehouseTable.milestone_changes.value} where status = 'current' group by 1, 2) "
        "where kind = 'achieved' group by 1"
    )
    for name, n in held:
        assert re.search(
            rf"milestone {name}: reached by \d+ accounts, held now by {n} \(dbt's recomputation: {n}\)", out
        )

    # stream matches and Slack: every match of #upgrades is in one line of the outbox (a
    # line of its own, or a digest of the matches waiting at once)
    _, matches = reader.query(
        f"select stream_id, count(*) from {WarehouseTable.stream_matches.value} where status = 'current' group by 1"
    )
    assert sum(n for _, n in matches) == sum(summary["matches_by_stream"].values())
    outbox = (workdir / "data" / "slack-outbox.jsonl").read_text().splitlines()
    upgrades = summary["matches_by_stream"]["Upgrades"]
    slack = summary["slack"]
    assert upgrades == slack["rows_sent"] + slack["rows_digested"]
    posted = [m for line in outbox for m in json.loads(line)["message_ids"]]
    assert len(posted) == len(set(posted)) == upgrades
    assert len(outbox) == slack["rows_sent"] + slack["digests"]
    assert f"Slack: {len(outbox):,} messages in the outbox for #upgrades" in out
    assert {json.loads(line)["channel_name"] for line in outbox} == {"#upgrades"}

    # where to look next: the seller signs in with the password printed
    [(url, email, password)] = re.findall(r"web app: (\S+)/sign-in as the seller (\S+) / (\S+)", out)
    signed_in = httpx.post(f"{url}/v1/sessions", json={"email": email, "password": password}, timeout=10)
    assert signed_in.status_code in (200, 201), signed_in.text

    # kept up: a second demo refuses to clear the folder under it
    again = demo("--calls", "40", "--dir", str(workdir), "--port", "0")
    assert again.returncode == 1 and "still runs (pids" in again.stderr and "`make down` stops it" in again.stderr

    recorded = RecordedStack(workdir / "stack.json")
    names = [p["name"] for p in recorded.processes]
    assert names == ["the Pub/Sub emulator", "the API", "the pipeline", "the Slack sender"]
    assert len(recorded.running()) == 4
    stopped = demo("down", "--dir", str(workdir))
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.splitlines()[-1] == "the demo stack is down"
    assert [group_members(p["pid"]) for p in recorded.processes] == [[], [], [], []]  # no JVM, no child left
    assert not (workdir / "stack.json").exists()
