"""The history a restart reads per milestone (pipelines/restore.py): filters evaluated by
DuckDB over the lake give exactly the events the Python evaluator counts."""

from __future__ import annotations

import pytest

from tests.support import events as ev
from variance.core.engine import records
from variance.core.engine.batch import run_batch
from variance.core.engine.engine import OrgEngine
from variance.core.rows import ACTIVITY
from variance.pipelines.restore import counted_history, identity_from_lake, milestone_history
from variance.warehouse.local import LakeReader, LakeWriter

HOUR = 3_600_000_000
DAY = 24 * HOUR
T0 = 1_714_521_600_000_000  # 2024-05-01

PROPERTIES = [
    {"role": "admin", "seats": 12, "plan": {"tier": "pro"}},
    {"role": "Admin", "seats": 12.0, "plan": {"tier": "free"}},
    {"role": "member", "seats": "12", "trial": True},
    {"role": None, "seats": 3},
    {"seats": [1, 2], "trial": False},
    {"role": "admin-ish", "plan": "pro"},
    {},
]
FILTERS = [
    [{"path": "role", "op": "equals", "value": "admin"}],
    [{"path": "role", "op": "not_equals", "value": "admin"}],
    [{"path": "role", "op": "starts_with", "value": "admin"}],
    [{"path": "role", "op": "contains", "value": "dmi"}],
    [{"path": "role", "op": "in", "value": ["admin", "member"]}],
    [{"path": "seats", "op": "gte", "value": 12}],
    [{"path": "seats", "op": "lt", "value": 10}],
    [{"path": "plan.tier", "op": "equals", "value": "pro"}],
    [{"path": "trial", "op": "equals", "value": True}],
    [{"path": "role", "op": "exists"}],
    [{"path": "role", "op": "not_exists"}],
    [{"path": "role", "op": "equals", "value": "admin"}, {"path": "seats", "op": "gt", "value": 5}],
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    events = [ev.event("group", "g0", T0, user="u0", group="acme", traits={"seats": 12, "role": "admin"})]
    for i, properties in enumerate(PROPERTIES * 3):
        t = T0 + i * HOUR
        if i % 3 == 0:
            events.append(ev.track(f"t{i}", t, user=f"u{i % 4}", properties=properties))
        elif i % 3 == 1:
            events.append(ev.track(f"t{i}", t, anon=f"visitor-{i % 2}", properties=properties))
        else:
            events.append(ev.event("identify", f"i{i}", t, user=f"u{i % 4}", anon="visitor-1", traits=properties))
    events.append(ev.track("other", T0, user="u1", event_name="Signed Up", properties={"role": "admin"}))
    rows = run_batch(ev.config(), events, T0 + 2 * DAY, lateness_us=DAY)
    path = tmp_path_factory.mktemp("lake")
    writer = LakeWriter(path, compact_every_s=None)
    writer.append([r for r in rows if r[0] != ACTIVITY])
    writer.close()
    return LakeReader(path)


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: " and ".join(x["path"] + " " + x["op"] for x in f))
@pytest.mark.parametrize(("kind", "name"), [("Action", "Invited User"), ("Identify", None), ("Group", None)])
def test_counted_history_is_the_history_the_python_filters_count(lake, filters, kind, name):
    spec = ev.milestone(kind=kind, event_name=name, filters=filters)
    full = milestone_history(lake, "org_a", spec, None)
    expected = [e for e in full if records.counts_for(spec, e)]
    got = counted_history(lake, "org_a", spec, None)
    assert got == [(e.event_time, e.user_id, e.anonymous_id, e.group_id) for e in expected]


def test_the_filters_leave_some_events_out_and_keep_some(lake):
    spec = ev.milestone(filters=FILTERS[0])
    times = [t for t, *_ in counted_history(lake, "org_a", spec, None)]
    assert times == [T0, T0 + 7 * HOUR]  # t0 and t7; i14 has the same properties, as traits of an identify
    assert len(milestone_history(lake, "org_a", spec, None)) == 14
    since = counted_history(lake, "org_a", ev.milestone(), T0 + 10 * HOUR)
    assert since and min(t for t, *_ in since) >= T0 + 10 * HOUR


def test_a_restored_milestone_is_the_same_from_counted_history(lake):
    spec = ev.milestone(entity="contact", threshold=1, window_us=DAY, filters=FILTERS[5])
    states = []
    for history in (milestone_history, counted_history):
        engine = OrgEngine("org_a", lateness_us=DAY, dedupe_us=DAY)
        engine.configure(ev.config(milestones=[spec]))
        engine.identity = identity_from_lake(lake, "org_a")
        restore = engine.restore_counted if history is counted_history else engine.restore_milestone
        rows = restore(spec, history(lake, "org_a", spec, None), T0 + 2 * DAY)
        changes = sorted(repr({**row, "recorded_at": None}) for _, row in rows)
        states.append((changes, sorted((k, s.to_state()) for k, s in engine._states.items())))
    assert states[0] == states[1]
    assert states[0][0]  # some changes happened


def test_recent_events_carry_what_splitting_by_key_reads(lake):
    from variance.core.engine.keyed import counted_milestones
    from variance.core.vocabulary import WarehouseTable
    from variance.pipelines.restore import event_from_row, recent_events

    since = T0 + 5 * HOUR
    full = [
        event_from_row(r)
        for r in lake.current(
            WarehouseTable.events.value,
            "org_id = $org and epoch_us(event_time) >= $since",
            {"org": "org_a", "since": since},
            order_by="event_time, message_id",
        )
    ]
    light = recent_events(lake, "org_a", since)
    config = ev.config(milestones=[ev.milestone(filters=f, id_=f"m{i}") for i, f in enumerate(FILTERS)])
    fields = ("message_id", "type", "event_time", "user_id", "anonymous_id", "group_id", "kind", "event_name")
    assert [tuple(getattr(e, f) for f in fields) for e in light] == [tuple(getattr(e, f) for f in fields) for e in full]
    assert [e.filter_properties for e in light] == [e.filter_properties for e in full]
    assert [counted_milestones(config, e) for e in light] == [counted_milestones(config, e) for e in full]
    assert len(light) == 16 and any(counted_milestones(config, e) for e in light)
