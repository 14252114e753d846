"""apply_rows: contacts, accounts, links, the catalog, daily activity, stream items,
idempotency, and what the API reads back. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import date
from types import SimpleNamespace

import orjson
import pytest

from tests.serving.rows import (
    DAY,
    HOUR,
    ORG,
    OTHER,
    T0,
    account_call,
    at,
    change,
    daily,
    event,
    identify,
    link,
    match,
)
from variance.api.routes.entities import list_event_types
from variance.appdb.models import (
    AccountRow,
    ContactRow,
    DailyActivityRow,
    EventTypeRow,
    MilestoneStatusRow,
    StreamItemRow,
)
from variance.core.warehouse import DEAD_LETTERS, IDENTITY_LINKS
from variance.serving import ServingStats
from variance.workspace.entities import get_account, list_accounts, list_contacts, search_key
from variance.workspace.schemas.entities import ContactOut


def by_id(db, model):
    rows = db.table(model)
    key = "contact_id" if model is ContactRow else "account_id"
    out = {}
    for row in rows:
        row["traits"] = orjson.loads(row["traits"])
        out[(row["org_id"], row[key])] = row
    return out


def contact_row(contact_id, *, first, last, name=None, email=None, account=None, traits=None, search=None, org=ORG):
    return {
        "org_id": org,
        "contact_id": contact_id,
        "name": name,
        "search_name": search if search is not None else contact_id,
        "email": email,
        "account_id": account,
        "traits": traits or {},
        "first_seen_at": at(first),
        "last_seen_at": at(last),
    }


def account_row(account_id, *, first, last, name=None, domain=None, traits=None, search=None, org=ORG):
    return {
        "org_id": org,
        "account_id": account_id,
        "name": name,
        "search_name": search if search is not None else account_id,
        "domain": domain,
        "traits": traits or {},
        "first_seen_at": at(first),
        "last_seen_at": at(last),
    }


# -- contacts and accounts ---------------------------------------------------------------------


def test_events_create_contacts_and_accounts_with_their_seen_range(db):
    stats = db.apply(
        [
            event("e1", T0 + HOUR, contact="u1", account="acme"),
            event("e2", T0, contact="u1", kind="Page", name=None),
            event("e3", T0 + 2 * HOUR, contact="u2", kind=None, name=None),  # alias
            (IDENTITY_LINKS.name, {"org_id": ORG}),
            ("activity", {"org_id": ORG}),
            (DEAD_LETTERS.name, {"org_id": ORG}),
        ]
    )
    assert by_id(db, ContactRow) == {
        (ORG, "u1"): contact_row("u1", first=T0, last=T0 + HOUR),
        (ORG, "u2"): contact_row("u2", first=T0 + 2 * HOUR, last=T0 + 2 * HOUR),
    }
    assert by_id(db, AccountRow) == {(ORG, "acme"): account_row("acme", first=T0 + HOUR, last=T0 + HOUR)}
    assert (stats.rows, stats.ignored, stats.contacts, stats.accounts) == (6, 3, 2, 1)


def test_identify_calls_merge_newest_first_whatever_their_order_in_a_call(db):
    db.apply(
        [
            identify(
                "m2", T0 + 2 * HOUR, name="Ada Lovelace", email="ADA@Acme.com", traits={"plan": "pro", "seats": 5}
            ),
            identify("m3", T0 + 3 * HOUR, traits={"seats": 7}),
            identify("m1", T0 + HOUR, name="Ada", traits={"plan": "free", "role": "admin"}),
        ]
    )
    assert by_id(db, ContactRow)[(ORG, "u1")] == contact_row(
        "u1",
        first=T0 + HOUR,
        last=T0 + 3 * HOUR,
        name="Ada Lovelace",
        email="ada@acme.com",
        traits={"plan": "pro", "role": "admin", "seats": 7},
        search="ada lovelace",
    )


def test_a_later_call_overrides_the_keys_it_names_and_keeps_the_rest(db):
    db.apply([identify("m1", T0, name="Ada", traits={"plan": "free", "role": "admin"})])
    db.apply([identify("m2", T0 + HOUR, email="ada@acme.com", traits={"plan": "pro"}), event("e1", T0 + DAY)])
    db.apply([identify("m3", T0, "u2", email="Grace@Globex.io"), event("e2", T0, contact="u3")])
    contacts = by_id(db, ContactRow)
    assert contacts[(ORG, "u1")] == contact_row(
        "u1",
        first=T0,
        last=T0 + DAY,
        name="Ada",
        email="ada@acme.com",
        traits={"plan": "pro", "role": "admin"},
        search="ada",
    )
    assert contacts[(ORG, "u2")]["search_name"] == "grace@globex.io"
    assert contacts[(ORG, "u2")]["email"] == "grace@globex.io"
    assert contacts[(ORG, "u3")]["search_name"] == "u3"


def test_account_calls_set_name_domain_traits_and_search_name(db):
    db.apply(
        [
            account_call("g2", T0 + HOUR, "globex", name="Globex Corp", traits={"plan": "trial", "size": 10}),
            account_call("g1", T0, "globex", name="Globex", domain="GLOBEX.io", traits={"plan": "free"}),
            account_call("g3", T0, "initech", domain="Initech.com"),
            link("l1", T0 + 2 * HOUR, "u1", "umbrella"),
        ]
    )
    assert by_id(db, AccountRow) == {
        (ORG, "globex"): account_row(
            "globex",
            first=T0,
            last=T0 + HOUR,
            name="Globex Corp",
            domain="globex.io",
            traits={"plan": "trial", "size": 10},
            search="globex corp",
        ),
        (ORG, "initech"): account_row("initech", first=T0, last=T0, domain="initech.com", search="initech.com"),
        (ORG, "umbrella"): account_row("umbrella", first=T0 + 2 * HOUR, last=T0 + 2 * HOUR),
    }


def test_the_latest_link_by_time_wins_within_a_call_whatever_the_order(db):
    rows = [
        link("l2", T0 + 2 * HOUR, "u1", "globex"),
        link("l1", T0 + HOUR, "u1", "acme"),
        link("l0", T0 + 2 * HOUR, "u1", "initech"),  # same instant: the greater message id wins, as in the engine
        event("e1", T0 + 3 * HOUR, contact="u1", account="acme"),  # events never set a contact's account
    ]
    for order in (rows, rows[::-1]):
        db.apply(order)
        contact = by_id(db, ContactRow)[(ORG, "u1")]
        assert (contact["account_id"], contact["first_seen_at"], contact["last_seen_at"]) == (
            "globex",
            at(T0 + HOUR),
            at(T0 + 3 * HOUR),
        )


def test_across_calls_the_later_call_decides_the_account(db):
    """Documented limitation: the serving row keeps no link time, so an older link in a
    later call wins until a newer link arrives (``rebuild`` is exact)."""
    db.apply([link("l2", T0 + 2 * HOUR, "u1", "globex")])
    db.apply([link("l1", T0 + HOUR, "u1", "acme")])
    assert by_id(db, ContactRow)[(ORG, "u1")]["account_id"] == "acme"
    db.apply([event("e1", T0 + 3 * HOUR, account="globex")])
    assert by_id(db, ContactRow)[(ORG, "u1")]["account_id"] == "acme"


def test_values_longer_than_the_columns_are_cut_or_dropped(db):
    name = "N" * 500
    email = "a" * 330 + "@x.com"
    db.apply([identify("m1", T0, name=name, email=email), account_call("g1", T0, "acme", domain="d" * 260 + ".com")])
    contact = by_id(db, ContactRow)[(ORG, "u1")]
    assert (contact["name"], contact["search_name"], contact["email"]) == ("N" * 400, "n" * 400, None)
    assert by_id(db, AccountRow)[(ORG, "acme")]["domain"] is None


def test_organisations_stay_apart_in_one_call(db):
    db.apply([identify("m1", T0, name="Ada"), identify("m1", T0 + HOUR, name="Eve", org=OTHER)])
    contacts = by_id(db, ContactRow)
    assert (contacts[(ORG, "u1")]["name"], contacts[(OTHER, "u1")]["name"]) == ("Ada", "Eve")


def test_search_name_is_the_apis_search_key():
    from variance.serving.entities import search_key as writer_key

    for text in ("  Ada LOVELACE ", "Straße", "ǅemal", "İstanbul", "ΣΊΣΥΦΟΣ"):
        assert writer_key(text) == search_key(text)


# -- the catalog and daily activity ------------------------------------------------------------


def test_the_catalog_counts_each_new_event_once(db):
    stats = db.apply(
        [
            event("e1", T0 + HOUR),
            event("e1", T0 + HOUR),  # the same event twice in one call
            event("e2", T0 + 2 * HOUR),
            event("p1", T0, kind="Page", name=None),
            event("a1", T0, kind=None, name=None),  # alias: not an event type
        ]
    )
    db.apply([event("e3", T0 - HOUR), event("e4", T0 + DAY)])
    assert db.table(EventTypeRow) == [
        {
            "org_id": ORG,
            "kind": "Action",
            "name": "Invited User",
            "first_seen_at": at(T0 - HOUR),
            "last_seen_at": at(T0 + DAY),
            "count": 4,
        },
        {"org_id": ORG, "kind": "Page", "name": "", "first_seen_at": at(T0), "last_seen_at": at(T0), "count": 1},
    ]
    assert (stats.event_types, stats.events_counted) == (2, 3)


def test_daily_activity_replaces_the_count(db):
    db.apply(
        [
            daily("u1", "2024-05-01", 3),
            daily("u1", "2024-05-01", 5),
            daily("acme", "2024-05-01", 2, entity_type="account"),
        ]
    )
    db.apply([daily("u1", "2024-05-01", 4), daily("u1", "2024-05-02", 1, kind="Page", name="")])
    assert db.table(DailyActivityRow) == [
        {"org_id": ORG, "entity_type": "account", "entity_id": "acme", "day": date(2024, 5, 1), "kind": "Action", "name": "Invited User", "count": 2},
        {"org_id": ORG, "entity_type": "contact", "entity_id": "u1", "day": date(2024, 5, 1), "kind": "Action", "name": "Invited User", "count": 4},
        {"org_id": ORG, "entity_type": "contact", "entity_id": "u1", "day": date(2024, 5, 2), "kind": "Page", "name": "", "count": 1},
    ]  # fmt: skip


# -- stream items ------------------------------------------------------------------------------


def item(message_id, t, *, stream="str_a", kind="Action", name="Invited User", contact="u1", account=None, connection=None, properties="{}"):  # fmt: skip
    return {
        "org_id": ORG,
        "stream_id": stream,
        "message_id": message_id,
        "event_time": at(t),
        "kind": kind,
        "name": name,
        "contact_id": contact,
        "account_id": account,
        "connection_name": connection,
        "properties": properties,
    }


def test_stream_items_carry_their_events_payload(db):
    milestone = change("achieved", T0 + 3 * HOUR, 3)
    change_id = milestone[1]["change_id"]
    db.apply(
        [
            event("e1", T0 + HOUR, properties={"role": "admin"}, connection="ios"),
            match("e1", T0 + HOUR),
            event("g1", T0, kind="Group", name=None, account="acme", traits={"name": "Acme"}),
            match("g1", T0, kind="Group", name=None, account="acme"),
            milestone,
            match(change_id, T0 + 3 * HOUR, kind="Milestone", name="PQL", contact=None, account="acme"),
            match("e9", T0 + 2 * HOUR, stream="str_b"),  # its event is not in this call
        ]
    )
    expected = [
        item("e1", T0 + HOUR, connection="ios", properties='{"role":"admin"}'),
        item("g1", T0, kind="Group", name=None, account="acme", connection="web", properties='{"name":"Acme"}'),
        item(
            change_id,
            T0 + 3 * HOUR,
            kind="Milestone",
            name="PQL",
            contact=None,
            account="acme",
            properties='{"kind":"achieved","count":3,"entity_type":"account","entity_id":"acme"}',
        ),
        item("e9", T0 + 2 * HOUR, stream="str_b"),
    ]
    assert db.table(StreamItemRow) == sorted(expected, key=lambda i: (i["stream_id"], i["message_id"]))


def test_retracted_matches_are_removed_and_the_newest_row_of_a_match_wins(db):
    db.apply([match("m1", T0), match("m2", T0 + HOUR)])
    stats = db.apply(
        [
            match("m1", T0, status="retracted", recorded=5),
            match("m2", T0 + HOUR, status="current", recorded=7),  # retracted then current again
            match("m2", T0 + HOUR, status="retracted", recorded=6),
        ]
    )
    assert [i["message_id"] for i in db.table(StreamItemRow)] == ["m2"]
    assert (stats.stream_items, stats.stream_items_removed) == (1, 1)


def test_each_stream_keeps_its_newest_items(db):
    stats = db.apply(
        [match(f"a{i}", T0 + i * HOUR) for i in (3, 1, 5, 2, 4)]
        + [match("tie-b", T0 + 5 * HOUR), match("b1", T0, stream="str_b")],
        stream_retention=3,
    )
    assert [(i["stream_id"], i["message_id"]) for i in db.table(StreamItemRow)] == [
        ("str_a", "a4"),
        ("str_a", "a5"),
        ("str_a", "tie-b"),
        ("str_b", "b1"),
    ]
    assert stats.stream_items_expired == 3
    older = db.apply([match("a0", T0)], stream_retention=3)
    assert older.stream_items_expired == 1 and len(db.table(StreamItemRow)) == 4


def test_matches_of_unknown_or_other_organisations_streams_are_skipped(db):
    stats = db.apply([match("m1", T0, stream="str_other"), match("m2", T0, stream="str_gone")])
    assert db.table(StreamItemRow) == [] and stats.stream_matches_skipped == 2


# -- idempotency and order ---------------------------------------------------------------------


def everything() -> list:
    """One call's worth of every input kind."""
    pql = change("achieved", T0 + 3 * HOUR, 3)
    return [
        identify("m1", T0, name="Ada", email="ada@acme.com", traits={"plan": "pro"}),
        event("m1", T0, kind="Identify", name=None, traits={"plan": "pro"}),
        account_call("g1", T0 + 1, "acme", name="Acme Inc", traits={"tier": 1}),
        link("g1", T0 + 1, "u1", "acme"),
        event("g1", T0 + 1, kind="Group", name=None, account="acme"),
        *(event(f"e{i}", T0 + i * HOUR, account="acme") for i in (1, 2, 3)),
        *(match(f"e{i}", T0 + i * HOUR) for i in (1, 2, 3)),
        pql,
        match(pql[1]["change_id"], T0 + 3 * HOUR, kind="Milestone", name="PQL", contact=None, account="acme"),
        link("l9", T0 + 4 * HOUR, "u2", "globex"),
        event("e9", T0 + 4 * HOUR, contact="u2", kind="Page", name=None),
        daily("u1", "2024-05-01", 5),
        daily("acme", "2024-05-01", 4, entity_type="account"),
    ]


SERVING = (ContactRow, AccountRow, MilestoneStatusRow, StreamItemRow, EventTypeRow, DailyActivityRow)


def snapshot(db) -> dict:
    return {model.__name__: db.table(model) for model in SERVING}


def test_applying_the_same_rows_twice_changes_nothing_but_catalog_counts(db):
    first = db.apply(everything())
    once = snapshot(db)
    second = db.apply(everything())
    twice = snapshot(db)
    counts = [row.pop("count") for row in twice["EventTypeRow"]]
    assert counts == [2 * row.pop("count") for row in once["EventTypeRow"]]  # documented: needs a seen-events table
    assert twice == once
    assert (first.contacts, first.accounts, first.milestone_statuses, first.stream_items) == (2, 2, 1, 4)
    assert (second.contacts, second.accounts, second.milestone_statuses) == (0, 0, 0)


def test_the_order_of_rows_in_a_call_does_not_matter(db):
    db.apply(everything())
    expected = snapshot(db)
    shuffled = everything()
    random.Random(7).shuffle(shuffled)
    with db.sessions() as session, session.begin():
        for model in SERVING:
            session.execute(model.__table__.delete())
    db.apply(shuffled)
    assert snapshot(db) == expected


# -- what the API reads back -------------------------------------------------------------------


def test_the_api_shows_what_was_written(db):
    db.apply(everything())
    with db.sessions() as session:
        contacts, _ = list_contacts(session, ORG, q="ADA")
        assert contacts == [
            ContactOut(
                contact_id="u1",
                name="Ada",
                email="ada@acme.com",
                account_id="acme",
                traits={"plan": "pro"},
                first_seen_at=at(T0),
                last_seen_at=at(T0 + 3 * HOUR),
                milestones=[],
                tags=[],
            )
        ]
        assert [c.contact_id for c in list_contacts(session, ORG, account_id="globex")[0]] == ["u2"]
        account = get_account(session, ORG, "acme")
        assert (account.name, account.traits, account.first_seen_at, account.last_seen_at) == (
            "Acme Inc",
            {"tier": 1},
            at(T0 + 1),
            at(T0 + 3 * HOUR),
        )
        assert [(m.milestone_id, m.name, m.achieved_at, m.count) for m in account.milestones] == [
            ("mil_pql", "PQL", at(T0 + 3 * HOUR), 3)
        ]
        assert [a.account_id for a in list_accounts(session, ORG, milestone_id="mil_pql")[0]] == ["acme"]
        page = list_event_types(SimpleNamespace(org_id=ORG), session, None, None, 50, None)
        assert [(i.label, i.count) for i in page.items] == [("Action: Invited User", 3), ("Group", 1), ("Identify", 1), ("Page", 1)]  # fmt: skip


@pytest.mark.parametrize("retention", [0, -1])
def test_retention_must_be_positive(db, retention):
    with pytest.raises(ValueError):
        db.apply([], stream_retention=retention)


def test_stats_add_up():
    assert ServingStats(rows=1, contacts=2) + ServingStats(rows=3, accounts=1) == ServingStats(
        rows=4, contacts=2, accounts=1
    )
