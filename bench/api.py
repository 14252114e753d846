"""Management API latency on a big organisation: 100,000 contacts and 10,000 accounts in
the serving tables, with milestone statuses and tag memberships.

Each endpoint is called repeatedly over real HTTP (``variance api`` as a process); the
reference is ``GET /healthz`` on the same server in the same run, the framework's floor.

    .venv/bin/python bench/api.py [--contacts 100000] [--accounts 10000] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson
from sqlalchemy import create_engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import percentile, write_results
from variance.appdb.models import AccountRow, ContactRow, MilestoneStatusRow, SmartTag, TagMemberRow
from variance.appdb.session import make_engine, migrate
from variance.core.vocabulary import ServingTable
from variance.samples.workspace import Workspace
from variance.stack.processes import start_api

WORDS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell", "cyberdyne"]
FIRST = ["ada", "grace", "alan", "edsger", "barbara", "ken", "margaret", "linus", "radia", "donald", "frances", "john"]


def seed(url: str, org_id: str, contacts: int, accounts: int) -> dict:
    rng = random.Random(1)
    engine = make_engine(url)
    migrate(engine)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    account_rows = []
    for i in range(accounts):
        name = f"{WORDS[i % 10].title()} {i}"
        account_rows.append(
            {
                "org_id": org_id,
                "account_id": f"acct-{i}",
                "name": name,
                "search_name": name.casefold(),
                "domain": f"{WORDS[i % 10]}{i}.com",
                "traits": orjson.dumps(
                    {"plan": rng.choice(["trial", "pro", "enterprise"]), "employees": rng.randint(1, 5000)}
                ).decode(),
                "first_seen_at": t0,
                "last_seen_at": t0 + timedelta(minutes=rng.randint(0, 500000)),
                "updated_at": t0,
            }
        )
    contact_rows = []
    for i in range(contacts):
        first = FIRST[i % len(FIRST)]
        name = f"{first.title()} {i}"
        account = i % accounts
        contact_rows.append(
            {
                "org_id": org_id,
                "contact_id": f"user-{i}",
                "name": name,
                "search_name": name.casefold(),
                "email": f"{first}.{i}@{WORDS[account % 10]}{account}.com",
                "account_id": f"acct-{account}",
                "traits": orjson.dumps(
                    {
                        "role": rng.choice(["admin", "member"]),
                        "company": {"plan": rng.choice(["trial", "pro", "enterprise"])},
                    }
                ).decode(),
                "first_seen_at": t0,
                "last_seen_at": t0 + timedelta(minutes=rng.randint(0, 500000)),
                "updated_at": t0,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(AccountRow), account_rows)
        for start in range(0, len(contact_rows), 20000):
            conn.execute(insert(ContactRow), contact_rows[start : start + 20000])
        tag_id = "tag_bench"
        conn.execute(
            insert(SmartTag),
            [
                {
                    "id": tag_id,
                    "org_id": org_id,
                    "name": "Champions",
                    "entity": "contact",
                    "definition": "{}",
                    "created_at": t0,
                    "updated_at": t0,
                }
            ],
        )
        conn.execute(
            insert(TagMemberRow),
            [
                {"org_id": org_id, "tag_id": tag_id, "entity_id": f"user-{i}", "since": t0}
                for i in range(0, contacts, 7)
            ],
        )
    engine.dispose()
    return {"tag_id": tag_id}


def achieved_rows(org_id: str, milestone_id: str, accounts: int) -> list[dict]:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return [
        {
            "org_id": org_id,
            "milestone_id": milestone_id,
            "entity_id": f"acct-{i}",
            "achieved": True,
            "count": 3,
            "changed_at": t0,
            "achieved_at": t0,
            "version": 1,
        }
        for i in range(0, accounts, 3)
    ]


def measure(client: httpx.Client, path: str, params: dict, repeats: int) -> dict:
    latencies = []
    for _ in range(3):
        client.get(path, params=params).raise_for_status()  # warm
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(path, params=params)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
    return {"p50_ms": round(percentile(latencies, 50) * 1000, 2), "p99_ms": round(percentile(latencies, 99) * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="variance-bench-api-"))
    if args.database == "postgres":
        name = f"variance_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'create database "{name}"'))
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    else:
        url = f"sqlite:///{work / 'app.db'}"
    env = {"VARIANCE_DATA_DIR": str(work), "VARIANCE_DATABASE_URL": url, "PUBSUB_EMULATOR_HOST": "127.0.0.1:1"}
    workspace = Workspace.create(env, "Bench")
    org = workspace.org
    milestone = workspace.add_milestone("PQL", event="Invited User", threshold=3)
    print(
        f"seeding {args.contacts} contacts and {args.accounts} accounts ({args.database})", file=sys.stderr, flush=True
    )
    started = time.perf_counter()
    extra = seed(url, org["org_id"], args.contacts, args.accounts)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(MilestoneStatusRow), achieved_rows(org["org_id"], milestone["id"], args.accounts))
    engine.dispose()
    print(f"seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)

    api = start_api(env, work / "api.log")
    cases = {
        "reference_healthz": ("/healthz", {}),
        "contacts_first_page": ("/v1/contacts", {"limit": 50}),
        "contacts_recent_first_page": ("/v1/contacts", {"limit": 50, "sort": "recent"}),
        "contacts_deep_page": ("/v1/contacts", {"limit": 50, "cursor": None}),
        "contacts_search_name": ("/v1/contacts", {"q": "grace 1234"}),
        "contacts_search_email": ("/v1/contacts", {"q": "linus.77"}),
        "contacts_of_account": ("/v1/contacts", {"account_id": "acct-42"}),
        "contacts_with_tag": ("/v1/contacts", {"tag_id": extra["tag_id"], "limit": 50}),
        "contacts_by_trait": ("/v1/contacts", {"trait": "company.plan:enterprise", "limit": 50}),
        "contact_get": ("/v1/contacts/user-31337", {}),
        "accounts_first_page": ("/v1/accounts", {"limit": 50}),
        "accounts_search": ("/v1/accounts", {"q": "hooli 44"}),
        "accounts_with_milestone": ("/v1/accounts", {"milestone_id": milestone["id"], "limit": 50}),
        "account_get": ("/v1/accounts/acct-4242", {}),
    }
    # the rows seeded in each serving table, then the numbers per endpoint
    seeded = {ServingTable.contacts.value: args.contacts, ServingTable.accounts.value: args.accounts}
    results: dict = {"database": args.database, **seeded, "endpoints": {}}
    try:
        with httpx.Client(
            base_url=api.url, headers={"Authorization": f"Bearer {org['admin_token']}"}, timeout=30
        ) as client:
            # a cursor from the middle of the list, for a deep page
            page = client.get("/v1/contacts", params={"limit": 200, "q": "m"}).json()
            cases["contacts_deep_page"][1]["cursor"] = page["next_cursor"]
            reference = None
            for name, (path, params) in cases.items():
                numbers = measure(client, path, params, args.repeats)
                if name == "reference_healthz":
                    reference = numbers
                else:
                    numbers["p50_ratio_to_reference"] = round(numbers["p50_ms"] / reference["p50_ms"], 2)
                results["endpoints"][name] = numbers
                print(f"{name:32s} p50 {numbers['p50_ms']:7.2f} ms   p99 {numbers['p99_ms']:7.2f} ms", flush=True)
    finally:
        api.stop()
    path = write_results(f"api-{args.database}" if args.database != "sqlite" else "api", results)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
