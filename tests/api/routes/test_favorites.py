"""Favorites over the management API: one ordered list of views and streams per user."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from variance.appdb.models import Favorite
from variance.workspace.favorites import MAX_FAVORITES, favorite_positions

DEFINITION = {
    "type": "group",
    "match": "all",
    "conditions": [{"type": "trait", "filter": {"path": "plan", "op": "exists"}}],
}


def make_view(api, name: str, headers=None, visibility: str = "personal") -> dict:
    body = {"name": name, "entity": "account", "visibility": visibility, "definition": DEFINITION}
    response = api.client.post("/v1/views", json=body, headers=headers or api.admin)
    assert response.status_code == 201, response.text
    return response.json()


def make_stream(api, name: str, headers=None, visibility: str = "personal") -> dict:
    response = api.client.post(
        "/v1/streams", json={"name": name, "visibility": visibility}, headers=headers or api.admin
    )
    assert response.status_code == 201, response.text
    return response.json()


def put(api, headers, target_id: str, target_type: str = "view", position: int | None = None):
    body = {"target_type": target_type, "target_id": target_id} | ({} if position is None else {"position": position})
    return api.client.put("/v1/favorites", json=body, headers=headers)


def listed(api, headers) -> list[tuple[str, int]]:
    page = api.client.get("/v1/favorites", headers=headers).json()
    assert page["next_cursor"] is None
    return [(f["name"], f["position"]) for f in page["items"]]


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


@pytest.fixture
def mia(api_on) -> dict:
    return api_on.bearer(api_on.new_user("Mia")["token"])


def test_favorites_are_one_ordered_list_of_views_and_streams(api_on, mia):
    trials = make_view(api_on, "Trials", headers=mia)
    pricing = make_stream(api_on, "Pricing", visibility="team")
    won = make_view(api_on, "Won", visibility="team")
    added = put(api_on, mia, trials["id"])
    assert added.status_code == 200, added.text
    assert {k: v for k, v in added.json().items() if k != "created_at"} == {
        "target_type": "view",
        "target_id": trials["id"],
        "name": "Trials",
        "position": 0,
    }
    assert put(api_on, mia, pricing["id"], "stream").json()["position"] == 1
    assert put(api_on, mia, won["id"], position=0).json()["position"] == 0
    assert listed(api_on, mia) == [("Won", 0), ("Trials", 1), ("Pricing", 2)]
    page = api_on.client.get("/v1/favorites", headers=mia).json()["items"]
    assert [(f["target_type"], f["target_id"]) for f in page] == [
        ("view", won["id"]),
        ("view", trials["id"]),
        ("stream", pricing["id"]),
    ]
    # favoriting again without a position changes nothing; with one, it moves
    assert put(api_on, mia, won["id"]).json()["position"] == 0
    assert put(api_on, mia, won["id"], position=99).json()["position"] == 2
    assert listed(api_on, mia) == [("Trials", 0), ("Pricing", 1), ("Won", 2)]
    assert put(api_on, mia, pricing["id"], "stream", position=0).json()["position"] == 0
    assert listed(api_on, mia) == [("Pricing", 0), ("Trials", 1), ("Won", 2)]
    # the stream list shows the same favorite
    streams = api_on.client.get("/v1/streams", headers=mia).json()["items"]
    assert [(s["name"], s["favorite_position"]) for s in streams] == [("Pricing", 0), ("Mia's Stream", None)]


def test_removing_closes_the_gap(api_on, mia):
    ids = [make_view(api_on, f"v{i}", headers=mia)["id"] for i in range(3)]
    for view_id in ids:
        put(api_on, mia, view_id)
    assert api_on.client.delete(f"/v1/favorites/view/{ids[0]}", headers=mia).status_code == 204
    assert listed(api_on, mia) == [("v1", 0), ("v2", 1)]
    with api_on.client.app.state.sessions() as session:
        stored = session.execute(select(Favorite.target_id, Favorite.position).order_by(Favorite.position)).all()
    assert [tuple(r) for r in stored] == [(ids[1], 0), (ids[2], 1)]
    again = api_on.client.delete(f"/v1/favorites/view/{ids[0]}", headers=mia)
    assert error_of(again, 404) == {"code": "not_found", "message": f"view {ids[0]!r} is not among your favorites"}
    assert api_on.client.delete(f"/v1/favorites/board/{ids[1]}", headers=mia).status_code == 422


def test_reorder_takes_every_favorite_exactly_once(api_on, mia):
    a, b = make_view(api_on, "A", headers=mia), make_view(api_on, "B", headers=mia)
    own_stream = api_on.client.get("/v1/me", headers=mia).json()["default_stream_id"]
    for target_id, target_type in ((a["id"], "view"), (b["id"], "view"), (own_stream, "stream")):
        put(api_on, mia, target_id, target_type)
    order = [
        {"target_type": "stream", "target_id": own_stream},
        {"target_type": "view", "target_id": b["id"]},
        {"target_type": "view", "target_id": a["id"]},
    ]
    response = api_on.client.put("/v1/favorites/order", json={"items": order}, headers=mia)
    assert response.status_code == 200, response.text
    assert [(f["name"], f["position"]) for f in response.json()["items"]] == [
        ("Mia's Stream", 0),
        ("B", 1),
        ("A", 2),
    ]
    assert listed(api_on, mia) == [("Mia's Stream", 0), ("B", 1), ("A", 2)]
    for items, field, rule in (
        (order[:2], "items", f"must list every favorite; missing: view {a['id']!r}"),
        ([*order, order[0]], "items[3]", f"stream {own_stream!r} is listed twice"),
        (
            [*order[:2], {"target_type": "stream", "target_id": "str_nope"}],
            "items[2]",
            "stream 'str_nope' is not among your favorites",
        ),
    ):
        error = error_of(api_on.client.put("/v1/favorites/order", json={"items": items}, headers=mia), 400)
        assert (error["field"], error["rule"]) == (field, rule)
    assert listed(api_on, mia) == [("Mia's Stream", 0), ("B", 1), ("A", 2)]  # unchanged by the refusals


def test_only_what_you_can_see_can_be_a_favorite(api_on, mia):
    admins_view = make_view(api_on, "Admin's own")
    admins_stream = make_stream(api_on, "Admin's stream")
    _, token = api_on.new_org("Globex")
    foreign_view = make_view(api_on, "Theirs", headers=api_on.bearer(token), visibility="team")
    for target_id, target_type in (
        (admins_view["id"], "view"),
        (admins_stream["id"], "stream"),
        (foreign_view["id"], "view"),
        ("viw_nope", "view"),
        (admins_view["id"], "stream"),  # the right id under the wrong type
    ):
        error = error_of(put(api_on, mia, target_id, target_type), 404)
        assert error["message"] == f"no {target_type} {target_id!r} visible to you in this organisation"
    assert listed(api_on, mia) == []


def test_each_user_has_their_own_list(api_on, mia):
    team = make_view(api_on, "Team", visibility="team")
    put(api_on, mia, team["id"])
    assert listed(api_on, api_on.admin) == []
    assert error_of(api_on.client.delete(f"/v1/favorites/view/{team['id']}", headers=api_on.admin), 404)["code"] == (
        "not_found"
    )
    assert listed(api_on, mia) == [("Team", 0)]


def test_another_organisation_sees_and_changes_nothing(api_on, mia):
    team = make_view(api_on, "Team", visibility="team")
    put(api_on, mia, team["id"])
    _, token = api_on.new_org("Globex")
    other = api_on.bearer(token)
    assert api_on.client.get("/v1/favorites", headers=other).json() == {"items": [], "next_cursor": None}
    assert error_of(put(api_on, other, team["id"]), 404)["message"] == (
        f"no view {team['id']!r} visible to you in this organisation"
    )
    assert error_of(api_on.client.delete(f"/v1/favorites/view/{team['id']}", headers=other), 404)["message"] == (
        f"view {team['id']!r} is not among your favorites"
    )
    reorder = api_on.client.put(
        "/v1/favorites/order", json={"items": [{"target_type": "view", "target_id": team["id"]}]}, headers=other
    )
    assert error_of(reorder, 400)["rule"] == f"view {team['id']!r} is not among your favorites"
    assert listed(api_on, mia) == [("Team", 0)]


def test_pages_walk_the_list_in_order(api_on, mia):
    ids = [make_view(api_on, f"v{i}", headers=mia)["id"] for i in range(5)]
    for view_id in reversed(ids):
        put(api_on, mia, view_id)
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api_on.client.get("/v1/favorites", params=params, headers=mia).json()
        assert len(page["items"]) <= 2
        seen += [(f["name"], f["position"]) for f in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [("v4", 0), ("v3", 1), ("v2", 2), ("v1", 3), ("v0", 4)]
    bad = api_on.client.get("/v1/favorites", params={"cursor": "WyJ4IiwgMV0"}, headers=mia)  # ["x", 1]
    assert error_of(bad, 400)["message"] == "cursor: is not a cursor returned by this list"


def test_positions_stay_dense_when_a_favorite_stream_is_deleted(api_on, mia):
    stream = make_stream(api_on, "Pricing", headers=mia)
    view = make_view(api_on, "Trials", headers=mia)
    put(api_on, mia, stream["id"], "stream")
    put(api_on, mia, view["id"])
    assert api_on.client.delete(f"/v1/streams/{stream['id']}", headers=mia).status_code == 204
    assert listed(api_on, mia) == [("Trials", 0)]
    assert api_on.client.get(f"/v1/views/{view['id']}", headers=mia).json()["favorite_position"] == 0


def test_favorite_positions_number_one_type_among_all_favorites(api_on, mia):
    view = make_view(api_on, "Trials", headers=mia)
    own_stream = api_on.client.get("/v1/me", headers=mia).json()
    put(api_on, mia, own_stream["default_stream_id"], "stream")
    put(api_on, mia, view["id"])
    with api_on.client.app.state.sessions() as session:
        assert favorite_positions(session, own_stream["id"], "view") == {view["id"]: 1}
        assert favorite_positions(session, own_stream["id"], "stream") == {own_stream["default_stream_id"]: 0}
        assert favorite_positions(session, "usr_nobody", "view") == {}


def test_a_user_has_at_most_200_favorites(api):
    mia = api.new_user("Mia")
    headers = api.bearer(mia["token"])
    api.insert(
        *[
            Favorite(
                id=f"fav_{i:04d}",
                org_id=api.org_id,
                user_id=mia["id"],
                target_type="view",
                target_id=f"viw_{i}",
                position=i,
            )
            for i in range(MAX_FAVORITES)
        ]
    )
    view = make_view(api, "One more", headers=headers)
    error = error_of(put(api, headers, view["id"]), 409)
    assert error["message"] == "you already have 200 favorites, the most allowed; remove one first"


def test_tokens_are_required(api):
    for response in (
        api.client.get("/v1/favorites"),
        api.client.put("/v1/favorites", json={"target_type": "view", "target_id": "viw_x"}),
        api.client.put("/v1/favorites/order", json={"items": []}),
        api.client.delete("/v1/favorites/view/viw_x"),
    ):
        assert error_of(response, 401)["code"] == "unauthorized"


def test_request_bodies_are_checked(api):
    for body, field in (
        ({"target_type": "board", "target_id": "x"}, "target_type"),
        ({"target_type": "view", "target_id": ""}, "target_id"),
        ({"target_type": "view", "target_id": "x", "position": -1}, "position"),
        ({"target_type": "view", "target_id": "x", "pinned": True}, "pinned"),
    ):
        assert error_of(api.client.put("/v1/favorites", json=body, headers=api.admin), 422)["field"] == field
    assert api.client.put("/v1/favorites/order", json={"items": []}, headers=api.admin).json() == {"items": []}
