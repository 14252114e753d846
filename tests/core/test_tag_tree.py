"""Smart tag and view definitions: shape, limits and the meaning the evaluator gives them."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import orjson
import pytest
from pydantic import ValidationError

from variance.core.tag_tree import (
    MAX_CONDITIONS,
    EntityFacts,
    MilestoneFact,
    count_window,
    depth,
    dump_definition,
    evaluate,
    evaluate_tags,
    evaluation_order,
    find_cycle,
    parse_definition,
    referenced_milestones,
    referenced_tags,
    walk,
)

NOW = datetime(2024, 5, 31, 12, 0, tzinfo=timezone.utc)


# --- builders ----------------------------------------------------------------------------


def group(*conditions, match="all") -> dict:
    return {"type": "group", "match": match, "conditions": list(conditions)}


def trait(path, op, value=None) -> dict:
    filt = {"path": path, "op": op} | ({} if value is None else {"value": value})
    return {"type": "trait", "filter": filt}


def milestone(milestone_id, status="achieved", days=None) -> dict:
    return {"type": "milestone", "milestone_id": milestone_id, "status": status} | (
        {} if days is None else {"days": days}
    )


def count(kind, op, value, days, name=None) -> dict:
    return {"type": "event_count", "kind": kind, "op": op, "value": value, "days": days} | (
        {} if name is None else {"name": name}
    )


def tag(tag_id, has=True) -> dict:
    return {"type": "tag", "tag_id": tag_id, "has": has}


def holds(definition: dict, **facts) -> bool:
    return evaluate(parse_definition(definition), EntityFacts(now=facts.pop("now", NOW), **facts))


def nested(levels: int) -> dict:
    node = group(tag("t"))
    for _ in range(levels - 1):
        node = group(node)
    return node


def first_error(definition) -> tuple[tuple, str]:
    with pytest.raises(ValidationError) as caught:
        parse_definition(definition)
    error = caught.value.errors()[0]
    return error["loc"], error["msg"]


# --- shape -------------------------------------------------------------------------------


def test_stored_json_carries_every_key_in_declaration_order():
    definition = parse_definition(
        group(
            trait("plan", "exists"),
            milestone("mil_1"),
            milestone("mil_2", "achieved_within", 7),
            count("Page", "gte", 3, 14),
            group(count("Action", "lt", 1, 30, name="Invited User"), tag("tag_1", has=False), match="any"),
        )
    )
    assert dump_definition(definition) == (
        '{"type":"group","match":"all","conditions":['
        '{"type":"trait","filter":{"path":"plan","op":"exists","value":null}},'
        '{"type":"milestone","milestone_id":"mil_1","status":"achieved","days":null},'
        '{"type":"milestone","milestone_id":"mil_2","status":"achieved_within","days":7},'
        '{"type":"event_count","kind":"Page","name":null,"op":"gte","value":3,"days":14},'
        '{"type":"group","match":"any","conditions":['
        '{"type":"event_count","kind":"Action","name":"Invited User","op":"lt","value":1,"days":30},'
        '{"type":"tag","tag_id":"tag_1","has":false}]}]}'
    )
    assert parse_definition(dump_definition(definition)) == definition
    assert parse_definition(orjson.loads(dump_definition(definition))) == definition


def test_walk_names_each_condition_by_its_path():
    definition = parse_definition(group(tag("a"), group(milestone("m"), tag("b"), match="any")))
    assert [path for path, _ in walk(definition)] == [
        "conditions[0]",
        "conditions[1]",
        "conditions[1].conditions[0]",
        "conditions[1].conditions[1]",
    ]
    assert referenced_tags(definition) == {"a", "b"}
    assert referenced_milestones(definition) == {"m"}
    assert depth(definition) == 2


def test_limits_depth_five_and_fifty_conditions():
    assert depth(parse_definition(nested(5))) == 5
    assert first_error(nested(6)) == ((), "Value error, groups nest at most 5 levels deep (the root is level 1)")
    assert first_error(nested(5000))[1].endswith("groups nest at most 5 levels deep (the root is level 1)")
    fifty = group(group(*[tag("t")] * 24), group(*[tag("t")] * 24))
    assert sum(1 for _ in walk(parse_definition(fifty))) == MAX_CONDITIONS
    too_many = group(group(*[tag("t")] * 25), group(*[tag("t")] * 24))
    assert first_error(too_many) == ((), "Value error, has more than 50 conditions (groups count)")


@pytest.mark.parametrize(
    ("definition", "loc", "message"),
    [
        (group(), ("conditions",), "List should have at least 1 item after validation, not 0"),
        (group(group()), ("conditions", 0, "group", "conditions"), "List should have at least 1 item"),
        ({"type": "tag", "tag_id": "t"}, ("type",), "Input should be 'group'"),
        (group(tag("t"), match="both"), ("match",), "Input should be 'all' or 'any'"),
        (group({"type": "nope"}), ("conditions", 0), "Input tag 'nope' found using 'type' does not match"),
        (group({"tag_id": "t"}), ("conditions", 0), "Unable to extract tag using discriminator 'type'"),
        (group(tag("t") | {"extra": 1}), ("conditions", 0, "tag", "extra"), "Extra inputs are not permitted"),
        (group(tag("")), ("conditions", 0, "tag", "tag_id"), "String should have at least 1 character"),
        (
            group(milestone("m", "achieved_within")),
            ("conditions", 0, "milestone"),
            "Value error, days is required when status is achieved_within",
        ),
        (
            group(milestone("m", "achieved", 3)),
            ("conditions", 0, "milestone"),
            "Value error, days is only used with achieved_within; leave it out for achieved",
        ),
        (
            group(milestone("m", "achieved_within", 0)),
            ("conditions", 0, "milestone", "days"),
            "Input should be greater than or equal to 1",
        ),
        (
            group(milestone("m", "achieved_within", 3651)),
            ("conditions", 0, "milestone", "days"),
            "Input should be less than or equal to 3650",
        ),
        (group(milestone("m", "lost")), ("conditions", 0, "milestone", "status"), "Input should be 'achieved'"),
        (
            group(count("Action", "gte", 1, 7)),
            ("conditions", 0, "event_count"),
            "Value error, name is required for Action event types",
        ),
        (
            group(count("Milestone", "gte", 1, 7)),
            ("conditions", 0, "event_count"),
            "Value error, name is required for Milestone event types",
        ),
        (
            group(count("Page", "gte", 1, 7, name="Home")),
            ("conditions", 0, "event_count"),
            "Value error, Page event types have no name; leave name out",
        ),
        (
            group(count("Page", "gte", -1, 7)),
            ("conditions", 0, "event_count", "value"),
            "Input should be greater than or equal to 0",
        ),
        (
            group(count("Page", "gte", 1, 366)),
            ("conditions", 0, "event_count", "days"),
            "Input should be less than or equal to 365",
        ),
        (group(count("Page", "ne", 1, 7)), ("conditions", 0, "event_count", "op"), "Input should be 'gte'"),
        (group(count("Track", "gte", 1, 7)), ("conditions", 0, "event_count", "kind"), "Input should be 'Page'"),
        (
            group(trait("a..b", "exists")),
            ("conditions", 0, "trait", "filter", "path"),
            "Value error, path 'a..b' has an empty segment",
        ),
        (
            group(trait("plan", "in", "pro")),
            ("conditions", 0, "trait", "filter", "value"),
            "Value error, value for op 'in': needs a non-empty list",
        ),
    ],
)
def test_invalid_definitions_name_the_place_and_the_rule(definition, loc, message):
    found_loc, found_message = first_error(definition)
    assert found_loc == loc
    assert found_message.startswith(message)


def test_a_definition_is_a_json_object():
    assert first_error("[]") == ((), "Input should be a valid dictionary or instance of ConditionGroup")


# --- meaning -----------------------------------------------------------------------------


def test_all_and_any():
    pro, big = trait("plan", "equals", "pro"), trait("seats", "gte", 50)
    assert holds(group(pro, big), traits={"plan": "pro", "seats": 50}) is True
    assert holds(group(pro, big), traits={"plan": "pro", "seats": 49}) is False
    assert holds(group(pro, big, match="any"), traits={"plan": "pro", "seats": 49}) is True
    assert holds(group(pro, big, match="any"), traits={"plan": "free"}) is False
    either_nested = group(trait("region", "equals", "EU"), group(pro, big, match="any"))
    assert holds(either_nested, traits={"region": "EU", "seats": 80}) is True
    assert holds(either_nested, traits={"region": "US", "seats": 80}) is False


def test_traits_follow_property_filter_semantics_for_missing_values():
    assert holds(group(trait("plan", "not_equals", "pro")), traits={}) is True
    assert holds(group(trait("plan", "equals", "pro")), traits={}) is False
    assert holds(group(trait("plan", "not_exists")), traits={"plan": None}) is True
    assert holds(group(trait("company.size", "gt", 10)), traits={"company": {"size": 11}}) is True
    assert holds(group(trait("company.size", "gt", 10)), traits={"company": {"size": "11"}}) is False


def test_milestone_achieved_and_not_achieved_are_complements_including_missing_data():
    achieved, not_achieved = group(milestone("m")), group(milestone("m", "not_achieved"))
    for facts in ({}, {"m": MilestoneFact(False)}, {"m": MilestoneFact(True, NOW)}, {"other": MilestoneFact(True)}):
        assert holds(achieved, milestones=facts) is not holds(not_achieved, milestones=facts)
    assert holds(achieved, milestones={}) is False
    assert holds(achieved, milestones={"m": MilestoneFact(True, None)}) is True
    assert holds(not_achieved, milestones={"m": MilestoneFact(False, NOW - timedelta(days=1))}) is True


@pytest.mark.parametrize(
    ("achieved_at", "expected"),
    [
        (NOW - timedelta(days=7), False),  # exactly seven days ago: out, like a window edge
        (NOW - timedelta(days=7) + timedelta(microseconds=1), True),
        (NOW - timedelta(days=3), True),
        (NOW, True),
        (NOW + timedelta(minutes=5), True),  # a clock ahead of ours still reached it recently
        (NOW - timedelta(days=400), False),
        (None, False),  # achieved, but the time is unknown: not provably recent
    ],
)
def test_achieved_within_counts_days_back_from_now_excluding_the_edge(achieved_at, expected):
    definition = group(milestone("m", "achieved_within", 7))
    assert holds(definition, milestones={"m": MilestoneFact(True, achieved_at)}) is expected


def test_achieved_within_needs_the_milestone_currently_achieved():
    definition = group(milestone("m", "achieved_within", 7))
    assert holds(definition, milestones={"m": MilestoneFact(False, NOW - timedelta(days=1))}) is False
    assert holds(definition, milestones={}) is False


@pytest.mark.parametrize(
    ("op", "value", "found", "expected"),
    [
        ("gte", 3, 3, True),
        ("gte", 3, 2, False),
        ("gt", 3, 3, False),
        ("gt", 3, 4, True),
        ("lte", 3, 3, True),
        ("lte", 3, 4, False),
        ("lt", 1, 0, True),
        ("lt", 1, 1, False),
        ("eq", 0, 0, True),
        ("eq", 2, 3, False),
    ],
)
def test_event_count_operators(op, value, found, expected):
    definition = group(count("Action", op, value, 30, name="Invited User"))
    assert holds(definition, event_counts={("Action", "Invited User", 30): found}) is expected


def test_event_counts_missing_are_zero_and_keys_tell_types_and_windows_apart():
    counts = {("Page", None, 7): 5, ("Action", "Invited User", 7): 1}
    assert holds(group(count("Page", "gte", 5, 7)), event_counts=counts) is True
    assert holds(group(count("Page", "gte", 5, 14)), event_counts=counts) is False  # another window
    assert holds(group(count("Screen", "lt", 1, 7)), event_counts=counts) is True  # never seen: 0
    assert holds(group(count("Action", "gte", 1, 7, name="Signed Up")), event_counts=counts) is False


def test_event_counts_may_come_from_a_callable():
    asked = []

    def counts(kind, name, days):
        asked.append((kind, name, days))
        return 4 if (kind, name) == ("Milestone", "PQL") else 0

    definition = group(count("Milestone", "eq", 4, 90, name="PQL"), count("Identify", "eq", 0, 1))
    assert holds(definition, event_counts=counts) is True
    assert asked == [("Milestone", "PQL", 90), ("Identify", None, 1)]


def test_tag_membership_and_its_negation():
    assert holds(group(tag("a")), tags={"a"}) is True
    assert holds(group(tag("a")), tags=set()) is False
    assert holds(group(tag("a", has=False)), tags=set()) is True
    assert holds(group(tag("a", has=False)), tags={"a", "b"}) is False


def test_any_group_short_circuits_and_all_group_stops_at_first_false():
    asked = []

    def counts(kind, name, days):
        asked.append(kind)
        return 1

    holds(group(count("Page", "gte", 1, 1), count("Screen", "gte", 1, 1), match="any"), event_counts=counts)
    holds(group(count("Page", "lt", 1, 1), count("Screen", "gte", 1, 1)), event_counts=counts)
    assert asked == ["Page", "Page"]


def test_now_must_be_timezone_aware():
    with pytest.raises(ValueError, match=r"^facts\.now must be timezone-aware$"):
        evaluate(parse_definition(group(tag("a"))), EntityFacts(now=datetime(2024, 5, 1)))


def test_count_window_is_the_utc_days_ending_today():
    late_in_new_york = datetime(2024, 5, 31, 23, 30, tzinfo=timezone(timedelta(hours=-4)))
    assert count_window(late_in_new_york, 1) == (date(2024, 6, 1), date(2024, 6, 1))
    assert count_window(NOW, 7) == (date(2024, 5, 25), date(2024, 5, 31))


# --- tags that use tags --------------------------------------------------------------------


def test_find_cycle_direct_indirect_and_none():
    assert find_cycle({"a": {"a"}}, "a") == ["a", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a") == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "x"}, "b": {"c"}, "c": {"a"}, "x": {"a"}}, "a") == ["a", "x", "a"]  # shortest
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}, "a") is None  # a cycle not through a
    assert find_cycle({"a": {"b"}}, "a") is None


def test_evaluation_order_puts_used_tags_first_and_refuses_cycles():
    assert evaluation_order({"champ": {"active", "paying"}, "active": set(), "paying": {"active"}}) == [
        "active",
        "paying",
        "champ",
    ]
    assert evaluation_order({"b": {"outside"}, "a": set()}) == ["a", "b"]
    with pytest.raises(ValueError, match=r"tags form a cycle through 'a': \['a', 'b', 'a'\]"):
        evaluation_order({"a": {"b"}, "b": {"a"}})


def test_evaluate_tags_lets_each_tag_see_the_tags_it_uses():
    definitions = {
        "champion": parse_definition(group(tag("active"), tag("churned", has=False))),
        "active": parse_definition(group(count("Page", "gte", 3, 7))),
        "churned": parse_definition(group(trait("status", "equals", "churned"))),
        "dormant": parse_definition(group(tag("active", has=False))),
        "vip_champion": parse_definition(group(tag("champion"), tag("vip"))),  # vip is decided elsewhere
    }
    busy = EntityFacts(now=NOW, event_counts={("Page", None, 7): 3}, tags={"vip"})
    assert evaluate_tags(definitions, busy) == {"active", "champion", "vip_champion"}
    quiet = EntityFacts(now=NOW, traits={"status": "churned"}, tags={"champion"})  # stale input is ignored
    assert evaluate_tags(definitions, quiet) == {"churned", "dormant"}
