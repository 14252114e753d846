"""A week of generated Segment traffic for ``make demo``: hundreds of accounts, thousands of
users, deterministic for a seed, sent with Segment's own Python library.

What the traffic holds, and why each part is there (each is counted in :class:`Traffic`,
so a test and the demo's summary can say exactly what to expect):

- **Accounts and users.** About one user per ten calls and one account per ten users, users
  spread over accounts unevenly (a few big accounts, a long tail), activity per user too (a
  few power users), as real products see.
- **identify and group first, for most.** Most users are identified and grouped before they
  act; the rest (``LATE_IDENTIFIED``) act first and are identified later, which is what the
  pipeline's late account links and retroactive attribution are for.
- **Anonymous visits linked later.** Some users browse anonymously (``anonymousId`` only)
  before an identify call carrying both ids links the visits to them.
- **Late mobile events.** A few track calls from a mobile app arrive last, with timestamps
  hours old, as Segment's mobile libraries deliver after a phone was offline.
- **Client re-sends.** A few calls are sent twice with the same ``messageId``, as a client
  that retried after a lost answer does; the pipeline keeps each once.

Calls are in send order: by timestamp, then the late mobile events. Timestamps cover the
``days`` days before ``now``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from variance.samples.events import send_call

LATE_IDENTIFIED = 0.08  # users who act before their identify and group calls
ANONYMOUS_FIRST = 0.06  # users who browse anonymously before they are identified
LATE_MOBILE_PER_CALLS = 1000  # one late mobile event per this many calls
RESENT_PER_CALLS = 500  # one client re-send per this many calls

# Activity events with their share of the traffic and their properties' choices.
ACTIVITY: list[tuple[str, str, float, dict[str, list[Any]]]] = [
    ("page", "Pricing", 0.10, {"path": ["/pricing", "/pricing/enterprise"]}),
    ("page", "Docs", 0.15, {"path": ["/docs/getting-started", "/docs/api", "/docs/sdks"]}),
    ("page", "Blog", 0.07, {"path": ["/blog/launch", "/blog/changelog"]}),
    ("track", "Viewed Dashboard", 0.24, {"dashboard": ["usage", "pipeline", "revenue"]}),
    ("track", "Created Project", 0.14, {"template": ["blank", "crm", "analytics"]}),
    ("track", "Invited User", 0.12, {"role": ["admin", "member", "member"]}),
    ("track", "Exported Report", 0.10, {"format": ["csv", "pdf"]}),
    ("track", "Connected Integration", 0.05, {"kind": ["slack", "github", "salesforce", "hubspot"]}),
    ("track", "Upgraded Plan", 0.03, {"plan": ["pro", "enterprise"]}),
]
MOBILE_EVENTS = [("Viewed Dashboard", {"dashboard": ["usage", "pipeline"]}), ("Invited User", {"role": ["admin"]})]
MOBILE_CONTEXT = {"app": {"name": "Demo Co iOS", "version": "4.2.0"}, "os": {"name": "iOS"}, "device": {"type": "ios"}}

_ADJECTIVES = [
    "Blue",
    "North",
    "Bright",
    "Silver",
    "Quiet",
    "Rapid",
    "Golden",
    "Open",
    "Clear",
    "Iron",
    "Red",
    "Green",
    "Swift",
    "Solid",
    "Prime",
    "Nova",
    "Lunar",
    "Solar",
    "Urban",
    "Coastal",
    "Alpine",
    "Cedar",
    "Maple",
    "Granite",
    "Harbor",
    "Summit",
    "Vertex",
    "Polar",
    "Amber",
    "Crimson",
]
_NOUNS = [
    "Labs",
    "Works",
    "Systems",
    "Logistics",
    "Health",
    "Foods",
    "Analytics",
    "Robotics",
    "Media",
    "Capital",
    "Energy",
    "Bank",
    "Studio",
    "Cloud",
    "Retail",
    "Motors",
    "Networks",
    "Software",
    "Partners",
    "Freight",
    "Games",
    "Insurance",
    "Pharma",
    "Telecom",
    "Travel",
]
_FIRST = [
    "ada",
    "grace",
    "alan",
    "edsger",
    "barbara",
    "ken",
    "margaret",
    "linus",
    "radia",
    "donald",
    "frances",
    "john",
    "hedy",
    "tim",
    "katherine",
    "dennis",
    "annie",
    "guido",
    "sophie",
    "leslie",
    "shafi",
    "adele",
    "niklaus",
    "marvin",
    "jean",
]
_LAST = [
    "lovelace",
    "hopper",
    "turing",
    "dijkstra",
    "liskov",
    "thompson",
    "hamilton",
    "torvalds",
    "perlman",
    "knuth",
    "allen",
    "backus",
    "lamarr",
    "berners-lee",
    "johnson",
    "ritchie",
    "easley",
    "rossum",
    "wilson",
    "lamport",
    "goldwasser",
    "goldberg",
    "wirth",
    "minsky",
    "sammet",
]


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    domain: str
    plan: str


@dataclass
class Traffic:
    """Generated calls in send order, and what they hold."""

    calls: list[dict[str, Any]]
    seed: int
    accounts: list[Account]  # the accounts at least one user is grouped into
    users: int  # distinct userIds
    identified_first: int  # users whose identify and group precede everything they do
    anonymous_linked: int  # users whose earlier anonymous visits an identify links
    late_mobile: int  # mobile calls sent last with timestamps hours old
    resent: int  # calls sent a second time with the same messageId
    busiest: list[str] = field(default_factory=list)  # account ids, most active first

    @property
    def unique_calls(self) -> int:
        """Calls with distinct messageIds: what the warehouse should hold as events."""
        return len(self.calls) - self.resent


def _accounts(rng: random.Random, n: int) -> list[Account]:
    pairs = [f"{a} {b}" for a in _ADJECTIVES for b in _NOUNS]
    names = rng.sample(pairs, min(n, len(pairs)))
    names += [f"{rng.choice(pairs)} {i}" for i in range(len(names), n)]  # past 750, numbered
    out = []
    for name in names:
        slug = name.lower().replace(" ", "-")
        plan = rng.choices(["trial", "pro", "enterprise"], weights=[5, 3, 2])[0]
        out.append(Account(slug, name, slug.replace("-", "") + ".example", plan))
    return out


def _activity(rng: random.Random, user_id: str, account: Account, at: datetime, message_id: str) -> dict:
    kind, name, _, options = rng.choices(ACTIVITY, weights=[a[2] for a in ACTIVITY])[0]
    properties = {key: rng.choice(values) for key, values in options.items()}
    call: dict[str, Any] = {"type": kind, "userId": user_id, "timestamp": at, "messageId": message_id}
    if kind == "page":
        call.update(name=name, properties=properties)
    else:
        call.update(event=name, properties=properties, context={"groupId": account.account_id})
    return call


def generate(calls: int = 30_000, *, seed: int = 21, now: datetime | None = None, days: int = 7) -> Traffic:
    """Exactly ``calls`` calls (at least 40) over the ``days`` days before ``now``."""
    if calls < 40:
        raise ValueError(f"calls: must be at least 40 (got {calls}) to hold every kind of call")
    rng = random.Random(seed)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    start = now - timedelta(days=days)
    span = (now - start).total_seconds()
    n_users = max(4, calls // 10)
    accounts = _accounts(rng, max(2, n_users // 10))
    account_weights = [rng.paretovariate(2.0) for _ in accounts]
    late_mobile = max(1, calls // LATE_MOBILE_PER_CALLS)
    resent = max(1, calls // RESENT_PER_CALLS)

    users = []
    for u in range(n_users):
        account = rng.choices(accounts, weights=account_weights)[0]
        users.append(
            {
                "id": f"user-{u + 1:05d}",
                "account": account,
                "first": _FIRST[u % len(_FIRST)],
                "last": _LAST[(u // len(_FIRST)) % len(_LAST)],
                "weight": rng.paretovariate(1.6),
                # users first appear all through the week, more of them early on
                "since": start + timedelta(seconds=span * rng.random() ** 1.5 * 0.9),
                "late_identified": rng.random() < LATE_IDENTIFIED,
                "anonymous": f"anon-{rng.getrandbits(48):012x}" if rng.random() < ANONYMOUS_FIRST else None,
            }
        )
    accounts = [a for a in accounts if any(u["account"] is a for u in users)]  # those someone uses
    anonymous_pages = {u["id"]: rng.randint(1, 3) for u in users if u["anonymous"]}
    n_activity = calls - 2 * n_users - sum(anonymous_pages.values()) - late_mobile - resent
    if n_activity < 0:
        raise ValueError(f"calls: {calls} is too few for {n_users} users")

    # Who does what: each activity event goes to a user in proportion to their weight.
    counts: dict[str, int] = {}
    for user in rng.choices(users, weights=[u["weight"] for u in users], k=n_activity):
        counts[user["id"]] = counts.get(user["id"], 0) + 1

    timeline: list[dict[str, Any]] = []
    activity_by_account: dict[str, int] = {}
    identified_first = 0
    for user in users:
        uid, account, since = user["id"], user["account"], user["since"]
        left = (now - since).total_seconds()
        times = sorted(since + timedelta(seconds=60 + rng.random() * (left - 120)) for _ in range(counts.get(uid, 0)))
        for n, at in enumerate(times):
            timeline.append(_activity(rng, uid, account, at, f"demo-{seed}-{uid}-{n}"))
        activity_by_account[account.account_id] = activity_by_account.get(account.account_id, 0) + len(times)
        # identify and group come first, or for the late-identified after their first action
        identified = (
            since if not user["late_identified"] or not times else times[len(times) // 2] + timedelta(seconds=1)
        )
        identified_first += identified == since
        traits = {
            "name": f"{user['first'].title()} {user['last'].title()}",
            "email": f"{user['first']}.{user['last']}.{uid[-5:]}@{account.domain}",
            "title": rng.choice(["Engineer", "Product Manager", "Head of Sales", "CTO", "Analyst"]),
        }
        identify: dict[str, Any] = {
            "type": "identify",
            "userId": uid,
            "traits": {**traits, "company": {"id": account.account_id, "name": account.name}},
            "timestamp": identified,
            "messageId": f"demo-{seed}-{uid}-identify",
        }
        if user["anonymous"]:
            identify["anonymousId"] = user["anonymous"]
            for p in range(anonymous_pages[uid]):
                timeline.append(
                    {
                        "type": "page",
                        "anonymousId": user["anonymous"],
                        "name": "Pricing" if p == 0 else "Docs",
                        "properties": {"path": "/pricing" if p == 0 else "/docs/getting-started"},
                        "timestamp": identified - timedelta(minutes=30 * (anonymous_pages[uid] - p)),
                        "messageId": f"demo-{seed}-{uid}-anon-{p}",
                    }
                )
        timeline.append(identify)
        timeline.append(
            {
                "type": "group",
                "userId": uid,
                "groupId": account.account_id,
                "traits": {"name": account.name, "plan": account.plan, "website": f"https://{account.domain}"},
                "timestamp": identified + timedelta(milliseconds=500),
                "messageId": f"demo-{seed}-{uid}-group",
            }
        )
    # Stable order: a user's identify sorts before the group call of the same instant.
    timeline.sort(key=lambda c: c["timestamp"])

    # Client re-sends: the same call again shortly after, as a retry after a lost answer.
    originals = rng.sample([i for i, c in enumerate(timeline) if c["type"] in ("track", "page")], resent)
    for i in sorted(originals, reverse=True):  # from the end, so earlier positions hold
        timeline.insert(i + 1 + rng.randint(0, 50), dict(timeline[i]))

    # Late mobile events: identified users' phones, offline for hours, sending last.
    identified_users = [u for u in users if not u["late_identified"] and not u["anonymous"]]
    for n, user in enumerate(rng.sample(identified_users, late_mobile)):
        event, options = rng.choice(MOBILE_EVENTS)
        timeline.append(
            {
                "type": "track",
                "userId": user["id"],
                "event": event,
                "properties": {key: rng.choice(values) for key, values in options.items()},
                "context": {**MOBILE_CONTEXT, "groupId": user["account"].account_id},
                "timestamp": now - timedelta(hours=2 + 6 * rng.random()),
                "messageId": f"demo-{seed}-mobile-{n}",
            }
        )
    for call in timeline:
        call["timestamp"] = call["timestamp"].isoformat()
    busiest = sorted(activity_by_account, key=lambda a: (-activity_by_account[a], a))
    return Traffic(
        calls=timeline,
        seed=seed,
        accounts=accounts,
        users=n_users,
        identified_first=identified_first,
        anonymous_linked=len(anonymous_pages),
        late_mobile=late_mobile,
        resent=resent,
        busiest=busiest,
    )


# -- sending ------------------------------------------------------------------------------


@dataclass
class SendReport:
    sent: int
    failed: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def send(
    calls: list[dict[str, Any]],
    write_key: str,
    host: str,
    *,
    progress: Callable[[int, int], None] | None = None,
    upload_size: int = 100,
) -> SendReport:
    """Send ``calls`` with Segment's Python library as a customer's backend does: queued,
    uploaded by its own thread in batches of up to ``upload_size`` (Segment's limit is 100)
    to ``/v1/batch``. ``progress(done, total)`` is called about ten times a second."""
    from segment.analytics import Client

    failed: list[int] = []
    lock = threading.Lock()

    def on_error(_error: Exception, batch: list) -> None:
        with lock:
            failed.append(len(batch))

    client = Client(
        write_key=write_key,
        host=host,
        max_queue_size=len(calls) + 1,  # the library drops calls when its queue is full
        upload_size=upload_size,
        upload_interval=0.05,
        on_error=on_error,
    )
    began = time.monotonic()
    for call in calls:
        send_call(client, call)
    total = len(calls)
    while (waiting := client.queue.unfinished_tasks) > 0:
        if progress:
            progress(total - waiting, total)
        time.sleep(0.1)
    client.flush()
    client.join()
    seconds = time.monotonic() - began
    if progress:
        progress(total, total)
    return SendReport(sent=total - sum(failed), failed=sum(failed), seconds=seconds)
