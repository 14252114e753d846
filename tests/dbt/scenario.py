"""The events the dbt tests share: three organisations (one per account mapping) whose
user and account ids collide, with late identity and account links, equal timestamps, an
expiry meeting an arrival, duplicates and events later than the allowed lateness; the
pipeline's rows for them from the batch backfill and from the streaming engine in a
shuffled arrival order; and the definitions dbt gets."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import NamedTuple

from tests.support.events import DAY, HOUR, MIN, T0, config, event, milestone, track
from variance.cli import dbt as cli_dbt
from variance.core.engine.config import OrgConfig
from variance.core.engine.engine import OrgEngine
from variance.core.events import SignalEvent
from variance.core.tag_tree import parse_definition
from variance.core.warehouse import TABLES

LATENESS = 2 * DAY
AS_OF = T0 + 6 * DAY  # after every event, before some expiries
MAPPINGS = {"org_g": "group", "org_t": "identify_traits", "org_e": "email_domain"}
USERS = [f"u{i}" for i in range(6)]
ACCOUNTS = {"u0": "acme", "u1": "acme", "u2": "globex", "u3": "globex", "u4": "initech", "u5": "acme"}
FREE_MAIL_USER = "u4"  # email_domain: gmail.com never becomes an account


@dataclass
class Scenario:
    configs: dict[str, OrgConfig]
    events: list[SignalEvent]
    arrivals: list[SignalEvent]  # shuffled, with duplicates and very late ones
    too_late: set[str] = field(default_factory=set)  # message ids streaming skipped


def _link(org: str, user: str, t: int, n: str) -> SignalEvent:
    account = ACCOUNTS[user]
    mapping = MAPPINGS[org]
    if mapping == "group":
        return event("group", f"{org}-{n}", t, org=org, user=user, group=account, traits={"name": account.title()})
    if mapping == "identify_traits":
        traits = {"company": {"id": account, "name": account.title()}, "plan": "pro" if user < "u3" else "free"}
        return event("identify", f"{org}-{n}", t, org=org, user=user, traits=traits)
    domain = "gmail.com" if user == FREE_MAIL_USER else f"{account}.com"
    return event("identify", f"{org}-{n}", t, org=org, user=user, traits={"email": f"{user}@{domain}", "seats": 3})


def build(seed: int = 7) -> Scenario:
    rng = random.Random(seed)
    events: list[SignalEvent] = []
    configs = {}
    for org, mapping in MAPPINGS.items():
        configs[org] = config(
            org=org,
            mapping=mapping,
            id_trait="company.id" if mapping == "identify_traits" else None,
            milestones=[
                milestone(
                    f"mil_{org}_pql",
                    filters=[{"path": "role", "op": "equals", "value": "admin"}],
                    threshold=3,
                    window_us=DAY,
                ),
                milestone(f"mil_{org}_active", name="Active", entity="contact", threshold=2, window_us=12 * HOUR),
                milestone(f"mil_{org}_first", name="First", entity="contact", threshold=1, window_us=None),
                milestone(
                    f"mil_{org}_pricing",
                    name="Pricing",
                    entity="account",
                    kind="Page",
                    event_name=None,
                    threshold=2,
                    window_us=None,
                    filters=[{"path": "path", "op": "starts_with", "value": "/pricing"}],
                ),
            ],
        )
        for i, user in enumerate(USERS):
            # u5's account link comes late (day 3): its earlier events have no account then
            t = T0 + 3 * DAY + 17 if user == "u5" else T0 - DAY + i * MIN + 3
            events.append(_link(org, user, t, f"link-{user}"))
        events.append(event("identify", f"{org}-alias", T0 + 2 * DAY + 5, org=org, user="u1", anon="anon-1"))
        for i in range(70):
            t = T0 + rng.randrange(0, 5 * DAY)
            who = {"anon": "anon-1"} if rng.random() < 0.1 else {"user": rng.choice(USERS)}
            role = rng.choice(["admin", "admin", "member"])
            if rng.random() < 0.2:
                path = rng.choice(["/pricing", "/pricing/teams", "/docs"])
                events.append(event("page", f"{org}-p{i}", t, org=org, name="Page", properties={"path": path}, **who))
            else:
                events.append(track(f"{org}-t{i}", t, org=org, properties={"role": role}, **who))
        # equal timestamps count together; an expiry meets an arrival (u0, window one day)
        base = T0 + 4 * DAY + 11
        for n, t in enumerate([base, base, base + HOUR, base + DAY, base + DAY]):
            events.append(track(f"{org}-eq{n}", t, org=org, user="u0", properties={"role": "admin"}))
    arrivals, too_late = _arrival_order(rng, events)
    return Scenario(configs, events, arrivals, too_late)


def _arrival_order(rng: random.Random, events: list[SignalEvent]) -> tuple[list[SignalEvent], set[str]]:
    """Links first, then events delayed by up to a day, some twice, and a few held back
    until the watermark is days past them (streaming skips those for milestones)."""
    links = [e for e in events if e.type in ("group", "identify") and e.event_time < T0]
    rest = [e for e in events if e not in links]
    held = {e.message_id for e in rng.sample([e for e in rest if e.type == "track" and e.event_time < T0 + DAY], 6)}
    delayed = [(e.event_time + (8 * DAY if e.message_id in held else rng.randrange(0, DAY)), e) for e in rest]
    delayed += [(t + rng.randrange(0, HOUR), e) for t, e in rng.sample(delayed, 20)]
    delayed.sort(key=lambda pair: pair[0])
    return links + [e for _, e in delayed], held


def streaming_rows(scenario: Scenario) -> list:
    """The streaming engine (what ComputeSignals runs per organisation) over the arrivals,
    the watermark a day behind the latest arrival."""
    rows = []
    engines = {}
    for org, cfg in scenario.configs.items():
        engines[org] = OrgEngine(org, lateness_us=LATENESS, source="streaming")
        engines[org].configure(cfg)
    latest = T0 - 2 * DAY
    for e in scenario.arrivals:
        engine = engines[e.org_id]
        rows.extend(engine.process(e))
        latest = max(latest, e.event_time)
        rows.extend(engine.advance(min(latest - DAY, AS_OF)))
    for engine in engines.values():
        rows.extend(engine.advance(AS_OF))
    return [r for r in rows if r[0] in TABLES]


def definitions(scenario: Scenario) -> cli_dbt.Definitions:
    """The milestones as the app database holds them, and tags and views over them."""
    found = cli_dbt.Definitions()
    for org, cfg in scenario.configs.items():
        for m in cfg.milestones.values():
            window = m.window_us // 1_000_000 if m.window_us else None
            found.milestones.append(
                cli_dbt.MilestoneDef(
                    org, m.id, m.name, m.version, m.entity, m.kind, m.event_name, m.filters, m.threshold, window
                )
            )
        trees = tag_trees(org)
        for tag_id, (entity, tree) in trees.tags.items():
            found.tags.append(cli_dbt.TreeDef(org, tag_id, tag_id, entity, parse_definition(tree)))
        views = trees.views
        names = cli_dbt.warehouse_view_names(
            [(org, v, name) for v, (name, _, vis, _) in views.items() if vis == "team"]
        )
        for view_id, (name, entity, visibility, tree) in views.items():
            found.views.append(
                cli_dbt.TreeDef(org, view_id, name, entity, parse_definition(tree), visibility, names.get(view_id))
            )
    return found


def _group(match: str, *conditions: dict) -> dict:
    return {"type": "group", "match": match, "conditions": list(conditions)}


class Trees(NamedTuple):
    """One organisation's smart tags ``{id: (entity, tree)}`` and views
    ``{id: (name, entity, visibility, tree)}``."""

    tags: dict
    views: dict


def tag_trees(org: str) -> Trees:
    pql = f"mil_{org}_pql"
    tags = {
        f"tag_{org}_hot": (
            "account",
            _group(
                "any",
                {"type": "milestone", "milestone_id": pql, "status": "achieved", "days": None},
                {"type": "event_count", "kind": "Action", "name": "Invited User", "op": "gte", "value": 6, "days": 3},
            ),
        ),
        f"tag_{org}_cold": (
            "account",
            _group(
                "all",
                {"type": "tag", "tag_id": f"tag_{org}_hot", "has": False},
                {"type": "trait", "filter": {"path": "name", "op": "not_equals", "value": "Globex"}},
            ),
        ),
        f"tag_{org}_fans": (
            "contact",
            _group(
                "all",
                {"type": "milestone", "milestone_id": f"mil_{org}_first", "status": "achieved_within", "days": 4},
                _group(
                    "any",
                    {"type": "trait", "filter": {"path": "plan", "op": "equals", "value": "pro"}},
                    {"type": "trait", "filter": {"path": "email", "op": "contains", "value": "acme"}},
                    {"type": "event_count", "kind": "Page", "name": None, "op": "lt", "value": 1, "days": 7},
                ),
            ),
        ),
    }
    views = {
        f"view_{org}_pipeline": (
            "Sales Pipeline!",
            "account",
            "team",
            _group("all", {"type": "tag", "tag_id": f"tag_{org}_hot", "has": True}),
        ),
        f"view_{org}_mine": (
            "Sales pipeline",
            "contact",
            "personal",
            _group(
                "all",
                {"type": "milestone", "milestone_id": f"mil_{org}_active", "status": "not_achieved", "days": None},
            ),
        ),
    }
    return Trees(tags, views)
