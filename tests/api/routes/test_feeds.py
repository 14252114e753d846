"""A stream's feed (newest first, keyset pages, filters, polling with ``since``) and a
view's members, over the management API on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from tests.support import builders
from tests.web.builders import stream_item


def feed(api, stream_id, headers=None, **params):
    response = api.client.get(f"/v1/streams/{stream_id}/feed", params=params, headers=headers or api.admin)
    assert response.status_code == 200, response.text
    return response.json()


def ids(page):
    return [item["message_id"] for item in page["items"]]


def default_stream(api, headers=None) -> str:
    return api.client.get("/v1/me", headers=headers or api.admin).json()["default_stream_id"]


def test_feed_is_newest_first_in_keyset_pages(api_on):
    stream = default_stream(api_on)
    api_on.insert(*(stream_item(api_on.org_id, stream, f"m{i}", at=timedelta(minutes=i)) for i in range(5)))
    # equal event times are ordered by message id, so pages never split ties unstably
    api_on.insert(stream_item(api_on.org_id, stream, "m3b", at=timedelta(minutes=3)))
    first = feed(api_on, stream, limit=4)
    assert ids(first) == ["m4", "m3b", "m3", "m2"]
    second = feed(api_on, stream, limit=4, cursor=first["next_cursor"])
    assert ids(second) == ["m1", "m0"]
    assert second["next_cursor"] is None
    item = first["items"][0]
    assert (item["kind"], item["name"], item["label"], item["account_id"]) == (
        "Action",
        "Invited User",
        "Action: Invited User",
        "acme",
    )


def test_feed_filters_by_event_type_and_account(api_on):
    stream = default_stream(api_on)
    org = api_on.org_id
    api_on.insert(
        stream_item(org, stream, "a", kind="Page", name=None, account_id="acme"),
        stream_item(org, stream, "b", kind="Action", name="Invited User", account_id="globex", at=timedelta(1)),
        stream_item(org, stream, "c", kind="Action", name="Signed Up", account_id="acme", at=timedelta(2)),
    )
    assert ids(feed(api_on, stream, kind="Page")) == ["a"]
    assert ids(feed(api_on, stream, kind="Action", name="Invited User")) == ["b"]
    assert ids(feed(api_on, stream, account_id="acme")) == ["c", "a"]
    bad = api_on.client.get(f"/v1/streams/{stream}/feed", params={"name": "Signed Up"}, headers=api_on.admin)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "name"


def test_polling_with_since_returns_only_newer_items(api_on):
    stream = default_stream(api_on)
    api_on.insert(stream_item(api_on.org_id, stream, "old", at=timedelta(0)))
    live = feed(api_on, stream)["live_cursor"]
    assert ids(feed(api_on, stream, since=live)) == []
    api_on.insert(
        stream_item(api_on.org_id, stream, "new1", at=timedelta(minutes=1)),
        stream_item(api_on.org_id, stream, "new2", at=timedelta(minutes=2)),
    )
    polled = feed(api_on, stream, since=live)
    assert ids(polled) == ["new2", "new1"]
    assert ids(feed(api_on, stream, since=polled["live_cursor"])) == []
    bad = api_on.client.get(f"/v1/streams/{stream}/feed", params={"since": "nonsense"}, headers=api_on.admin)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "since"


def test_another_users_or_organisations_stream_is_404(api_on):
    mine = default_stream(api_on)
    member = api_on.new_user("Mia")
    assert api_on.client.get(f"/v1/streams/{mine}/feed", headers=api_on.bearer(member["token"])).status_code == 404
    _, other_token = api_on.new_org()
    assert api_on.client.get(f"/v1/streams/{mine}/feed", headers=api_on.bearer(other_token)).status_code == 404
    assert api_on.client.get(f"/v1/streams/{mine}/feed").status_code == 401


PRO = {"type": "trait", "filter": {"path": "plan", "op": "equals", "value": "pro"}}


def test_view_members_are_paged_by_name_with_the_total_and_use_tags(api_on):
    org = api_on.org_id
    api_on.insert(
        builders.account(org, "a1", name="Beta", traits={"plan": "pro"}),
        builders.account(org, "a2", name="Alpha", traits={"plan": "pro"}),
        builders.account(org, "a3", name="Gamma", traits={"plan": "free"}),
        builders.account(org, "a4", name="Delta", traits={"plan": "pro", "seats": 50}),
    )
    tag = api_on.client.post(
        "/v1/tags",
        json={"name": "Big", "entity": "account", "definition": {"type": "group", "match": "all", "conditions": [
            {"type": "trait", "filter": {"path": "seats", "op": "gte", "value": 10}}]}},
        headers=api_on.admin,
    ).json()  # fmt: skip
    view = api_on.client.post(
        "/v1/views",
        json={"name": "Pro, not big", "entity": "account", "visibility": "personal", "definition": {
            "type": "group", "match": "all", "conditions": [PRO, {"type": "tag", "tag_id": tag["id"], "has": False}]}},
        headers=api_on.admin,
    ).json()  # fmt: skip
    first = api_on.client.get(f"/v1/views/{view['id']}/members", params={"limit": 1}, headers=api_on.admin).json()
    assert first["total"] == 2 and [m["entity_id"] for m in first["items"]] == ["a2"]
    rest = api_on.client.get(
        f"/v1/views/{view['id']}/members", params={"limit": 1, "cursor": first["next_cursor"]}, headers=api_on.admin
    ).json()
    assert [m["entity_id"] for m in rest["items"]] == ["a1"] and rest["next_cursor"] is None
    _, other_token = api_on.new_org()
    assert api_on.client.get(f"/v1/views/{view['id']}/members", headers=api_on.bearer(other_token)).status_code == 404
