"""Generated Segment calls for the pipeline benchmarks: a few hundred accounts, a few
thousand users, realistic mixes of identify, group, track and page calls."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

ACTIONS = ("Invited User", "Created Project", "Connected Integration", "Exported Report")


def calls(n: int, *, seed: int = 1, users: int = 5000, accounts: int = 500, days: int = 30) -> Iterator[dict]:
    """``n`` calls in time order over ``days`` days ending now."""
    rng = random.Random(seed)
    start = datetime.now(timezone.utc) - timedelta(days=days)
    step = timedelta(days=days) / max(n, 1)
    for u in range(users):
        at = start + step * (u * n // (users * 50))
        yield {
            "type": "group",
            "userId": f"user-{u}",
            "groupId": f"acct-{u % accounts}",
            "traits": {"name": f"Account {u % accounts}"},
            "timestamp": at.isoformat(),
            "messageId": f"g-{seed}-{u}",
        }
    for i in range(n - users):
        at = start + step * i
        user = f"user-{rng.randrange(users)}"
        if rng.random() < 0.7:
            yield {
                "type": "track",
                "userId": user,
                "event": rng.choice(ACTIONS),
                "properties": {"role": rng.choice(("admin", "member")), "seats": rng.randint(1, 50)},
                "timestamp": at.isoformat(),
                "messageId": f"t-{seed}-{i}",
            }
        else:
            yield {
                "type": "page",
                "userId": user,
                "name": "Pricing",
                "properties": {"path": rng.choice(("/pricing", "/docs", "/blog"))},
                "timestamp": at.isoformat(),
                "messageId": f"p-{seed}-{i}",
            }
