"""The strongest dbt test: on the same events (shuffled, duplicated, late, three
organisations with colliding user ids, all three account mappings) dbt's
fct_milestone_changes equals the backfill's current milestone changes change for change,
and its tag and view membership equals the app's meaning (core/tag_tree.py's evaluator)
over what the app serves. The one allowed difference, events the streaming pipeline
skipped as too late, is shown."""

from __future__ import annotations

import duckdb
import orjson

from tests.dbt import scenario as sc
from variance.core.engine.batch import current_milestone_changes, current_rows, run_batch
from variance.core.tag_tree import EntityFacts, MilestoneFact, count_window, evaluate, evaluate_tags, parse_definition
from variance.core.timeutil import from_micros, to_micros
from variance.core.vocabulary import Stage, WarehouseTable
from variance.serving.fold import Fold


def mart(built, name: str) -> list[dict]:
    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    relation = connection.sql(f"select * from read_parquet('{built.marts / (name + '.parquet')}')")
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def dbt_changes(built) -> set[tuple]:
    return {
        (r["milestone_id"], r["entity_type"], r["entity_id"], r["kind"], to_micros(r["changed_at"]), r["count"])
        for r in mart(built, "fct_milestone_changes")
    }


def test_milestone_changes_equal_the_backfill_change_for_change(built):
    expected = current_milestone_changes(built.backfill_rows)
    assert dbt_changes(built) == expected
    assert {r[3] for r in expected} == {"achieved", "lost"} and len({r[0] for r in expected}) == 12
    # the same change has the same id, version and name in both
    pipeline = {
        r["change_id"]: (r["milestone_version"], r["milestone_name"], r["org_id"])
        for r in current_rows(built.backfill_rows, WarehouseTable.milestone_changes).values()
        if r["status"] == "current"
    }
    assert {
        r["change_id"]: (r["milestone_version"], r["milestone_name"], r["org_id"])
        for r in mart(built, "fct_milestone_changes")
    } == pipeline


def test_the_streaming_pipeline_differs_only_by_the_events_it_skipped_as_too_late(built):
    streaming = current_milestone_changes(built.streaming_rows)
    assert streaming != dbt_changes(built), "the scenario should hold events later than the allowed lateness"
    skipped = {
        r["message_id"]
        for r in current_rows(built.streaming_rows, WarehouseTable.dead_letters).values()
        if r["stage"] == Stage.milestones
    }
    assert skipped == built.scenario.too_late
    without_late = [e for e in built.scenario.events if e.message_id not in skipped]
    recomputed = set()
    for org, cfg in built.scenario.configs.items():
        rows = run_batch(cfg, [e for e in without_late if e.org_id == org], sc.AS_OF, sc.LATENESS)
        recomputed |= current_milestone_changes(rows)
    assert streaming == recomputed


def test_events_are_one_per_key_with_the_entities_as_of_their_time(built):
    events = mart(built, "fct_events")
    keys = [(r["org_id"], r["message_id"]) for r in events]
    assert len(keys) == len(set(keys)) == len({(e.org_id, e.message_id) for e in built.scenario.events})
    pipeline = {
        (r["org_id"], r["message_id"]): r for r in current_rows(built.backfill_rows, WarehouseTable.events).values()
    }
    for r in events:  # the backfill attributed in event-time order: as of each event's time
        p = pipeline[(r["org_id"], r["message_id"])]
        assert (r["contact_id"], r["account_id"]) == (p["contact_id"], p["account_id"]), r["message_id"]
    u5 = [r for r in events if r["user_id"] == "u5" and r["event_time"] < from_micros(sc.T0 + 3 * sc.DAY)]
    assert u5 and all(r["account_id"] is None for r in u5)
    assert {r["retroactive_account_id"] for r in u5 if r["org_id"] != "org_e"} == {"acme"}
    email_org = [r for r in events if r["org_id"] == "org_e" and r["user_id"] == sc.FREE_MAIL_USER]
    assert email_org and all(r["account_id"] is None for r in email_org)  # gmail.com is no account


def _app_facts(built, org: str, entity: str, entity_id: str, fold: Fold, status: dict) -> EntityFacts:
    now = from_micros(sc.AS_OF)
    folds = fold.contacts if entity == "contact" else fold.accounts
    traits = folds[(org, entity_id)].trait_values

    def counts(kind: str, name: str | None, days: int) -> int:
        first, last = count_window(now, days)
        return sum(
            n
            for (o, t, e, day, k, nm), n in fold.daily.items()
            if (o, t, e, k, nm) == (org, entity, entity_id, kind, name or "")
            and first.isoformat() <= day <= last.isoformat()
        )

    milestones = {m: fact for (o, m, e), fact in status.items() if (o, e) == (org, entity_id)}
    return EntityFacts(now=now, traits=traits, milestones=milestones, event_counts=counts)


def _app_status(built) -> dict:
    """The app's milestone status: the latest current change of each (milestone, entity)."""
    latest: dict = {}
    for r in current_rows(built.backfill_rows, WarehouseTable.milestone_changes).values():
        if r["status"] != "current":
            continue
        key = (r["org_id"], r["milestone_id"], r["entity_id"])
        if key not in latest or r["changed_at"] > latest[key]["changed_at"]:
            latest[key] = r
    return {
        k: MilestoneFact(r["kind"] == "achieved", from_micros(r["changed_at"]) if r["kind"] == "achieved" else None)
        for k, r in latest.items()
    }


def test_tag_and_view_membership_equal_the_apps_meaning(built):
    fold = Fold(retention=1000, rebuild=True)
    fold.add_all(built.backfill_rows)
    status = _app_status(built)
    expected_tags, expected_views = set(), set()
    for org in sc.MAPPINGS:
        trees = sc.tag_trees(org)
        for entity in ("contact", "account"):
            definitions = {t: parse_definition(tree) for t, (e, tree) in trees.tags.items() if e == entity}
            entities = [k[1] for k in (fold.contacts if entity == "contact" else fold.accounts) if k[0] == org]
            for entity_id in entities:
                facts = _app_facts(built, org, entity, entity_id, fold, status)
                carried = evaluate_tags(definitions, facts)
                expected_tags |= {(org, t, entity_id) for t in carried}
                with_tags = EntityFacts(facts.now, facts.traits, facts.milestones, facts.event_counts, carried)
                for view_id, (_, view_entity, _, tree) in trees.views.items():
                    if view_entity == entity and evaluate(parse_definition(tree), with_tags):
                        expected_views.add((org, view_id, entity_id))
    assert {(r["org_id"], r["tag_id"], r["entity_id"]) for r in mart(built, "fct_tag_members")} == expected_tags
    assert {(r["org_id"], r["view_id"], r["entity_id"]) for r in mart(built, "fct_view_members")} == expected_views
    assert len({t for _, t, _ in expected_tags}) >= 6, "every tag should hold someone"


def test_dimensions_hold_the_latest_traits_and_current_account(built):
    fold = Fold(retention=1000, rebuild=True)
    fold.add_all(built.backfill_rows)
    contacts = {(r["org_id"], r["contact_id"]): r for r in mart(built, "dim_contacts")}
    assert set(contacts) == set(fold.contacts)
    for key, held in fold.contacts.items():
        assert orjson.loads(contacts[key]["traits"]) == held.trait_values, key
        assert contacts[key]["account_id"] == (held.link[1] if held.link else None), key
    accounts = {(r["org_id"], r["account_id"]): r for r in mart(built, "dim_accounts")}
    assert set(accounts) == set(fold.accounts)
    for key, held in fold.accounts.items():
        assert orjson.loads(accounts[key]["traits"]) == held.trait_values, key
        assert (to_micros(accounts[key]["first_seen_at"]), to_micros(accounts[key]["last_seen_at"])) == (
            held.first_us,
            held.last_us,
        ), key
