"""The signals engine: attribution, milestones, corrections, matching, de-duplication."""

from __future__ import annotations

import random
from dataclasses import fields

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.events import (
    DAY,
    HOUR,
    MIN,
    T0,
    config,
    event,
    follow_stream,
    milestone,
    selector,
    selector_stream,
    track,
)
from variance.core.engine.batch import current_milestone_changes, current_stream_matches, run_batch
from variance.core.engine.engine import OrgEngine
from variance.core.rows import ACTIVITY, ActivityRecord
from variance.core.vocabulary import Stage
from variance.core.warehouse import (
    ACCOUNTS,
    CONTACT_ACCOUNT_LINKS,
    CONTACTS,
    DEAD_LETTERS,
    EVENTS,
    MILESTONE_CHANGES,
    TABLES,
    invalid_reason,
)

ADMIN = [{"path": "role", "op": "equals", "value": "admin"}]


def rows_of(rows, table):
    return [r for name, r in rows if name == table]


def streaming(cfg, events, *, lateness=3 * DAY, advance_every=1):
    """Feed events in the given (arrival) order, advancing to the latest event time seen."""
    engine = OrgEngine(cfg.org_id, lateness_us=lateness, clock=lambda: 0)
    engine.configure(cfg)
    rows, watermark = [], None
    for i, e in enumerate(events):
        rows += engine.process(e)
        watermark = e.event_time if watermark is None else max(watermark, e.event_time)
        if i % advance_every == 0:
            rows += engine.advance(watermark - HOUR)
    return engine, rows


def test_three_admin_invites_in_30_days_make_the_account_a_pql():
    cfg = config(milestones=[milestone(filters=ADMIN)])
    events = [
        event("group", "g1", T0, user="u1", group="acme", traits={"name": "Acme"}),
        track("t1", T0 + DAY, user="u1", properties={"role": "admin"}),
        track("t2", T0 + 2 * DAY, user="u1", properties={"role": "member"}),
        track("t3", T0 + 3 * DAY, user="u1", properties={"role": "admin"}),
        track("t4", T0 + 4 * DAY, user="u1", properties={"role": "admin"}),
    ]
    rows = run_batch(cfg, events, T0 + 60 * DAY, 3 * DAY, clock=lambda: 0)
    assert current_milestone_changes(rows) == {
        ("mil_pql", "account", "acme", "achieved", T0 + 4 * DAY, 3),
        ("mil_pql", "account", "acme", "lost", T0 + 31 * DAY, 2),
    }
    [link] = rows_of(rows, CONTACT_ACCOUNT_LINKS.name)
    assert (link["contact_id"], link["account_id"], link["method"]) == ("u1", "acme", "group")
    assert {r["account_id"] for r in rows_of(rows, EVENTS.name)} == {"acme"}


def test_an_event_before_the_first_link_counts_for_no_account():
    cfg = config(milestones=[milestone(threshold=1)])
    events = [track("t1", T0, user="u1"), event("group", "g1", T0 + MIN, user="u1", group="acme")]
    rows = run_batch(cfg, events, T0 + DAY, 3 * DAY)
    assert current_milestone_changes(rows) == set()
    assert rows_of(rows, EVENTS.name)[0]["account_id"] is None


def test_identify_traits_and_email_domain_mappings():
    by_traits = config(mapping="identify_traits", id_trait="company.id")
    rows = run_batch(
        by_traits, [event("identify", "i1", T0, user="u1", traits={"company": {"id": 42, "name": "Acme"}})], T0, DAY
    )
    assert [(r["account_id"], r["source"]) for r in rows_of(rows, ACCOUNTS.name)] == [("42", "identify_traits")]
    by_domain = config(mapping="email_domain")
    rows = run_batch(
        by_domain,
        [
            event("identify", "i1", T0, user="u1", traits={"email": "Ada@Acme.COM"}),
            event("identify", "i2", T0, user="u2", traits={"email": "someone@gmail.com"}),
        ],
        T0,
        DAY,
    )
    assert [(r["account_id"], r["source"]) for r in rows_of(rows, ACCOUNTS.name)] == [("acme.com", "email_domain")]
    assert {r["contact_id"]: r["email"] for r in rows_of(rows, CONTACTS.name)} == {
        "u1": "ada@acme.com",
        "u2": "someone@gmail.com",
    }


def test_anonymous_events_belong_to_the_user_linked_at_or_before_them():
    cfg = config(milestones=[milestone(entity="contact", event_name="Viewed", threshold=2, window_us=None)])
    events = [
        track("a1", T0, event_name="Viewed", anon="anon-1"),
        event("identify", "i1", T0 + MIN, user="u1", anon="anon-1"),
        track("a2", T0 + 2 * MIN, event_name="Viewed", anon="anon-1"),
        track("a3", T0 + 3 * MIN, event_name="Viewed", anon="anon-1"),
    ]
    rows = run_batch(cfg, events, T0 + DAY, DAY)
    assert [r["contact_id"] for r in rows_of(rows, EVENTS.name)] == ["anon-1", "u1", "u1", "u1"]
    assert current_milestone_changes(rows) == {("mil_pql", "contact", "u1", "achieved", T0 + 3 * MIN, 2)}


def test_a_late_identify_moves_counts_to_the_user():
    cfg = config(milestones=[milestone(entity="contact", event_name="Viewed", threshold=2, window_us=None)])
    identify = event("identify", "i1", T0, user="u1", anon="anon-1")
    views = [track(f"v{i}", T0 + i * MIN, event_name="Viewed", anon="anon-1") for i in (1, 2)]
    engine, rows = streaming(cfg, [*views, identify])
    rows += engine.advance(T0 + DAY)
    # first counted for the anonymous contact, then corrected
    assert current_milestone_changes(rows) == {("mil_pql", "contact", "u1", "achieved", T0 + 2 * MIN, 2)}
    assert engine.stats.corrections == 2


def test_a_late_group_call_moves_counts_to_the_account():
    cfg = config(milestones=[milestone(threshold=2)])
    invites = [track(f"t{i}", T0 + i * MIN, user="u1") for i in (1, 2)]
    group = event("group", "g1", T0, user="u1", group="acme")
    _, rows = streaming(cfg, [*invites, group])
    assert current_milestone_changes(rows) == set()  # the watermark is still an hour behind
    _, rows = streaming(cfg, [*invites, group, track("later", T0 + 5 * HOUR, user="u9")])
    assert current_milestone_changes(rows) == {("mil_pql", "account", "acme", "achieved", T0 + 2 * MIN, 2)}


def test_out_of_order_event_corrects_an_emitted_change():
    cfg = config(milestones=[milestone(threshold=2, window_us=DAY)])
    group = event("group", "g1", T0 - DAY, user="u1", group="acme")
    first = track("t1", T0, user="u1")
    second = track("t2", T0 + 12 * HOUR, user="u1")
    early = track("t0", T0 - 6 * HOUR, user="u1")
    engine, rows = streaming(cfg, [group, first, second, track("x", T0 + 3 * DAY, user="u9"), early], lateness=5 * DAY)
    rows += engine.advance(T0 + 3 * DAY)
    changes = rows_of(rows, MILESTONE_CHANGES.name)
    retracted = [(r["kind"], r["changed_at"]) for r in changes if r["status"] == "retracted"]
    # the early event moved the achievement from the second event to the first one
    assert retracted == [("achieved", T0 + 12 * HOUR)]
    assert ("achieved", T0) in [(r["kind"], r["changed_at"]) for r in changes if r["status"] == "current"]
    assert current_milestone_changes(rows) == current_milestone_changes(
        run_batch(cfg, [group, first, second, early, track("x", T0 + 3 * DAY, user="u9")], T0 + 3 * DAY - HOUR, 3 * DAY)
    )


def test_too_late_events_are_kept_but_skipped_for_milestones_with_a_reason():
    cfg = config(milestones=[milestone(threshold=1)])
    engine, rows = streaming(
        cfg, [event("group", "g1", T0, user="u1", group="acme"), track("now", T0 + 10 * DAY, user="u2")]
    )
    rows = engine.process(track("old", T0 + DAY, user="u1"))
    assert [r["message_id"] for r in rows_of(rows, EVENTS.name)] == ["old"]
    [dead] = rows_of(rows, DEAD_LETTERS.name)
    assert dead["stage"] == Stage.milestones
    assert dead["reason"].startswith("event time is more than the allowed lateness (259200 s) behind the watermark")
    assert engine.stats.late == 1


def test_duplicates_change_nothing():
    cfg = config(
        milestones=[milestone(threshold=2)], streams=[follow_stream("s1")], follows=[("s1", "account", "acme")]
    )
    events = [
        event("group", "g1", T0, user="u1", group="acme"),
        track("t1", T0 + MIN, user="u1"),
        track("t2", T0 + 2 * MIN, user="u1"),
    ]
    once = run_batch(cfg, events, T0 + DAY, DAY, clock=lambda: 0)
    twice = run_batch(cfg, events + events, T0 + DAY, DAY, clock=lambda: 0)
    assert once == twice


def test_stream_matching_by_follows_and_selectors():
    cfg = config(
        milestones=[milestone(threshold=1)],
        streams=[
            follow_stream("s_follow"),
            selector_stream(
                "s_pricing", selector("Page", filters=[{"path": "path", "op": "starts_with", "value": "/pricing"}])
            ),
            selector_stream("s_ios_invites", selector("Action", "Invited User", connection_name="ios")),
            selector_stream("s_pql", selector("Milestone", "PQL")),
        ],
        follows=[("s_follow", "account", "acme")],
    )
    events = [
        event("group", "g1", T0, user="u1", group="acme"),
        event("page", "p1", T0 + MIN, user="u1", name="Pricing", properties={"path": "/pricing/enterprise"}),
        event("page", "p2", T0 + MIN, user="u2", properties={"path": "/docs"}),
        track("t1", T0 + 2 * MIN, user="u2", connection="con_ios", connection_name="ios"),
        track("t2", T0 + 3 * MIN, user="u1"),
    ]
    matches = current_stream_matches(run_batch(cfg, events, T0 + DAY, DAY))
    by_stream = {}
    for stream_id, message_id, kind, *_ in matches:
        by_stream.setdefault(stream_id, set()).add((message_id, kind))
    assert by_stream["s_follow"] >= {("g1", "Group"), ("p1", "Page")}
    assert by_stream["s_pricing"] == {("p1", "Page")}
    assert by_stream["s_ios_invites"] == {("t1", "Action")}
    assert [kind for _, kind in by_stream["s_pql"]] == ["Milestone"]  # acme's PQL, as a Milestone event
    assert any(kind == "Milestone" for _, kind in by_stream["s_follow"])


def test_two_organisations_with_the_same_user_ids_never_mix():
    cfg_a = config(org="org_a", milestones=[milestone(threshold=2)])
    cfg_b = config(org="org_b", milestones=[milestone(threshold=2)])
    a = [event("group", "g1", T0, org="org_a", user="u1", group="acme"), track("t1", T0 + MIN, org="org_a", user="u1")]
    b = [event("group", "g1", T0, org="org_b", user="u1", group="acme"), track("t1", T0 + MIN, org="org_b", user="u1")]
    assert current_milestone_changes(run_batch(cfg_a, a, T0 + DAY, DAY)) == set()
    assert current_milestone_changes(run_batch(cfg_b, b, T0 + DAY, DAY)) == set()


def _scenario(seed: int):
    rng = random.Random(seed)
    users = [f"u{i}" for i in range(4)]
    events = [event("group", f"g{u}", T0 - DAY, user=u, group=rng.choice(["acme", "globex"])) for u in users]
    events.append(event("identify", "i-anon", T0 + 5 * HOUR, user="u0", anon="anon-0"))
    for i in range(40):
        t = T0 + rng.randint(0, 4 * DAY)
        who = {"anon": "anon-0"} if rng.random() < 0.15 else {"user": rng.choice(users)}
        events.append(track(f"t{i}", t, **who, properties={"role": rng.choice(["admin", "member"])}))
    cfg = config(
        milestones=[
            milestone(filters=ADMIN, threshold=3, window_us=DAY),
            milestone("mil_active", name="Active", entity="contact", threshold=2, window_us=12 * HOUR),
            milestone("mil_first", name="First", entity="contact", threshold=1, window_us=None),
        ],
        streams=[follow_stream("s1"), selector_stream("s2", selector("Action", "Invited User", filters=ADMIN))],
        follows=[("s1", "account", "acme"), ("s1", "contact", "u2")],
    )
    return cfg, events, rng


@given(seed=st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_streaming_in_any_order_with_duplicates_equals_the_backfill(seed):
    cfg, events, rng = _scenario(seed)
    as_of = T0 + 6 * DAY
    expected = run_batch(cfg, events, as_of, 3 * DAY)
    arrival = events + rng.sample(events, 10)  # duplicates
    links = [e for e in arrival if e.type != "track"]
    others = [e for e in arrival if e.type == "track"]
    rng.shuffle(others)
    # identity calls arrive in their own order and before the events they name: a stream
    # match is not taken back when a late link re-attributes an event
    links.sort(key=lambda e: (e.event_time, e.message_id))
    engine, rows = streaming(cfg, links + others, lateness=10 * DAY)
    rows += engine.advance(as_of)
    assert current_milestone_changes(rows) == current_milestone_changes(expected)
    assert current_stream_matches(rows) == current_stream_matches(expected)


@given(seed=st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_milestones_converge_even_when_links_arrive_after_their_events(seed):
    cfg, events, rng = _scenario(seed)
    as_of = T0 + 6 * DAY
    expected = run_batch(cfg, events, as_of, 3 * DAY)
    arrival = list(events)
    rng.shuffle(arrival)
    engine, rows = streaming(cfg, arrival, lateness=10 * DAY, advance_every=rng.randint(1, 5))
    rows += engine.advance(as_of)
    assert current_milestone_changes(rows) == current_milestone_changes(expected)


def test_every_row_the_engine_emits_fits_its_table():
    """Identity and account links, contacts, events, activity, milestone changes (a
    correction too), stream matches of both kinds and a dead letter: each row has exactly
    its table's columns with values of the column types (an enum member where a string
    belongs would be refused by the warehouse)."""
    cfg = config(
        mapping="email_domain",
        milestones=[
            milestone(threshold=2, window_us=DAY),
            milestone("mil_active", name="Active", entity="contact", threshold=1, window_us=None),
        ],
        streams=[follow_stream("s_follow"), selector_stream("s_pql", selector("Milestone", "PQL"))],
        follows=[("s_follow", "contact", "u1")],
    )
    events = [
        event("identify", "i1", T0 - DAY, user="u1", anon="anon-1", traits={"email": "Ann@Acme.com", "name": "Ann"}),
        event("alias", "al1", T0 - DAY, user="u1", previous="anon-2"),
        track("t1", T0, user="u1"),
        track("t2", T0 + 12 * HOUR, user="u1"),
        track("x", T0 + 3 * DAY, user="u9"),
        track("t0", T0 - 6 * HOUR, user="u1"),  # out of order: corrects the achievement
    ]
    engine, rows = streaming(cfg, events, lateness=5 * DAY)
    rows += engine.advance(T0 + 3 * DAY)
    rows += engine.process(track("old", T0 - 4 * DAY, user="u1"))  # beyond the lateness: a dead letter
    activity_columns = [f.name for f in fields(ActivityRecord)]
    seen = set()
    for table, row in rows:
        seen.add(table)
        assert type(table) is str
        if table == ACTIVITY:
            assert list(row) == activity_columns
            assert all(type(v) in (str, int) for v in row.values())
        else:
            assert invalid_reason(TABLES[table], row) is None, (table, row)
    assert seen == {*TABLES, ACTIVITY}
    assert {r["status"] for r in rows_of(rows, MILESTONE_CHANGES.name)} == {"current", "retracted"}
