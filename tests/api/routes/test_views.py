"""Views over the management API: personal and team, using smart tags, the sidebar order
with favorites first; and the ``variance views`` command."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from variance.appdb.models import Favorite
from variance.stack.processes import run_cli

PRO = {"type": "trait", "filter": {"path": "plan", "op": "equals", "value": "pro"}}


def group(*conditions, match="all") -> dict:
    return {"type": "group", "match": match, "conditions": list(conditions) or [PRO]}


def has_tag(tag_id: str, has: bool = True) -> dict:
    return {"type": "tag", "tag_id": tag_id, "has": has}


def make_view(api, name="Mine", headers=None, entity="account", visibility="personal", definition=None) -> dict:
    body = {"name": name, "entity": entity, "visibility": visibility, "definition": definition or group()}
    response = api.client.post("/v1/views", json=body, headers=headers or api.admin)
    assert response.status_code == 201, response.text
    return response.json()


def make_tag(api, name="Active", entity="account") -> dict:
    body = {"name": name, "entity": entity, "definition": group()}
    response = api.client.post("/v1/tags", json=body, headers=api.admin)
    assert response.status_code == 201, response.text
    return response.json()


def favorite(api, headers, target_id, target_type="view", position=None):
    body = {"target_type": target_type, "target_id": target_id} | ({} if position is None else {"position": position})
    response = api.client.put("/v1/favorites", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def sidebar(api, headers, limit=50, **params) -> list[dict]:
    """Every page of GET /v1/views, walked with the cursor."""
    seen, cursor = [], None
    while True:
        query = {"limit": limit, **params} | ({"cursor": cursor} if cursor else {})
        response = api.client.get("/v1/views", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return seen


def names(views: list[dict]) -> list[str]:
    return [v["name"] for v in views]


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


@pytest.fixture
def mia(api_on) -> dict:
    return api_on.bearer(api_on.new_user("Mia")["token"])


# --- personal and team ----------------------------------------------------------------------


def test_a_member_creates_a_personal_view_only_they_see(api_on, mia):
    view = make_view(api_on, "My trials", headers=mia, definition=group(PRO))
    me = api_on.client.get("/v1/me", headers=mia).json()
    assert view["id"].startswith("viw_")
    assert {k: view[k] for k in ("name", "entity", "visibility", "owner_user_id", "favorite_position")} == {
        "name": "My trials",
        "entity": "account",
        "visibility": "personal",
        "owner_user_id": me["id"],
        "favorite_position": None,
    }
    assert view["definition"] == group(PRO)
    url = f"/v1/views/{view['id']}"
    assert api_on.client.get(url, headers=mia).json() == view
    assert names(sidebar(api_on, mia)) == ["My trials"]
    # to anyone else, the admin included, it does not exist
    leo = api_on.bearer(api_on.new_user("Leo")["token"])
    not_found = {"code": "not_found", "message": f"no view {view['id']!r} visible to you in this organisation"}
    for headers in (api_on.admin, leo):
        assert error_of(api_on.client.get(url, headers=headers), 404) == not_found
        assert error_of(api_on.client.patch(url, json={"name": "x"}, headers=headers), 404) == not_found
        assert error_of(api_on.client.delete(url, headers=headers), 404) == not_found
        assert sidebar(api_on, headers) == []
    assert api_on.client.get(url, headers=mia).json() == view


def test_team_views_are_made_and_changed_by_admins_and_seen_by_everyone(api_on, mia):
    refused = api_on.client.post(
        "/v1/views", json={"name": "T", "entity": "account", "visibility": "team", "definition": group()}, headers=mia
    )
    assert error_of(refused, 403) == {"code": "forbidden", "message": "only admins create team views"}
    team = make_view(api_on, "Hot accounts", visibility="team")
    assert (team["visibility"], team["owner_user_id"]) == ("team", None)
    url = f"/v1/views/{team['id']}"
    assert api_on.client.get(url, headers=mia).json() == team
    assert names(sidebar(api_on, mia)) == ["Hot accounts"]
    for response in (
        api_on.client.patch(url, json={"name": "Mine now"}, headers=mia),
        api_on.client.delete(url, headers=mia),
    ):
        assert error_of(response, 403) == {"code": "forbidden", "message": "only admins change team views"}
    renamed = api_on.client.patch(url, json={"name": "Hottest"}, headers=api_on.admin)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Hottest"
    assert api_on.client.delete(url, headers=api_on.admin).status_code == 204
    assert api_on.client.get(url, headers=mia).status_code == 404


def test_owners_change_and_delete_their_personal_views(api_on, mia):
    view = make_view(api_on, "Mine", headers=mia)
    url = f"/v1/views/{view['id']}"
    response = api_on.client.patch(url, json={"name": "Renamed", "definition": group(PRO, PRO)}, headers=mia)
    assert response.status_code == 200, response.text
    assert (response.json()["name"], len(response.json()["definition"]["conditions"])) == ("Renamed", 2)
    assert response.json()["updated_at"] > view["updated_at"]
    for body, message in (
        ({"name": None}, "name: must not be null"),
        ({"visibility": None}, "visibility: must not be null"),
        ({"definition": None}, "definition: must not be null"),
        ({"name": " "}, "name: must not be empty"),
    ):
        assert error_of(api_on.client.patch(url, json=body, headers=mia), 400)["message"] == message
    assert error_of(api_on.client.patch(url, json={"entity": "contact"}, headers=mia), 422)["message"] == (
        "entity: Extra inputs are not permitted"
    )
    assert api_on.client.delete(url, headers=mia).status_code == 204
    assert error_of(api_on.client.get(url, headers=mia), 404)["code"] == "not_found"


def test_admins_share_a_personal_view_and_take_a_team_view_back(api_on, mia):
    mine = make_view(api_on, "Admin's own")
    url = f"/v1/views/{mine['id']}"
    shared = api_on.client.patch(url, json={"visibility": "team"}, headers=api_on.admin).json()
    assert (shared["visibility"], shared["owner_user_id"]) == ("team", None)
    assert api_on.client.get(url, headers=mia).status_code == 200
    favorite(api_on, mia, mine["id"])
    admin_id = api_on.client.get("/v1/me", headers=api_on.admin).json()["id"]
    favorite(api_on, api_on.admin, mine["id"])
    back = api_on.client.patch(url, json={"visibility": "personal"}, headers=api_on.admin).json()
    assert (back["visibility"], back["owner_user_id"], back["favorite_position"]) == ("personal", admin_id, 0)
    assert api_on.client.get(url, headers=mia).status_code == 404
    assert api_on.client.get("/v1/favorites", headers=mia).json()["items"] == []  # Mia's favorite went with it
    # a member may not share
    hers = make_view(api_on, "Hers", headers=mia)
    refused = api_on.client.patch(f"/v1/views/{hers['id']}", json={"visibility": "team"}, headers=mia)
    assert error_of(refused, 403) == {"code": "forbidden", "message": "only admins share views with the team"}
    same = api_on.client.patch(f"/v1/views/{hers['id']}", json={"visibility": "personal"}, headers=mia)
    assert same.status_code == 200


# --- definitions ----------------------------------------------------------------------------


def test_views_use_smart_tags_of_their_entity(api_on, mia):
    active = make_tag(api_on, "Active", "account")
    admins = make_tag(api_on, "Admins", "contact")
    view = make_view(api_on, "Active pros", headers=mia, definition=group(PRO, has_tag(active["id"], has=False)))
    assert view["definition"]["conditions"][1] == {"type": "tag", "tag_id": active["id"], "has": False}
    _, other_token = api_on.new_org("Globex")
    foreign = api_on.client.post(
        "/v1/tags",
        json={"name": "Theirs", "entity": "account", "definition": group()},
        headers=api_on.bearer(other_token),
    ).json()
    for definition, message in (
        (
            group(PRO, group(has_tag(admins["id"]), match="any")),
            "definition.conditions[1].conditions[0].tag_id: smart tag 'Admins' is carried by contacts; "
            "this view is over accounts",
        ),
        (group(has_tag("tag_nope")), "definition.conditions[0].tag_id: no smart tag 'tag_nope' in this organisation"),
        (
            group(has_tag(foreign["id"])),
            f"definition.conditions[0].tag_id: no smart tag {foreign['id']!r} in this organisation",
        ),
        (
            group({"type": "milestone", "milestone_id": "mil_nope", "status": "not_achieved"}),
            "definition.conditions[0].milestone_id: no milestone 'mil_nope' in this organisation",
        ),
    ):
        body = {"name": "x", "entity": "account", "definition": definition}
        assert error_of(api_on.client.post("/v1/views", json=body, headers=mia), 400)["message"] == message
        patched = api_on.client.patch(f"/v1/views/{view['id']}", json={"definition": definition}, headers=mia)
        assert error_of(patched, 400)["message"] == message
    malformed = api_on.client.post(
        "/v1/views", json={"name": "x", "entity": "account", "definition": {"type": "group"}}, headers=mia
    )
    assert error_of(malformed, 422)["message"] == "definition.match: Field required"


# --- the sidebar ----------------------------------------------------------------------------


def test_sidebar_lists_favorites_first_in_their_order_then_the_rest_by_creation(api_on, mia):
    team_a = make_view(api_on, "Team A", visibility="team")
    make_view(api_on, "Admin only")  # the admin's personal view: never in Mia's sidebar
    mine_b = make_view(api_on, "Mine B", headers=mia)
    team_c = make_view(api_on, "Team C", visibility="team", entity="contact")
    mine_d = make_view(api_on, "Mine D", headers=mia)
    assert names(sidebar(api_on, mia)) == ["Team A", "Mine B", "Team C", "Mine D"]
    own_stream = api_on.client.get("/v1/me", headers=mia).json()["default_stream_id"]
    favorite(api_on, mia, team_c["id"])
    favorite(api_on, mia, own_stream, "stream")  # streams share the favorites list
    favorite(api_on, mia, mine_d["id"], position=0)
    expected = [("Mine D", 0), ("Team C", 1), ("Team A", None), ("Mine B", None)]
    for limit in (1, 2, 3, 50):
        assert [(v["name"], v["favorite_position"]) for v in sidebar(api_on, mia, limit=limit)] == expected
    # the admin's sidebar is the admin's own
    assert names(sidebar(api_on, api_on.admin)) == ["Team A", "Admin only", "Team C"]
    # entity narrows, in the same order
    assert names(sidebar(api_on, mia, entity="contact")) == ["Team C"]
    assert names(sidebar(api_on, mia, limit=1, entity="account")) == ["Mine D", "Team A", "Mine B"]
    assert mine_b["favorite_position"] is None and team_a["favorite_position"] is None


def test_sidebar_pages_stay_stable_while_views_are_added(api_on, mia):
    views = [make_view(api_on, f"v{i}", headers=mia) for i in range(5)]
    favorite(api_on, mia, views[3]["id"])
    first = api_on.client.get("/v1/views", params={"limit": 2}, headers=mia).json()
    assert names(first["items"]) == ["v3", "v0"]
    make_view(api_on, "v5", headers=mia)  # created between two pages: lands at the end
    rest = api_on.client.get("/v1/views", params={"limit": 2, "cursor": first["next_cursor"]}, headers=mia).json()
    assert names(rest["items"]) == ["v1", "v2"]
    last = api_on.client.get("/v1/views", params={"limit": 2, "cursor": rest["next_cursor"]}, headers=mia).json()
    assert (names(last["items"]), last["next_cursor"]) == (["v4", "v5"], None)


def encoded(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        encoded([1, 2]),  # too short
        encoded(["x", 0, "viw_1"]),  # the favorite bucket is 0 or 1
        encoded([True, 0, "viw_1"]),
        encoded([0, "1", "viw_1"]),  # positions are integers a database holds
        encoded([0, 10**24, "viw_1"]),
        encoded([0, 0, 7]),
    ],
)
def test_a_cursor_this_list_did_not_return_is_400(api_on, mia, cursor):
    response = api_on.client.get("/v1/views", params={"cursor": cursor}, headers=mia)
    assert error_of(response, 400) == {
        "code": "invalid",
        "message": "cursor: is not a cursor returned by this list",
        "field": "cursor",
        "rule": "is not a cursor returned by this list",
    }


def test_deleting_a_view_removes_it_from_every_favorites_list(api_on, mia):
    team = make_view(api_on, "Team", visibility="team")
    other = make_view(api_on, "Other", visibility="team")
    favorite(api_on, mia, team["id"])
    favorite(api_on, mia, other["id"])
    favorite(api_on, api_on.admin, team["id"])
    assert api_on.client.delete(f"/v1/views/{team['id']}", headers=api_on.admin).status_code == 204
    listed = api_on.client.get("/v1/favorites", headers=mia).json()["items"]
    assert [(f["name"], f["position"]) for f in listed] == [("Other", 0)]
    with api_on.client.app.state.sessions() as session:
        rows = session.execute(select(Favorite.target_id, Favorite.position)).tuples().all()
    assert rows == [(other["id"], 0)]


# --- who may do what -----------------------------------------------------------------------


def test_another_organisation_sees_and_changes_nothing(api_on):
    team = make_view(api_on, "Team", visibility="team")
    mine = make_view(api_on, "Mine")
    _, token = api_on.new_org("Globex")
    other = api_on.bearer(token)
    for view in (team, mine):
        url = f"/v1/views/{view['id']}"
        not_found = {"code": "not_found", "message": f"no view {view['id']!r} visible to you in this organisation"}
        assert error_of(api_on.client.get(url, headers=other), 404) == not_found
        assert error_of(api_on.client.patch(url, json={"name": "stolen"}, headers=other), 404) == not_found
        assert error_of(api_on.client.delete(url, headers=other), 404) == not_found
        assert api_on.client.get(url, headers=api_on.admin).json() == view
    assert api_on.client.get("/v1/views", headers=other).json() == {"items": [], "next_cursor": None}


def test_tokens_are_required(api):
    view = make_view(api)
    url = f"/v1/views/{view['id']}"
    for response in (
        api.client.get("/v1/views"),
        api.client.post("/v1/views", json={}),
        api.client.get(url),
        api.client.patch(url, json={}),
        api.client.delete(url),
    ):
        assert error_of(response, 401)["code"] == "unauthorized"


# --- the command line ----------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    return {
        "VARIANCE_DATA_DIR": str(tmp_path / "data"),
        "VARIANCE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }


def test_cli_creates_and_lists_views_as_a_user(cli_env):
    org = json.loads(run_cli(["orgs", "create", "Acme", "--admin-name", "Ada"], cli_env).stdout)["org_id"]
    mia = json.loads(
        run_cli(["users", "create", "--org", org, "--name", "Mia", "--email", "mia@acme.com"], cli_env).stdout
    )
    definition = json.dumps(group())
    create = ["views", "create", "--org", org, "--entity", "account", "--definition", definition]
    team = json.loads(run_cli([*create, "--name", "Team", "--visibility", "team"], cli_env).stdout)
    assert (team["name"], team["visibility"], team["owner_user_id"]) == ("Team", "team", None)
    hers = json.loads(run_cli([*create, "--name", "Hers", "--user", mia["id"]], cli_env).stdout)
    assert (hers["visibility"], hers["owner_user_id"], hers["definition"]) == ("personal", mia["id"], group())
    refused = run_cli([*create, "--name", "No", "--user", mia["id"], "--visibility", "team"], cli_env, check=False)
    assert (refused.returncode, refused.stdout, refused.stderr) == (1, "", "error: only admins create team views\n")
    bad = run_cli([*create, "--name", "No", "--visibility", "everyone"], cli_env, check=False)
    assert (bad.returncode, bad.stderr) == (1, "error: --visibility: must be personal or team, not 'everyone'\n")
    stranger = run_cli(["views", "list", "--org", org, "--user", "usr_nope"], cli_env, check=False)
    assert (stranger.returncode, stranger.stderr) == (
        1,
        f"error: no user 'usr_nope' in organisation {org!r}; list them with `variance users list --org {org}`\n",
    )
    assert names(json.loads(run_cli(["views", "list", "--org", org, "--user", mia["id"]], cli_env).stdout)) == [
        "Team",
        "Hers",
    ]
    assert names(json.loads(run_cli(["views", "list", "--org", org], cli_env).stdout)) == ["Team"]
    assert json.loads(run_cli(["views", "list", "--org", org, "--entity", "contact"], cli_env).stdout) == []
