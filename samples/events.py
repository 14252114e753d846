"""Sample Segment calls of a small B2B SaaS product, for the demo and benchmarks.

Deterministic for a given seed, so a demo run and its expected output agree.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

ACCOUNTS = [
    ("acme", "Acme Inc", "acme.com"),
    ("globex", "Globex", "globex.io"),
    ("initech", "Initech", "initech.com"),
    ("umbrella", "Umbrella", "umbrella.co"),
]
FIRST_NAMES = ["ada", "grace", "alan", "edsger", "barbara", "ken", "margaret", "linus", "radia", "donald"]
ACTIONS = [
    ("Invited User", {"role": ["admin", "member"]}),
    ("Created Project", {}),
    ("Connected Integration", {"kind": ["slack", "github"]}),
]
PAGES = ["/pricing", "/docs/getting-started", "/docs/api", "/blog/launch", "/pricing/enterprise"]


def sample_calls(
    seed: int = 7, users: int = 10, events_per_user: int = 8, start: datetime | None = None
) -> list[dict[str, Any]]:
    """identify + group for each user, then a mix of track and page calls over a few days."""
    rng = random.Random(seed)
    start = start or datetime.now(timezone.utc) - timedelta(days=3)
    calls: list[dict[str, Any]] = []
    for index in range(users):
        account_id, account_name, domain = ACCOUNTS[index % len(ACCOUNTS)]
        name = FIRST_NAMES[index % len(FIRST_NAMES)]
        user_id = f"user-{index + 1}"
        at = start + timedelta(minutes=index)
        calls.append(
            {
                "type": "identify",
                "userId": user_id,
                "traits": {
                    "name": name.title(),
                    "email": f"{name}@{domain}",
                    "company": {"id": account_id, "name": account_name},
                },
                "timestamp": at.isoformat(),
                "messageId": f"sample-{seed}-{index}-identify",
            }
        )
        calls.append(
            {
                "type": "group",
                "userId": user_id,
                "groupId": account_id,
                "traits": {"name": account_name, "plan": rng.choice(["trial", "pro", "enterprise"])},
                "timestamp": (at + timedelta(seconds=1)).isoformat(),
                "messageId": f"sample-{seed}-{index}-group",
            }
        )
        for n in range(events_per_user):
            at = at + timedelta(minutes=rng.randint(5, 600))
            message_id = f"sample-{seed}-{index}-{n}"
            if rng.random() < 0.6:
                event, options = rng.choice(ACTIONS)
                properties = {key: rng.choice(values) for key, values in options.items()}
                calls.append(
                    {
                        "type": "track",
                        "userId": user_id,
                        "event": event,
                        "properties": properties,
                        "context": {"groupId": account_id},
                        "timestamp": at.isoformat(),
                        "messageId": message_id,
                    }
                )
            else:
                path = rng.choice(PAGES)
                calls.append(
                    {
                        "type": "page",
                        "userId": user_id,
                        "name": path.strip("/").split("/")[0].title() or "Home",
                        "properties": {"path": path},
                        "timestamp": at.isoformat(),
                        "messageId": message_id,
                    }
                )
    return calls


def send_with_segment(calls: list[dict[str, Any]], write_key: str, host: str) -> int:
    """Send ``calls`` (as ``sample_calls`` makes them) with Segment's own Python library,
    as a customer's backend would; returns how many were sent. Needs the
    ``segment-analytics-python`` package (in requirements.txt, not in the package)."""
    from segment.analytics import Client

    client = Client(write_key=write_key, host=host, sync_mode=True)
    for call in calls:
        send_call(client, call)
    client.flush()
    return len(calls)


def send_call(client: Any, original: dict[str, Any]) -> None:
    """One call (as the samples write them: Segment's JSON) through a Segment ``Client``."""
    call = dict(original)
    kind = call.pop("type")
    common = {
        "timestamp": datetime.fromisoformat(call.pop("timestamp")),
        "message_id": call.pop("messageId"),
        "context": call.pop("context", None),
        "anonymous_id": call.pop("anonymousId", None),
        "user_id": call.pop("userId", None),
    }
    if kind == "identify":
        client.identify(traits=call["traits"], **common)
    elif kind == "group":
        client.group(group_id=call["groupId"], traits=call["traits"], **common)
    elif kind == "track":
        client.track(event=call["event"], properties=call["properties"], **common)
    else:
        client.page(name=call["name"], properties=call["properties"], **common)
