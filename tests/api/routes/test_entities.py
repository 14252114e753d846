"""Reading accounts, contacts and the event type catalog from the serving tables."""

from __future__ import annotations

from datetime import timedelta

from tests.support import builders
from tests.support.builders import T0


def ids(response, key):
    assert response.status_code == 200, response.text
    return [item[key] for item in response.json()["items"]]


def seed(api):
    org = api.org_id
    api.insert(
        builders.account(org, "acme", name="Acme Inc", domain="acme.com", traits={"plan": "enterprise"}),
        builders.account(org, "globex", name="Globex", domain="globex.io", traits={"plan": "trial"}),
        builders.contact(
            org,
            "u1",
            name="Ada Lovelace",
            email="ada@acme.com",
            account_id="acme",
            traits={"company": {"plan": "enterprise"}, "seats": 5},
            last_seen=T0 + timedelta(days=2),
        ),
        builders.contact(
            org,
            "u2",
            name="Grace Hopper",
            email="grace@globex.io",
            account_id="globex",
            traits={"company": {"plan": "trial"}},
            last_seen=T0 + timedelta(days=1),
        ),
        builders.contact(org, "u3", email="alan@acme.com", account_id="acme", last_seen=T0 + timedelta(days=3)),
        builders.contact(org, "anon-9", last_seen=T0 - timedelta(days=1)),
    )


def test_contacts_sorted_by_name_and_recent(api_on):
    seed(api_on)
    assert ids(api_on.client.get("/v1/contacts", headers=api_on.admin), "contact_id") == ["u1", "u3", "anon-9", "u2"]
    recent = api_on.client.get("/v1/contacts", params={"sort": "recent"}, headers=api_on.admin)
    assert ids(recent, "contact_id") == ["u3", "u1", "u2", "anon-9"]


def test_search_by_name_email_id_and_account(api_on):
    seed(api_on)
    get = lambda **p: ids(api_on.client.get("/v1/contacts", params=p, headers=api_on.admin), "contact_id")  # noqa: E731
    assert get(q="ADA") == ["u1"]
    assert get(q="grace@") == ["u2"]
    assert get(q="alan") == ["u3"]
    assert get(q="anon-9") == ["anon-9"]
    assert get(q="nobody") == []
    assert get(account_id="acme") == ["u1", "u3"]
    assert get(trait="company.plan:enterprise") == ["u1"]
    assert get(trait="seats:5") == ["u1"]
    bad = api_on.client.get("/v1/contacts", params={"trait": "no-colon"}, headers=api_on.admin)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "trait"


def test_accounts_search_by_name_domain_and_trait(api_on):
    seed(api_on)
    get = lambda **p: ids(api_on.client.get("/v1/accounts", params=p, headers=api_on.admin), "account_id")  # noqa: E731
    assert get() == ["acme", "globex"]
    assert get(q="glob") == ["globex"]
    assert get(q="acme.c") == ["acme"]
    assert get(trait="plan:trial") == ["globex"]
    account = api_on.client.get("/v1/accounts/acme", headers=api_on.admin).json()
    assert (account["name"], account["domain"], account["traits"]) == ("Acme Inc", "acme.com", {"plan": "enterprise"})


def test_milestones_and_tags_appear_on_entities(api_on):
    seed(api_on)
    milestone = api_on.client.post(
        "/v1/milestones",
        json={"name": "PQL", "entity": "account", "event": {"kind": "Action", "name": "Invited User"}, "threshold": 3},
        headers=api_on.admin,
    ).json()
    api_on.insert(builders.achieved(api_on.org_id, milestone["id"], "acme", count=4))
    account = api_on.client.get("/v1/accounts/acme", headers=api_on.admin).json()
    assert account["milestones"] == [
        {"milestone_id": milestone["id"], "name": "PQL", "achieved_at": "2024-05-01T00:00:00Z", "count": 4}
    ]
    # a contact with the same id as the account does not inherit the account's milestone
    api_on.insert(builders.contact(api_on.org_id, "acme"))
    assert api_on.client.get("/v1/contacts/acme", headers=api_on.admin).json()["milestones"] == []
    only = api_on.client.get("/v1/accounts", params={"milestone_id": milestone["id"]}, headers=api_on.admin)
    assert ids(only, "account_id") == ["acme"]


def test_search_pages_merge_name_and_email_matches(api_on):
    # "pat" matches some names and other contacts' emails; pages must not repeat or skip
    api_on.insert(
        *(builders.contact(api_on.org_id, f"n{i}", name=f"Pat {i}", email=f"x{i}@a.com") for i in range(7)),
        *(builders.contact(api_on.org_id, f"e{i}", name=f"Zed {i}", email=f"pat{i}@b.com") for i in range(6)),
        builders.contact(api_on.org_id, "other", name="Someone"),
    )
    for sort in ("name", "recent"):
        seen, cursor = [], None
        while True:
            params = {"q": "pat", "limit": 4, "sort": sort} | ({"cursor": cursor} if cursor else {})
            page = api_on.client.get("/v1/contacts", params=params, headers=api_on.admin).json()
            seen += [c["contact_id"] for c in page["items"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        assert sorted(seen) == sorted([f"n{i}" for i in range(7)] + [f"e{i}" for i in range(6)])
        assert len(seen) == 13


def test_pagination_is_stable_in_both_orders(api_on):
    api_on.insert(
        *(
            builders.contact(api_on.org_id, f"c{i:02d}", name=f"Person {i % 3}", last_seen=T0 + timedelta(hours=i % 4))
            for i in range(23)
        )
    )
    for sort in ("name", "recent"):
        seen, cursor = [], None
        while True:
            params = {"limit": 5, "sort": sort} | ({"cursor": cursor} if cursor else {})
            page = api_on.client.get("/v1/contacts", params=params, headers=api_on.admin).json()
            seen += [c["contact_id"] for c in page["items"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        everything = ids(
            api_on.client.get("/v1/contacts", params={"limit": 100, "sort": sort}, headers=api_on.admin), "contact_id"
        )
        assert seen == everything and len(set(seen)) == 23


def test_contact_ids_with_slashes_and_missing_ones(api_on):
    api_on.insert(builders.contact(api_on.org_id, "team/ada@x.com"))
    assert (
        api_on.client.get("/v1/contacts/team/ada@x.com", headers=api_on.admin).json()["contact_id"] == "team/ada@x.com"
    )
    missing = api_on.client.get("/v1/contacts/nobody", headers=api_on.admin)
    assert (
        missing.status_code == 404 and missing.json()["error"]["message"] == "no contact 'nobody' in this organisation"
    )


def test_other_organisations_entities_are_invisible(api_on):
    seed(api_on)
    _, token = api_on.new_org()
    other = api_on.bearer(token)
    assert api_on.client.get("/v1/contacts", headers=other).json()["items"] == []
    assert api_on.client.get("/v1/accounts", headers=other).json()["items"] == []
    assert api_on.client.get("/v1/contacts/u1", headers=other).status_code == 404
    assert api_on.client.get("/v1/accounts/acme", headers=other).status_code == 404


def test_event_type_catalog(api_on):
    api_on.insert(
        builders.event_type(api_on.org_id, "Action", "Invited User", count=7),
        builders.event_type(api_on.org_id, "Action", "Created Project", count=2),
        builders.event_type(api_on.org_id, "Page", "", count=9),
    )
    items = api_on.client.get("/v1/event-types", headers=api_on.admin).json()["items"]
    assert [(i["kind"], i["name"], i["label"], i["count"]) for i in items] == [
        ("Action", "Created Project", "Action: Created Project", 2),
        ("Action", "Invited User", "Action: Invited User", 7),
        ("Page", None, "Page", 9),
    ]
    only_pages = api_on.client.get("/v1/event-types", params={"kind": "Page"}, headers=api_on.admin).json()["items"]
    assert [i["label"] for i in only_pages] == ["Page"]
    prefixed = api_on.client.get("/v1/event-types", params={"q": "Inv"}, headers=api_on.admin).json()["items"]
    assert [i["name"] for i in prefixed] == ["Invited User"]
    page1 = api_on.client.get("/v1/event-types", params={"limit": 2}, headers=api_on.admin).json()
    page2 = api_on.client.get(
        "/v1/event-types", params={"limit": 2, "cursor": page1["next_cursor"]}, headers=api_on.admin
    ).json()
    assert [i["label"] for i in page1["items"] + page2["items"]] == [i["label"] for i in items]
