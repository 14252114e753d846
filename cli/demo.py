"""``make demo``: the product end to end on a week of generated Segment traffic.

Starts the local stack (``variance.stack.local``: Google's Pub/Sub emulator, the API
serving the web app, the streaming pipeline and the Slack sender, which writes the local
outbox since no Slack token is set); builds the demo's organisation through the workspace
functions the CLI and the API call (``variance.samples.workspace.showcase_workspace``: a
connection, an admin and a seller who sign in with the passwords printed, a team Event
Type stream posting to #upgrades, the seller's stream following the two busiest accounts,
the milestones PQL and Onboarded, a smart tag and a view); sends the traffic of
``variance.samples.traffic`` with Segment's Python library; waits until the pipeline has
acknowledged every call and the Slack sender has caught up; runs ``variance dbt build``;
prints a summary read back from the warehouse, the app database and the outbox; and
stops the stack, or with ``--keep`` leaves it running and records it in
``DATA_DIR/stack.json`` for ``python -m variance.cli.demo down`` (``make down``).

    python -m variance.cli.demo [--calls N] [--seed S] [--keep] [--dir PATH]
    python -m variance.cli.demo down [--dir PATH]

How many calls by default, and why: the local streaming pipeline (Beam's local runner, one
Python process) is the bottleneck, not the sending (Segment's library, 100 calls a
request, about 1,000 calls/s here) nor dbt. See ``DEFAULT_CALLS``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from variance.samples.traffic import Traffic
    from variance.samples.workspace import Workspace
    from variance.stack.local import LocalStack

# The local streaming pipeline is the bottleneck (one Python process, so one core at most).
# Measured here on 2026-12-02 with nothing else running: 12,000 calls took 86 s for the
# whole demo and 30,000 about 4 minutes to the dbt build (129 calls/s on average, the rate
# falling from 200/s as state grows), which keeps `make demo` under 5 minutes.
DEFAULT_CALLS = 30_000
DEFAULT_SEED = 21
DEFAULT_DIR = Path(".variance/demo")
STATE_FILE = "stack.json"
SUMMARY_FILE = "summary.json"
API_PORT = 8000  # the web app's usual address, when it is free
# A week of history arrives at once: every event is days behind the local runner's
# watermark (wall-clock time), so the allowed lateness must cover the week for the
# streaming milestones to count it, as a backfill would.
DEMO_ENV = {"VARIANCE_CONFIG_REFRESH": "5", "VARIANCE_ALLOWED_LATENESS": "8d"}


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def say(message: str) -> None:
    print(f"    {message}", flush=True)


class Progress:
    """A one-line progress bar on a terminal; elsewhere (a log, a test) a line every 10%."""

    def __init__(self, what: str, total: int, stream=sys.stdout):
        self.what, self.total, self.stream = what, max(total, 1), stream
        self.tty = stream.isatty()
        self._first: tuple[float, int] | None = None  # the rate counts from the first report
        self._shown = -1

    def __call__(self, done: int, total: int | None = None) -> None:
        done = min(done, self.total)
        now = time.monotonic()
        if self._first is None:
            self._first = (now, done)
        elapsed = now - self._first[0]
        rate = (done - self._first[1]) / elapsed if elapsed > 0.5 else 0.0
        line = f"    {self.what} [{'#' * (30 * done // self.total):<30}] {done:,}/{self.total:,} ({rate:,.0f}/s)"
        if self.tty:
            self.stream.write("\r" + line)
            self.stream.flush()
        elif (tenth := 10 * done // self.total) > self._shown:
            self._shown = tenth
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# -- command line ---------------------------------------------------------------------------


def _positive_calls(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of calls, not {text!r}") from None
    if value < 40:
        raise argparse.ArgumentTypeError(f"must be at least 40 (got {value}) to hold every kind of call")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m variance.cli.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["run", "down"], default="run")
    parser.add_argument("--calls", type=_positive_calls, default=DEFAULT_CALLS, help="Segment calls to send")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the generated traffic")
    parser.add_argument("--keep", action="store_true", help="leave the stack running (stop it with `down`)")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="the demo's folder (logs, data, stack.json)")
    parser.add_argument(
        "--port", type=int, default=API_PORT, help=f"the API's port (default {API_PORT} if free; 0: any free port)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "down":
        return down(args.dir)
    return run(args.dir, args.calls, args.seed, keep=args.keep, port=args.port)


# -- make down -------------------------------------------------------------------------------


def down(workdir: Path) -> int:
    """Stop a stack ``make demo KEEP=1`` left running, by the process ids it recorded."""
    from variance.stack.local import stop_recorded

    state = workdir / STATE_FILE
    if not state.exists():
        print(f"no demo stack is recorded in {state}: nothing to stop")
        return 0
    try:
        outcome = stop_recorded(state)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: cannot read {state} ({exc}); stop the processes by hand", file=sys.stderr)
        return 1
    for name, pid, what in outcome:
        print(f"    {name} (pid {pid}): {what}")
    if any(what == "still running" for _, _, what in outcome):
        print(f"error: some processes did not stop; {state} is kept", file=sys.stderr)
        return 1
    print("the demo stack is down")
    return 0


# -- make demo -------------------------------------------------------------------------------


@dataclass
class Sign:
    email: str
    password: str


def _fresh_dir(workdir: Path) -> str | None:
    """Empty the demo's folder for a new run; refuses (returns why) while a kept stack runs."""
    from variance.stack.local import RecordedStack

    state = workdir / STATE_FILE
    if state.exists():
        try:
            running = RecordedStack(state).running()
        except (OSError, ValueError, KeyError):
            running = []
        if running:
            pids = ", ".join(str(p["pid"]) for p in running)
            return f"the demo stack of an earlier `make demo KEEP=1` still runs (pids {pids}): `make down` stops it"
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    return None


def _api_port(wanted: int) -> int:
    from variance.clients.emulator import free_port, port_is_free

    return wanted if wanted and port_is_free(wanted) else free_port()


def run(workdir: Path, calls: int, seed: int, *, keep: bool = False, port: int = API_PORT) -> int:
    from variance.clients.emulator import EmulatorError
    from variance.samples.traffic import generate, send
    from variance.samples.workspace import ADMIN, SELLER, showcase_workspace
    from variance.stack.local import LocalStack, save_state
    from variance.stack.processes import ProcessError
    from variance.workspace.errors import WorkspaceError

    workdir = workdir.resolve()
    refused = _fresh_dir(workdir)
    if refused:
        print(f"error: {refused}", file=sys.stderr)
        return 1
    began = time.monotonic()
    port = _api_port(port)
    url = f"http://127.0.0.1:{port}"
    stack = LocalStack(workdir, env={**DEMO_ENV, "VARIANCE_PUBLIC_URL": url})
    kept = False
    try:
        step(f"Generating {calls:,} Segment calls (seed {seed}): a week of a B2B product's traffic")
        traffic = generate(calls, seed=seed)
        say(
            f"{traffic.users:,} users in {len(traffic.accounts):,} accounts; {traffic.identified_first:,} identified "
            f"and grouped before they act, {traffic.anonymous_linked} anonymous visitors identified later, "
            f"{traffic.late_mobile} late mobile events, {traffic.resent} client re-sends"
        )

        step(f"Starting Google's Pub/Sub emulator (logs and data in {workdir})")
        stack.start_emulator()

        step("Configuring the organisation (what `variance orgs|connections|users|milestones|streams|tags|views` do)")
        workspace = showcase_workspace(stack.env, traffic.busiest[:2])
        people = {
            role: Sign(email, secrets.token_urlsafe(12)) for role, (_, email) in (("admin", ADMIN), ("seller", SELLER))
        }
        for person in people.values():
            workspace.set_password(person.email, person.password)
        say(f"org {workspace.org_id} '{workspace.org['name']}', connection 'web app' (accounts from group calls)")
        say(f"users: {ADMIN[0]} <{people['admin'].email}> (admin), {SELLER[0]} <{people['seller'].email}> (seller)")
        say("milestones: PQL (5 admin invites in 7 days, windowed), Onboarded (3 integrations connected, ever)")
        say("team Event Type stream 'Upgrades' (Upgraded Plan) -> Slack #upgrades")
        say(f"{SELLER[0]}'s stream follows {traffic.busiest[0]} and {traffic.busiest[1]}")
        say("smart tag 'Enterprise' (plan = enterprise); team view 'Enterprise PQLs' (the tag and PQL)")

        step("Starting the API with the web app, the streaming pipeline and the Slack sender")
        api = stack.start_api(port=port)
        pipeline = stack.start_pipeline(progress_every=1)
        sender = stack.sender
        # recorded at once, so `make down` also cleans up after a demo killed half way
        save_state(stack, workdir / STATE_FILE, url=api.url, org_id=workspace.org_id)
        say(f"API and web app on {api.url} (pid {api.pid}); pipeline pid {pipeline.pid} (Beam's local runner)")
        say(f"Slack sender pid {sender.pid if sender else '-'}: no Slack token, so it writes {stack.outbox_path}")

        step(f"Sending {len(traffic.calls):,} calls with Segment's Python library (batches of 100 to /v1/batch)")
        bar = Progress("sent", len(traffic.calls))
        report = send(traffic.calls, workspace.connection["secret"], api.url, progress=bar)
        bar.close()
        say(f"{report.sent:,} sent in {report.seconds:.1f} s ({report.rate:,.0f} calls/s), {report.failed} failed")

        step("Waiting until the pipeline has caught up")
        _wait_for_pipeline(stack, report.sent)
        _wait_for_slack(stack, workspace)
        _refresh_tags(stack, workspace)

        step("Building the analysts' warehouse (`variance dbt build`)")
        dbt_line = _dbt_build(stack)
        say(dbt_line)

        summary = summarize(stack, workspace, traffic, report.sent)
        summary["seconds"] = round(time.monotonic() - began, 1)
        (stack.data_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
        step(f"Summary ({summary['seconds']:.0f} s so far)")
        print_summary(summary)
        print_next(stack, api.url, people, keep)
        if keep:
            save_state(stack, workdir / STATE_FILE, url=api.url, org_id=workspace.org_id)
            kept = True
        return 0
    except subprocess.CalledProcessError as exc:
        print(
            f"error: `variance dbt build` failed ({exc.returncode}); its log is {workdir / 'dbt.log'}", file=sys.stderr
        )
        return 1
    except (EmulatorError, WorkspaceError, ProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(f"       the logs are in {workdir}", file=sys.stderr)
        return 1
    finally:
        if kept:
            step(f"Leaving the stack running (recorded in {workdir / STATE_FILE}); `make down` stops it")
        else:
            step("Stopping the local stack")
            stack.stop()
            (workdir / STATE_FILE).unlink(missing_ok=True)
            say("stopped the Slack sender, the pipeline, the API and the emulator")


def _wait_for_pipeline(stack: LocalStack, sent: int) -> None:
    """Until the pipeline has acknowledged every call sent (re-sends too: a duplicate is
    acknowledged once it is known to be one), with a progress bar."""
    pipeline = stack.pipeline
    assert pipeline is not None
    bar = Progress("acknowledged", sent)

    def caught_up():
        state = pipeline.state()
        bar(state.acked if state else 0)
        return state is not None and state.acked >= sent

    # generous: a loaded machine runs the local pipeline at a fraction of its rate
    pipeline.wait_until(caught_up, max(300, sent / 10), f"before acknowledging {sent} calls", every=0.5)
    bar.close()
    state = pipeline.wait_until_acked(sent, timeout=5)
    say(f"the pipeline acknowledged {state.acked:,} messages")


def _slack_stream(workspace: Workspace) -> dict:
    return workspace.streams["Upgrades"]


def _wait_for_slack(stack: LocalStack, workspace: Workspace) -> None:
    """Until the sender has written every match of the Slack stream into the outbox."""
    from variance.core.vocabulary import WarehouseTable
    from variance.warehouse.local import LakeReader

    _, [(expected,)] = LakeReader(stack.lake_dir).query(
        f"select count(*) from {WarehouseTable.stream_matches.value} where status = 'current' and stream_id = $s",
        {"s": _slack_stream(workspace)["id"]},
    )
    assert stack.sender is not None
    stack.sender.wait_until(
        lambda: _outbox_rows_done(stack) >= expected, 120, f"before the outbox held the {expected} matches of #upgrades"
    )
    say(f"the Slack sender has written all {expected:,} matches of #upgrades")


def _outbox_rows_done(stack: LocalStack) -> int:
    counts = _slack_counts(stack)
    return counts["rows_sent"] + counts["rows_digested"]


def _slack_counts(stack: LocalStack) -> dict[str, int]:
    """Outbox rows by delivery state, and the digests (one claim covers a digest's rows)."""
    from sqlalchemy import func, select

    from variance.appdb.models import SlackOutboxRow
    from variance.appdb.session import make_engine, session_factory
    from variance.core.settings import Settings
    from variance.core.vocabulary import SlackDelivery

    engine = make_engine(Settings(**stack.env).resolved_database_url)
    try:
        with session_factory(engine)() as session:
            by_state = dict(
                session.execute(select(SlackOutboxRow.state, func.count()).group_by(SlackOutboxRow.state)).all()
            )
            digests = session.scalar(
                select(func.count(func.distinct(SlackOutboxRow.claim_id))).where(
                    SlackOutboxRow.state == SlackDelivery.digested.value
                )
            )
    finally:
        engine.dispose()
    return {
        "rows_sent": by_state.get(SlackDelivery.sent.value, 0),
        "rows_digested": by_state.get(SlackDelivery.digested.value, 0),
        "digests": digests or 0,
    }


def _refresh_tags(stack: LocalStack, workspace: Workspace) -> None:
    """What `variance tags refresh` does, so the web app's tag pages show who carries each."""
    from variance.appdb.session import make_engine, session_factory
    from variance.core.settings import Settings
    from variance.serving.tags import refresh_tag_members

    engine = make_engine(Settings(**stack.env).resolved_database_url)
    try:
        with session_factory(engine)() as session, session.begin():
            refresh_tag_members(session, workspace.org_id)
    finally:
        engine.dispose()


def _dbt_build(stack: LocalStack) -> str:
    """``variance dbt build``, its output in dbt.log; returns its last line."""
    from variance.stack.processes import VARIANCE

    log = stack.workdir / "dbt.log"
    with open(log, "wb") as out:
        subprocess.run(
            [*VARIANCE, "dbt", "build"],
            env={**os.environ, **stack.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "dbt build finished"


# -- the summary -------------------------------------------------------------------------------


def summarize(stack: LocalStack, workspace: Workspace, traffic: Traffic, sent: int) -> dict[str, Any]:
    """Every number of the summary, read back from the warehouse (the pipeline's tables and
    dbt's marts), the app database and the outbox file."""
    from variance.core.vocabulary import WarehouseTable as W
    from variance.warehouse.local import LakeReader

    reader = LakeReader(stack.lake_dir)

    def one(sql: str, params: dict | None = None) -> Any:
        _, rows = reader.query(sql, params or {})
        return rows[0][0]

    stream_names = {s["id"]: name for name, s in workspace.streams.items()}
    for user in workspace.users.values():
        stream_names[user["default_stream_id"]] = f"{user['name']}'s Stream"
    _, match_rows = reader.query(
        f"select stream_id, count(*) from {W.stream_matches.value} where status = 'current' group by 1 order by 2 desc"
    )
    _, reached = reader.query(
        f"select milestone_name, count(distinct entity_id) filter (where kind = 'achieved'), "
        f"count(distinct entity_id) filter (where latest) from ("
        f"  select *, changed_at = max(changed_at) over (partition by milestone_id, entity_id) and kind = 'achieved'"
        f"  as latest from {W.milestone_changes.value} where status = 'current') group by 1 order by 1"
    )
    _, dbt_held = reader.query(
        "select milestone_name, count(*) filter (where achieved) from fct_milestone_status group by 1"
    )
    threshold = workspace.milestones["PQL"]["threshold"]
    _, top = reader.query(
        "select s.entity_id, coalesce(a.name, s.entity_id), s.count, s.achieved from fct_milestone_status s "
        "left join dim_accounts a on a.account_id = s.entity_id and a.org_id = s.org_id "
        "where s.milestone_name = 'PQL' order by s.count desc, s.entity_id limit 5"
    )
    outbox = stack.outbox_path.read_text().splitlines() if stack.outbox_path.exists() else []
    return {
        "calls_sent": sent,
        "resent": traffic.resent,
        "events_in": one(f"select count(*) from {W.events.value}"),
        "dead_letter_count": one(f"select count(*) from {W.dead_letters.value}"),
        "contact_count": one(f"select count(distinct contact_id) from {W.contacts.value}"),
        "account_count": one(f"select count(distinct account_id) from {W.accounts.value}"),
        "anonymous_linked": one(f"select count(distinct anonymous_id) from {W.identity_links.value}"),
        "late_mobile": traffic.late_mobile,
        "milestones_reached": {name: {"ever": ever, "now": now} for name, ever, now in reached},
        "milestones_dbt_now": dict(dbt_held),
        "matches_by_stream": {stream_names.get(sid, sid): n for sid, n in match_rows},
        "slack_messages": len(outbox),
        "slack": _slack_counts(stack),
        "pql_threshold": threshold,
        "top_pql": [
            {"account_id": aid, "name": name, "count": count, "achieved": bool(achieved)}
            for aid, name, count, achieved in top
        ],
    }


def print_summary(s: dict[str, Any]) -> None:
    say(
        f"events in: {s['events_in']:,} of {s['calls_sent']:,} calls sent "
        f"({s['calls_sent'] - s['events_in']} duplicates dropped; {s['resent']} were re-sent on purpose); "
        f"dead letters: {s['dead_letter_count']}"
    )
    say(
        f"contacts: {s['contact_count']:,}; accounts: {s['account_count']:,}; "
        f"anonymous visitors linked by identify: {s['anonymous_linked']}; late mobile events: {s['late_mobile']}"
    )
    for name, counts in s["milestones_reached"].items():
        say(
            f"milestone {name}: reached by {counts['ever']} accounts, held now by {counts['now']} "
            f"(dbt's recomputation: {s['milestones_dbt_now'].get(name, 0)})"
        )
    say("stream matches: " + ", ".join(f"{name} {n:,}" for name, n in s["matches_by_stream"].items()))
    slack = s["slack"]
    say(
        f"Slack: {s['slack_messages']:,} messages in the outbox for #upgrades; digests: {slack['digests']} "
        f"({slack['rows_digested']} matches in digests, {slack['rows_sent']} posted one by one)"
    )
    say(f"top accounts by PQL progress (admin invites in the last 7 days, {s['pql_threshold']} to qualify):")
    for row in s["top_pql"]:
        mark = "PQL" if row["achieved"] else "-"
        say(f"  {row['count']:>4}  {row['name']:<28} {row['account_id']:<28} {mark}")


def print_next(stack: LocalStack, url: str, people: dict[str, Sign], keep: bool) -> None:
    data = stack.data_dir
    step("Where to look next" + ("" if keep else " (rerun with `make demo KEEP=1` to keep the stack up)"))
    say(f"web app: {url}/sign-in as the seller {people['seller'].email} / {people['seller'].password}")
    say(f"         or the admin {people['admin'].email} / {people['admin'].password}")
    say(f"Slack outbox (Block Kit payloads, one per line): {stack.outbox_path}")
    say(f'warehouse: VARIANCE_DATA_DIR={data} .venv/bin/variance warehouse query "select * from milestone_funnel"')
    say(f"dbt docs:  VARIANCE_DATA_DIR={data} .venv/bin/variance dbt docs --static")
    say(f"API docs:  {url}/docs (scripts take an API token: `variance users create` prints one)")


if __name__ == "__main__":
    sys.exit(main())
