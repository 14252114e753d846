"""Smart tags over the management API: definitions, references, cycles, who may do what;
and the ``variance tags`` command."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.support import builders
from variance.appdb.models import SmartTag, TagMemberRow
from variance.stack.processes import run_cli


def group(*conditions, match="all") -> dict:
    return {"type": "group", "match": match, "conditions": list(conditions)}


def on_plan(plan: str = "pro") -> dict:
    return {"type": "trait", "filter": {"path": "plan", "op": "equals", "value": plan}}


def has_milestone(milestone_id: str, status: str = "achieved", days: int | None = None) -> dict:
    return {"type": "milestone", "milestone_id": milestone_id, "status": status} | ({"days": days} if days else {})


def has_tag(tag_id: str, has: bool = True) -> dict:
    return {"type": "tag", "tag_id": tag_id, "has": has}


def make_milestone(api, name: str = "PQL", entity: str = "account", headers=None) -> dict:
    body = {"name": name, "entity": entity, "event": {"kind": "Page"}, "threshold": 1}
    response = api.client.post("/v1/milestones", json=body, headers=headers or api.admin)
    assert response.status_code == 201, response.text
    return response.json()


def make_tag(api, name: str = "Pro", entity: str = "account", definition: dict | None = None, headers=None) -> dict:
    body = {"name": name, "entity": entity, "definition": definition or group(on_plan())}
    response = api.client.post("/v1/tags", json=body, headers=headers or api.admin)
    assert response.status_code == 201, response.text
    return response.json()


def redefine(api, tag: dict, definition: dict, headers=None):
    return api.client.patch(f"/v1/tags/{tag['id']}", json={"definition": definition}, headers=headers or api.admin)


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


# --- create, read, list -------------------------------------------------------------------


def test_create_read_and_list_store_the_definition_for_dbt(api_on):
    pql = make_milestone(api_on)
    pro = make_tag(api_on, "Pro")
    definition = group(
        on_plan("enterprise"),
        has_milestone(pql["id"], "achieved_within", 30),
        group(
            {"type": "event_count", "kind": "Action", "name": "Invited User", "op": "gte", "value": 3, "days": 14},
            has_tag(pro["id"], has=False),
            match="any",
        ),
    )
    tag = make_tag(api_on, "Champions", definition=definition)
    assert tag["id"].startswith("tag_")
    assert (tag["name"], tag["entity"], tag["member_count"]) == ("Champions", "account", 0)
    assert tag["definition"] == {
        "type": "group",
        "match": "all",
        "conditions": [
            {"type": "trait", "filter": {"path": "plan", "op": "equals", "value": "enterprise"}},
            {"type": "milestone", "milestone_id": pql["id"], "status": "achieved_within", "days": 30},
            {
                "type": "group",
                "match": "any",
                "conditions": [
                    {
                        "type": "event_count",
                        "kind": "Action",
                        "name": "Invited User",
                        "op": "gte",
                        "value": 3,
                        "days": 14,
                    },
                    {"type": "tag", "tag_id": pro["id"], "has": False},
                ],
            },
        ],
    }
    assert api_on.client.get(f"/v1/tags/{tag['id']}", headers=api_on.admin).json() == tag
    listed = api_on.client.get("/v1/tags", headers=api_on.admin).json()
    assert (listed["items"], listed["next_cursor"]) == ([pro, tag], None)
    with api_on.client.app.state.sessions() as session:
        stored = session.scalar(select(SmartTag.definition).where(SmartTag.id == tag["id"]))
    assert json.loads(stored) == tag["definition"]
    assert stored == json.dumps(tag["definition"], separators=(",", ":"))  # compact JSON text, keys in order


def test_member_count_comes_from_tag_members(api):
    tag = make_tag(api)
    api.insert(builders.tag_member(api.org_id, tag["id"], "acme"), builders.tag_member(api.org_id, tag["id"], "globex"))
    assert api.client.get(f"/v1/tags/{tag['id']}", headers=api.admin).json()["member_count"] == 2
    assert api.client.get("/v1/tags", headers=api.admin).json()["items"][0]["member_count"] == 2


def test_list_filters_by_entity_and_pages_stably(api_on):
    ids = [make_tag(api_on, f"t{i}", entity="contact" if i % 2 else "account")["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api_on.client.get("/v1/tags", params=params, headers=api_on.admin).json()
        assert len(page["items"]) <= 2
        seen += [t["id"] for t in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == sorted(ids) == ids
    contacts = api_on.client.get("/v1/tags", params={"entity": "contact"}, headers=api_on.admin).json()
    assert [t["id"] for t in contacts["items"]] == [ids[1], ids[3]]
    assert api_on.client.get("/v1/tags", params={"limit": 0}, headers=api_on.admin).status_code == 422
    assert api_on.client.get("/v1/tags", params={"limit": 201}, headers=api_on.admin).status_code == 422


# --- rules ---------------------------------------------------------------------------------


def test_duplicate_name_is_409_and_names_are_per_organisation(api_on):
    make_tag(api_on, "Pro")
    error = error_of(
        api_on.client.post(
            "/v1/tags",
            json={"name": " Pro ", "entity": "contact", "definition": group(on_plan())},
            headers=api_on.admin,
        ),
        409,
    )
    assert (error["message"], error["field"]) == ("a smart tag named 'Pro' already exists in this organisation", "name")
    other = make_tag(api_on, "Free", definition=group(on_plan("free")))
    renamed = api_on.client.patch(f"/v1/tags/{other['id']}", json={"name": "Pro"}, headers=api_on.admin)
    assert error_of(renamed, 409)["message"] == "a smart tag named 'Pro' already exists in this organisation"
    _, token = api_on.new_org("Globex")
    assert make_tag(api_on, "Pro", headers=api_on.bearer(token))["name"] == "Pro"


@pytest.mark.parametrize(
    ("definition", "field", "message"),
    [
        (
            group(),
            "definition.conditions",
            "definition.conditions: List should have at least 1 item after validation, not 0",
        ),
        (
            group(group(group(group(group(group(on_plan())))))),
            "definition",
            "definition: Value error, groups nest at most 5 levels deep (the root is level 1)",
        ),
        (
            group(*[on_plan()] * 51),
            "definition",
            "definition: Value error, has more than 50 conditions (groups count)",
        ),
        (
            group(group(*[on_plan()] * 30), group(*[on_plan()] * 30)),
            "definition",
            "definition: Value error, has more than 50 conditions (groups count)",
        ),
        (
            group(has_milestone("mil_x", "achieved_within")),
            "definition.conditions.0.milestone",
            "definition.conditions.0.milestone: Value error, days is required when status is achieved_within",
        ),
        (
            group({"type": "event_count", "kind": "Action", "op": "gte", "value": 1, "days": 7}),
            "definition.conditions.0.event_count",
            "definition.conditions.0.event_count: Value error, name is required for Action event types",
        ),
        (
            group(on_plan() | {"negate": True}),
            "definition.conditions.0.trait.negate",
            "definition.conditions.0.trait.negate: Extra inputs are not permitted",
        ),
    ],
)
def test_malformed_definitions_are_422_naming_the_place(api, definition, field, message):
    response = api.client.post(
        "/v1/tags", json={"name": "x", "entity": "account", "definition": definition}, headers=api.admin
    )
    error = error_of(response, 422)
    assert (error["field"], error["message"]) == (field, message)


def test_references_must_exist_in_the_organisation_and_share_the_entity(api_on):
    account_pql = make_milestone(api_on, "PQL", "account")
    contact_signup = make_milestone(api_on, "Signed up", "contact")
    contact_tag = make_tag(api_on, "Admins", entity="contact")
    _, other_token = api_on.new_org("Globex")
    foreign_milestone = make_milestone(api_on, "Theirs", headers=api_on.bearer(other_token))
    foreign_tag = make_tag(api_on, "Theirs", headers=api_on.bearer(other_token))
    cases = [
        (
            group(on_plan(), has_milestone("mil_nope")),
            "definition.conditions[1].milestone_id",
            "no milestone 'mil_nope' in this organisation",
        ),
        (
            group(has_milestone(foreign_milestone["id"])),
            "definition.conditions[0].milestone_id",
            f"no milestone {foreign_milestone['id']!r} in this organisation",
        ),
        (
            group(has_milestone(account_pql["id"]), group(on_plan(), has_milestone(contact_signup["id"]), match="any")),
            "definition.conditions[1].conditions[1].milestone_id",
            "milestone 'Signed up' is evaluated per contact; this smart tag is over accounts",
        ),
        (
            group(group(has_tag("tag_nope"))),
            "definition.conditions[0].conditions[0].tag_id",
            "no smart tag 'tag_nope' in this organisation",
        ),
        (
            group(has_tag(foreign_tag["id"])),
            "definition.conditions[0].tag_id",
            f"no smart tag {foreign_tag['id']!r} in this organisation",
        ),
        (
            group(has_tag(contact_tag["id"], has=False)),
            "definition.conditions[0].tag_id",
            "smart tag 'Admins' is carried by contacts; this smart tag is over accounts",
        ),
    ]
    for definition, field, rule in cases:
        response = api_on.client.post(
            "/v1/tags", json={"name": "x", "entity": "account", "definition": definition}, headers=api_on.admin
        )
        error = error_of(response, 400)
        assert (error["field"], error["rule"], error["message"]) == (field, rule, f"{field}: {rule}")
    # the same checks guard a redefinition
    tag = make_tag(api_on, "Pro")
    error = error_of(redefine(api_on, tag, group(has_milestone(contact_signup["id"]))), 400)
    assert error["message"] == (
        "definition.conditions[0].milestone_id: milestone 'Signed up' is evaluated per contact; "
        "this smart tag is over accounts"
    )


def test_a_tag_using_itself_directly_is_a_cycle(api_on):
    active = make_tag(api_on, "Active")
    error = error_of(redefine(api_on, active, group(on_plan(), has_tag(active["id"], has=False))), 400)
    assert (error["field"], error["message"]) == ("definition", "definition: creates a cycle: Active -> Active")


def test_a_tag_using_itself_through_others_is_a_cycle(api_on):
    active = make_tag(api_on, "Active")
    paying = make_tag(api_on, "Paying", definition=group(has_tag(active["id"])))
    champions = make_tag(api_on, "Champions", definition=group(on_plan(), group(has_tag(paying["id"]), match="any")))
    error = error_of(redefine(api_on, active, group(has_tag(champions["id"], has=False))), 400)
    assert error["message"] == "definition: creates a cycle: Active -> Champions -> Paying -> Active"
    # nothing changed
    assert api_on.client.get(f"/v1/tags/{active['id']}", headers=api_on.admin).json() == active
    # a diamond is not a cycle
    both = group(has_tag(paying["id"]), has_tag(active["id"]))
    assert redefine(api_on, champions, both).status_code == 200


def test_update_renames_and_redefines(api_on):
    tag = make_tag(api_on, "Pro")
    response = api_on.client.patch(
        f"/v1/tags/{tag['id']}",
        json={"name": "Enterprise", "definition": group(on_plan("enterprise"))},
        headers=api_on.admin,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["name"], updated["definition"]["conditions"][0]["filter"]["value"]) == ("Enterprise", "enterprise")
    assert updated["updated_at"] > tag["updated_at"]
    assert updated["created_at"] == tag["created_at"]
    url = f"/v1/tags/{tag['id']}"
    assert error_of(api_on.client.patch(url, json={"name": None}, headers=api_on.admin), 400)["message"] == (
        "name: must not be null"
    )
    assert error_of(api_on.client.patch(url, json={"definition": None}, headers=api_on.admin), 400)["message"] == (
        "definition: must not be null"
    )
    assert error_of(api_on.client.patch(url, json={"name": "  "}, headers=api_on.admin), 400)["message"] == (
        "name: must not be empty"
    )
    assert error_of(api_on.client.patch(url, json={"entity": "contact"}, headers=api_on.admin), 422)["message"] == (
        "entity: Extra inputs are not permitted"
    )


def test_delete_is_refused_while_tags_or_views_use_it(api_on):
    active = make_tag(api_on, "Active")
    uses = group(has_tag(active["id"]))
    champions = make_tag(api_on, "Champions", definition=uses)
    mia = api_on.new_user("Mia")
    team = api_on.client.post(
        "/v1/views",
        json={"name": "Hot", "entity": "account", "visibility": "team", "definition": uses},
        headers=api_on.admin,
    ).json()
    mine = api_on.client.post(
        "/v1/views", json={"name": "Mine", "entity": "account", "definition": uses}, headers=api_on.bearer(mia["token"])
    ).json()
    url = f"/v1/tags/{active['id']}"
    error = error_of(api_on.client.delete(url, headers=api_on.admin), 409)
    assert error["message"] == (
        "smart tag 'Active' is used by: smart tag 'Champions', view 'Hot', Mia's view 'Mine'; change those first"
    )
    for user_url, headers in (
        (f"/v1/tags/{champions['id']}", api_on.admin),
        (f"/v1/views/{team['id']}", api_on.admin),
        (f"/v1/views/{mine['id']}", api_on.bearer(mia["token"])),
    ):
        assert api_on.client.delete(user_url, headers=headers).status_code == 204
    api_on.insert(builders.tag_member(api_on.org_id, active["id"], "acme"))
    assert api_on.client.delete(url, headers=api_on.admin).status_code == 204
    assert api_on.client.get(url, headers=api_on.admin).status_code == 404
    with api_on.client.app.state.sessions() as session:
        assert session.scalars(select(TagMemberRow)).all() == []


def test_a_milestone_used_by_tags_or_views_cannot_be_deleted(api_on):
    from variance.workspace.tags import milestone_references

    pql = make_milestone(api_on, "PQL")
    other = make_milestone(api_on, "Onboarded")
    make_tag(api_on, "Hot", definition=group(on_plan(), group(has_milestone(pql["id"], "not_achieved"))))
    api_on.client.post(
        "/v1/views",
        json={
            "name": "Trials",
            "entity": "account",
            "visibility": "team",
            "definition": group(has_milestone(pql["id"])),
        },
        headers=api_on.admin,
    )
    with api_on.client.app.state.sessions() as session:
        assert milestone_references(session, api_on.org_id, pql["id"]) == ["smart tag 'Hot'", "view 'Trials'"]
        assert milestone_references(session, api_on.org_id, other["id"]) == []
        assert milestone_references(session, "org_elsewhere", pql["id"]) == []
    error = error_of(api_on.client.delete(f"/v1/milestones/{pql['id']}", headers=api_on.admin), 409)
    assert error["message"] == "milestone 'PQL' is used by: smart tag 'Hot', view 'Trials'; change those first"
    assert api_on.client.delete(f"/v1/milestones/{other['id']}", headers=api_on.admin).status_code == 204


# --- who may do what -----------------------------------------------------------------------


def test_members_read_but_do_not_change(api_on):
    tag = make_tag(api_on)
    mia = api_on.bearer(api_on.new_user("Mia")["token"])
    url = f"/v1/tags/{tag['id']}"
    assert api_on.client.get(url, headers=mia).json() == tag
    assert api_on.client.get("/v1/tags", headers=mia).json()["items"] == [tag]
    body = {"name": "x", "entity": "account", "definition": group(on_plan())}
    for response in (
        api_on.client.post("/v1/tags", json=body, headers=mia),
        api_on.client.patch(url, json={"name": "y"}, headers=mia),
        api_on.client.delete(url, headers=mia),
    ):
        error = error_of(response, 403)
        assert error == {"code": "forbidden", "message": "only an admin of this organisation may do this"}
    assert api_on.client.get(url, headers=api_on.admin).json() == tag


def test_another_organisation_sees_and_changes_nothing(api_on):
    tag = make_tag(api_on)
    _, token = api_on.new_org("Globex")
    other = api_on.bearer(token)
    url = f"/v1/tags/{tag['id']}"
    not_found = {"code": "not_found", "message": f"no smart tag {tag['id']!r} in this organisation"}
    assert error_of(api_on.client.get(url, headers=other), 404) == not_found
    assert error_of(api_on.client.patch(url, json={"name": "stolen"}, headers=other), 404) == not_found
    assert error_of(redefine(api_on, tag, group(on_plan("free")), headers=other), 404) == not_found
    assert error_of(api_on.client.delete(url, headers=other), 404) == not_found
    assert api_on.client.get("/v1/tags", headers=other).json() == {"items": [], "next_cursor": None}
    assert api_on.client.get(url, headers=api_on.admin).json() == tag


def test_tokens_are_required(api):
    tag = make_tag(api)
    url = f"/v1/tags/{tag['id']}"
    for response in (
        api.client.get("/v1/tags"),
        api.client.post("/v1/tags", json={}),
        api.client.get(url),
        api.client.patch(url, json={}),
        api.client.delete(url),
        api.client.get("/v1/tags", headers={"Authorization": "Bearer vtok_nope"}),
    ):
        assert error_of(response, 401)["code"] == "unauthorized"


def test_openapi_documents_every_model_and_error_of_tags_views_and_favorites(api):
    document = api.client.get("/openapi.json").json()
    expected = {
        ("/v1/tags", "post"): {"201", "400", "401", "403", "409", "422"},
        ("/v1/tags", "get"): {"200", "401", "422"},
        ("/v1/tags/{tag_id}", "get"): {"200", "401", "404", "422"},
        ("/v1/tags/{tag_id}", "patch"): {"200", "400", "401", "403", "404", "409", "422"},
        ("/v1/tags/{tag_id}", "delete"): {"204", "401", "403", "404", "409", "422"},
        ("/v1/views", "post"): {"201", "400", "401", "403", "422"},
        ("/v1/views", "get"): {"200", "400", "401", "422"},
        ("/v1/views/{view_id}", "get"): {"200", "401", "404", "422"},
        ("/v1/views/{view_id}", "patch"): {"200", "400", "401", "403", "404", "422"},
        ("/v1/views/{view_id}", "delete"): {"204", "401", "403", "404", "422"},
        ("/v1/favorites", "get"): {"200", "400", "401", "422"},
        ("/v1/favorites", "put"): {"200", "401", "404", "409", "422"},
        ("/v1/favorites/order", "put"): {"200", "400", "401", "422"},
        ("/v1/favorites/{target_type}/{target_id}", "delete"): {"204", "401", "404", "422"},
    }
    for (path, method), statuses in expected.items():
        responses = document["paths"][path][method]["responses"]
        assert set(responses) == statuses, (path, method)
        for status, response in responses.items():
            if status != "204":
                assert "$ref" in str(response["content"]["application/json"]["schema"]), (path, method, status)
    schemas = document["components"]["schemas"]
    # FastAPI names a recursive model's request and response forms apart; they are identical.
    for form in ("Input", "Output"):
        conditions = schemas[f"ConditionGroup-{form}"]["properties"]["conditions"]
        assert conditions["items"]["discriminator"]["mapping"] == {
            "event_count": "#/components/schemas/EventCountCondition",
            "group": f"#/components/schemas/ConditionGroup-{form}",
            "milestone": "#/components/schemas/MilestoneCondition",
            "tag": "#/components/schemas/TagCondition",
            "trait": "#/components/schemas/TraitCondition",
        }
    for name in (
        "TagCreate",
        "TagUpdate",
        "TagOut",
        "ViewCreate",
        "ViewUpdate",
        "ViewOut",
        "FavoriteSet",
        "FavoriteOrder",
        "FavoriteOut",
        "FavoriteList",
        "Page_TagOut_",
        "Page_ViewOut_",
        "Page_FavoriteOut_",
    ):
        assert name in schemas, name


# --- the command line ----------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    return {
        "VARIANCE_DATA_DIR": str(tmp_path / "data"),
        "VARIANCE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }


@pytest.fixture
def cli_org(cli_env) -> dict:
    return json.loads(run_cli(["orgs", "create", "Acme", "--admin-name", "Ada"], cli_env).stdout)


def test_cli_creates_and_lists_tags(cli_env, cli_org, tmp_path):
    org = cli_org["org_id"]
    pro = json.loads(
        run_cli(
            [
                "tags",
                "create",
                "--org",
                org,
                "--name",
                "Pro",
                "--entity",
                "account",
                "--definition",
                json.dumps(group(on_plan())),
            ],
            cli_env,
        ).stdout
    )
    assert (pro["name"], pro["entity"], pro["member_count"]) == ("Pro", "account", 0)
    assert pro["definition"] == group(on_plan())
    file = tmp_path / "champions.json"
    file.write_text(
        json.dumps(
            group(has_tag(pro["id"]), {"type": "event_count", "kind": "Page", "op": "gte", "value": 5, "days": 7})
        )
    )
    champions = json.loads(
        run_cli(
            [
                "tags",
                "create",
                "--org",
                org,
                "--name",
                "Champions",
                "--entity",
                "account",
                "--definition-file",
                str(file),
            ],
            cli_env,
        ).stdout
    )
    assert champions["definition"]["conditions"][1] == {
        "type": "event_count",
        "kind": "Page",
        "name": None,
        "op": "gte",
        "value": 5,
        "days": 7,
    }
    listed = json.loads(run_cli(["tags", "list", "--org", org], cli_env).stdout)
    assert [t["name"] for t in listed] == ["Pro", "Champions"]
    assert json.loads(run_cli(["tags", "list", "--org", org, "--entity", "contact"], cli_env).stdout) == []


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (
            ["--definition", "{nope"],
            "error: --definition: not valid JSON (Expecting property name enclosed in "
            "double quotes at line 1 column 2)\n",
        ),
        ([], "error: give the definition with either --definition JSON or --definition-file PATH\n"),
        (
            ["--definition-file", "/nonexistent/x.json"],
            "error: --definition-file: cannot read /nonexistent/x.json (No such file or directory)\n",
        ),
        (
            ["--definition", json.dumps(group())],
            "error: definition.conditions: List should have at least 1 item after validation, not 0\n",
        ),
        (
            ["--definition", json.dumps(group(has_milestone("mil_nope")))],
            "error: definition.conditions[0].milestone_id: no milestone 'mil_nope' in this organisation\n",
        ),
    ],
)
def test_cli_errors_are_one_line(cli_env, cli_org, args, stderr):
    result = run_cli(
        ["tags", "create", "--org", cli_org["org_id"], "--name", "X", "--entity", "account", *args],
        cli_env,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (1, "", stderr)


def test_cli_unknown_organisation_and_entity(cli_env):
    result = run_cli(["tags", "list", "--org", "org_nope"], cli_env, check=False)
    assert (result.returncode, result.stderr) == (
        1,
        "error: no organisation 'org_nope'; create one with `variance orgs create NAME`\n",
    )
    result = run_cli(["tags", "list", "--org", "org_nope", "--entity", "team"], cli_env, check=False)
    assert (result.returncode, result.stderr) == (1, "error: --entity: must be account or contact, not 'team'\n")
