"""Streams, selectors and follows, with who may see and change what."""

from __future__ import annotations

import pytest

PRICING = {"kind": "Page", "filters": [{"path": "path", "op": "starts_with", "value": "/pricing"}]}
INVITES = {"kind": "Action", "name": "Invited User", "connection_name": "web"}


def make_stream(api, headers, **body):
    body.setdefault("name", "Trials")
    response = api.client.post("/v1/streams", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_event_type_stream_keeps_its_selectors(api_on):
    stream = make_stream(
        api_on,
        api_on.admin,
        name="Pricing",
        type="event_type",
        visibility="team",
        selectors=[PRICING, INVITES],
        slack_channel={"id": "C024BE91L", "name": "#pricing"},
    )
    assert stream["selectors"] == [
        {
            "kind": "Page",
            "name": None,
            "filters": [{"path": "path", "op": "starts_with", "value": "/pricing"}],
            "connection_name": None,
        },
        {"kind": "Action", "name": "Invited User", "filters": [], "connection_name": "web"},
    ]
    assert stream["slack_channel"] == {"id": "C024BE91L", "name": "#pricing"}
    fetched = api_on.client.get(f"/v1/streams/{stream['id']}", headers=api_on.admin).json()
    assert fetched == stream


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "x", "type": "event_type"}, 400, "selectors"),
        ({"name": "x", "type": "accounts_contacts", "selectors": [PRICING]}, 400, "selectors"),
        ({"name": "x", "type": "event_type", "selectors": [{"kind": "Action"}]}, 422, "selectors.0"),
        ({"name": "x", "type": "event_type", "selectors": [{"kind": "Page", "name": "Pricing"}]}, 422, "selectors.0"),
        (
            {
                "name": "x",
                "type": "event_type",
                "selectors": [{"kind": "Page", "filters": [{"path": "a", "op": "gt", "value": "x"}]}],
            },
            422,
            "selectors.0.filters.0.value",
        ),
        ({"name": "x", "slack_channel": {"id": "not valid", "name": "#x"}}, 422, "slack_channel.id"),
        ({"name": "   "}, 400, "name"),
    ],
)
def test_invalid_streams_name_the_field(api_on, body, status, field):
    response = api_on.client.post("/v1/streams", json=body, headers=api_on.admin)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field


def test_rename_connect_slack_replace_selectors_delete(api_on):
    stream = make_stream(api_on, api_on.admin, name="Docs", type="event_type", selectors=[PRICING])
    url = f"/v1/streams/{stream['id']}"
    updated = api_on.client.patch(
        url,
        json={"name": "Docs visits", "slack_channel": {"id": "C1", "name": "#docs"}, "selectors": [INVITES]},
        headers=api_on.admin,
    ).json()
    assert (updated["name"], updated["slack_channel"]["id"], [s["kind"] for s in updated["selectors"]]) == (
        "Docs visits",
        "C1",
        ["Action"],
    )
    cleared = api_on.client.patch(url, json={"slack_channel": None}, headers=api_on.admin).json()
    assert cleared["slack_channel"] is None and cleared["name"] == "Docs visits"
    assert api_on.client.delete(url, headers=api_on.admin).status_code == 204
    assert api_on.client.get(url, headers=api_on.admin).status_code == 404


def test_default_stream_cannot_be_deleted(api_on):
    me = api_on.client.get("/v1/me", headers=api_on.admin).json()
    response = api_on.client.delete(f"/v1/streams/{me['default_stream_id']}", headers=api_on.admin)
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "a user's default stream cannot be deleted"


def test_visibility_and_permissions(api_on):
    member = api_on.new_user("Mia")
    mia = api_on.bearer(member["token"])
    team = make_stream(api_on, api_on.admin, name="Team", visibility="team")
    admins_own = make_stream(api_on, api_on.admin, name="Admin private")
    mias_own = make_stream(api_on, mia, name="Mia private")
    # members see team streams and their own, not other people's personal streams
    ids = {s["id"] for s in api_on.client.get("/v1/streams", headers=mia).json()["items"]}
    assert team["id"] in ids and mias_own["id"] in ids and admins_own["id"] not in ids
    assert api_on.client.get(f"/v1/streams/{admins_own['id']}", headers=mia).status_code == 404
    # admins do not see members' personal streams either
    assert api_on.client.get(f"/v1/streams/{mias_own['id']}", headers=api_on.admin).status_code == 404
    # members cannot create or change team streams
    assert api_on.client.post("/v1/streams", json={"name": "T", "visibility": "team"}, headers=mia).status_code == 403
    assert api_on.client.patch(f"/v1/streams/{team['id']}", json={"name": "x"}, headers=mia).status_code == 403
    assert api_on.client.delete(f"/v1/streams/{team['id']}", headers=mia).status_code == 403
    assert api_on.client.patch(f"/v1/streams/{mias_own['id']}", json={"name": "Mine"}, headers=mia).status_code == 200


def test_other_organisation_sees_and_changes_nothing(api_on):
    team = make_stream(api_on, api_on.admin, name="Team", visibility="team")
    _, token = api_on.new_org()
    other = api_on.bearer(token)
    url = f"/v1/streams/{team['id']}"
    assert api_on.client.get(url, headers=other).status_code == 404
    assert api_on.client.patch(url, json={"name": "x"}, headers=other).status_code == 404
    assert api_on.client.delete(url, headers=other).status_code == 404
    assert api_on.client.get(url + "/follows", headers=other).status_code == 404
    body = {"entity_type": "account", "entity_id": "acme", "stream_ids": [team["id"]]}
    assert api_on.client.post("/v1/follows", json=body, headers=other).status_code == 404
    names = [s["name"] for s in api_on.client.get("/v1/streams", headers=other).json()["items"]]
    assert names == ["Admin's Stream"]


def test_follow_goes_to_the_default_stream_and_is_idempotent(api_on):
    me = api_on.client.get("/v1/me", headers=api_on.admin).json()
    body = {"entity_type": "account", "entity_id": "acme"}
    first = api_on.client.post("/v1/follows", json=body, headers=api_on.admin).json()
    again = api_on.client.post("/v1/follows", json=body, headers=api_on.admin).json()
    assert [f["stream_id"] for f in first["follows"]] == [me["default_stream_id"]]
    assert first["follows"] == again["follows"] and first["created_stream"] is None
    listed = api_on.client.get(f"/v1/streams/{me['default_stream_id']}/follows", headers=api_on.admin).json()
    assert [(f["entity_type"], f["entity_id"]) for f in listed["items"]] == [("account", "acme")]


def test_follow_into_several_streams_and_into_a_new_one(api_on):
    a = make_stream(api_on, api_on.admin, name="Trials")
    b = make_stream(api_on, api_on.admin, name="Growing Fast", visibility="team")
    body = {
        "entity_type": "contact",
        "entity_id": "user-1",
        "stream_ids": [a["id"], b["id"]],
        "new_stream": {"name": "Texas"},
    }
    result = api_on.client.post("/v1/follows", json=body, headers=api_on.admin).json()
    assert result["created_stream"]["name"] == "Texas"
    assert {f["stream_id"] for f in result["follows"]} == {a["id"], b["id"], result["created_stream"]["id"]}
    followers = api_on.client.get(
        "/v1/follows", params={"entity_type": "contact", "entity_id": "user-1"}, headers=api_on.admin
    )
    assert len(followers.json()["items"]) == 3
    # unfollow from one stream, then from all
    gone = api_on.client.delete(
        "/v1/follows",
        params={"entity_type": "contact", "entity_id": "user-1", "stream_id": a["id"]},
        headers=api_on.admin,
    )
    assert gone.status_code == 204
    left = api_on.client.get(
        "/v1/follows", params={"entity_type": "contact", "entity_id": "user-1"}, headers=api_on.admin
    )
    assert len(left.json()["items"]) == 2
    api_on.client.delete("/v1/follows", params={"entity_type": "contact", "entity_id": "user-1"}, headers=api_on.admin)
    none = api_on.client.get(
        "/v1/follows", params={"entity_type": "contact", "entity_id": "user-1"}, headers=api_on.admin
    )
    assert none.json()["items"] == []


def test_cannot_follow_into_an_event_type_stream_or_a_team_stream_as_member(api_on):
    events = make_stream(api_on, api_on.admin, name="Pricing", type="event_type", selectors=[PRICING])
    body = {"entity_type": "account", "entity_id": "acme", "stream_ids": [events["id"]]}
    response = api_on.client.post("/v1/follows", json=body, headers=api_on.admin)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "stream_ids[0]"
    team = make_stream(api_on, api_on.admin, name="Team", visibility="team")
    mia = api_on.bearer(api_on.new_user("Mia")["token"])
    body = {"entity_type": "account", "entity_id": "acme", "stream_ids": [team["id"]]}
    assert api_on.client.post("/v1/follows", json=body, headers=mia).status_code == 403


def test_stream_list_paginates_stably(api_on):
    for i in range(5):
        make_stream(api_on, api_on.admin, name=f"S{i}")
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api_on.client.get("/v1/streams", params=params, headers=api_on.admin).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert len(seen) == 6 and seen == sorted(seen)
    assert api_on.client.get("/v1/streams", params={"cursor": "garbage"}, headers=api_on.admin).status_code == 400
