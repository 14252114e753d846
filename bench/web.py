"""Web app latency on a big organisation (the ``bench/api.py`` data: 100,000 contacts and
10,000 accounts in the serving tables), plus a stream with 1,000 items, a view and a
smart tag: every page and partial, and the JSON reads they are built on.

Each page is fetched repeatedly over real HTTP from ``variance api`` as a process, signed
in with a session cookie; the reference is ``GET /healthz`` on the same server in the
same run. Goals: pages and partials p95 under 100 ms, view members and tag counts under 200 ms.

    .venv/bin/python bench/web.py [--contacts 100000] [--accounts 10000] [--repeats 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import achieved_rows, seed
from bench.common import percentile, write_results
from variance.appdb.models import MilestoneStatusRow, SmartTag, StreamItemRow, User, View
from variance.appdb.session import make_engine, session_factory
from variance.core.vocabulary import ServingTable
from variance.samples.workspace import Workspace
from variance.stack.processes import start_api
from variance.workspace import sign_in
from variance.workspace.streams import default_stream_id

PRO_ACCOUNTS = '{"type":"group","match":"all","conditions":[{"type":"trait","filter":{"path":"plan","op":"equals","value":"pro"}}]}'

ADMIN_CONTACTS = '{"type":"group","match":"all","conditions":[{"type":"trait","filter":{"path":"role","op":"equals","value":"admin"}}]}'


def seed_web(url: str, org_id: str, admin_id: str) -> dict:
    """A stream with 1,000 items of account acct-42's contacts, a team view, a session cookie."""
    engine = make_engine(url)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with session_factory(engine)() as session, session.begin():
        stream_id = default_stream_id(session, admin_id)
        session.execute(
            insert(StreamItemRow),
            [
                {
                    "org_id": org_id,
                    "stream_id": stream_id,
                    "message_id": f"msg-{i}",
                    "event_time": t0 + timedelta(minutes=i),
                    "kind": "Action",
                    "name": "Invited User" if i % 2 else "Viewed Report",
                    "contact_id": f"user-{42 + 10_000 * (i % 10)}",
                    "account_id": "acct-42",
                    "connection_name": "web",
                    "properties": orjson.dumps({"role": "admin", "n": i}).decode(),
                }
                for i in range(1000)
            ],
        )
        view = View(
            id="viw_bench", org_id=org_id, name="Pro accounts", entity="account", definition=PRO_ACCOUNTS,
            visibility="team", owner_user_id=None,
        )  # fmt: skip
        session.add(view)
        # bench/api.py's tag has a placeholder definition; the pages show definitions, so give it a real one
        session.get(SmartTag, "tag_bench").definition = ADMIN_CONTACTS
        started = sign_in.start_session(session, session.get(User, admin_id))
    engine.dispose()
    return {"stream_id": stream_id, "view_id": "viw_bench", "cookie": started.cookie}


def measure(client: httpx.Client, path: str, params: dict, headers: dict, repeats: int) -> dict:
    latencies = []
    for _ in range(3):
        client.get(path, params=params, headers=headers).raise_for_status()  # warm
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(path, params=params, headers=headers)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
    return {
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "bytes": len(response.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="variance-bench-web-"))
    url = f"sqlite:///{work / 'app.db'}"
    env = {"VARIANCE_DATA_DIR": str(work), "VARIANCE_DATABASE_URL": url, "PUBSUB_EMULATOR_HOST": "127.0.0.1:1"}
    workspace = Workspace.create(env, "Bench")
    org = workspace.org
    milestone = workspace.add_milestone("PQL", event="Invited User", threshold=3)
    print(f"seeding {args.contacts} contacts and {args.accounts} accounts", file=sys.stderr, flush=True)
    started = time.perf_counter()
    seed(url, org["org_id"], args.contacts, args.accounts)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(MilestoneStatusRow), achieved_rows(org["org_id"], milestone["id"], args.accounts))
    engine.dispose()
    web = seed_web(url, org["org_id"], org["admin_user_id"])
    print(f"seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)

    stream, view = web["stream_id"], web["view_id"]
    pages = {
        "reference_healthz": ("/healthz", {}, {}),
        "page_streams": ("/streams", {}, {}),
        "page_stream_feed": (f"/streams/{stream}", {}, {}),
        "partial_stream_live": (f"/streams/{stream}/live", {"since": None}, {"HX-Request": "true"}),
        "page_accounts": ("/accounts", {}, {}),
        "partial_accounts_search": ("/accounts", {"q": "hooli 44"}, {"HX-Request": "true", "HX-Target": "results"}),
        "page_contacts": ("/contacts", {}, {}),
        "page_account": ("/accounts/acct-42", {}, {}),
        "page_contact": ("/contacts/user-42", {}, {}),
        "page_event_types": ("/event-types", {}, {}),
        "page_milestones": ("/milestones", {}, {}),
        "page_milestone_who": (f"/milestones/{milestone['id']}", {}, {}),
        "page_tags": ("/tags", {}, {}),
        "page_views": ("/views", {}, {}),
        "page_view_members": (f"/views/{view}", {}, {}),
        "page_integrations": ("/integrations", {}, {}),
        "page_users": ("/users", {}, {}),
    }
    reads = {
        "api_stream_feed": (f"/v1/streams/{stream}/feed", {"limit": 50}),
        "api_timeline_account": ("/v1/timelines/account/acct-42", {}),
        "api_view_members": (f"/v1/views/{view}/members", {"limit": 50}),
        "api_tag_counts": ("/v1/tags", {}),
    }
    seeded = {ServingTable.contacts.value: args.contacts, ServingTable.accounts.value: args.accounts}
    results: dict = {"database": "sqlite", **seeded, ServingTable.stream_items.value: 1000, "pages": {}, "reads": {}}
    api = start_api(env, work / "api.log")
    try:
        with httpx.Client(base_url=api.url, cookies={"variance_session": web["cookie"]}, timeout=60) as client:
            feed = client.get(f"/v1/streams/{stream}/feed", headers={"Authorization": f"Bearer {org['admin_token']}"})
            pages["partial_stream_live"][1]["since"] = feed.json()["live_cursor"]
            reference = None
            for name, (path, params, headers) in pages.items():
                numbers = measure(client, path, params, headers, args.repeats)
                reference = reference or numbers
                results["pages"][name] = numbers
                print(f"{name:28s} p50 {numbers['p50_ms']:8.2f} ms   p95 {numbers['p95_ms']:8.2f} ms", flush=True)
            bearer = {"Authorization": f"Bearer {org['admin_token']}"}
            for name, (path, params) in reads.items():
                numbers = measure(client, path, params, bearer, args.repeats)
                results["reads"][name] = numbers
                print(f"{name:28s} p50 {numbers['p50_ms']:8.2f} ms   p95 {numbers['p95_ms']:8.2f} ms", flush=True)
    finally:
        api.stop()
    path = write_results("web", results)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
