"""Milestones: definitions, validation, versions, who may change them."""

from __future__ import annotations

import pytest

from tests.support import builders

PQL = {
    "name": "PQL",
    "entity": "account",
    "event": {"kind": "Action", "name": "Invited User"},
    "filters": [{"path": "role", "op": "equals", "value": "admin"}],
    "threshold": 3,
    "window": "30d",
}


def create(api, body=PQL, headers=None):
    response = api.client.post("/v1/milestones", json=body, headers=headers or api.admin)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_and_read_back(api_on):
    milestone = create(api_on)
    assert {k: milestone[k] for k in PQL} == PQL
    assert (milestone["version"], milestone["achieved_count"]) == (1, 0)
    assert api_on.client.get(f"/v1/milestones/{milestone['id']}", headers=api_on.admin).json() == milestone


def test_unwindowed_milestone(api_on):
    body = {"name": "Onboarded", "entity": "contact", "event": {"kind": "Page"}, "threshold": 1}
    milestone = create(api_on, body)
    assert milestone["window"] is None and milestone["filters"] == []


@pytest.mark.parametrize(
    ("change", "field", "rule_part"),
    [
        ({"threshold": 0}, "threshold", "greater than or equal to 1"),
        ({"threshold": 2.5}, "threshold", "valid integer"),
        ({"window": "30 days"}, "window", "is not a duration"),
        ({"window": "0d"}, "window", "greater than zero"),
        ({"window": "400d"}, "window", "at most 366d"),
        ({"event": {"kind": "Action"}}, "event", "name is required for Action"),
        ({"event": {"kind": "Page", "name": "x"}}, "event", "Page event types have no name"),
        ({"event": {"kind": "Nope"}}, "event.kind", "Input should be"),
        ({"entity": "team"}, "entity", "Input should be"),
        ({"filters": [{"path": "", "op": "equals", "value": 1}]}, "filters.0.path", ""),
        ({"name": ""}, "name", "at least 1 character"),
    ],
)
def test_validation_names_field_and_rule(api_on, change, field, rule_part):
    response = api_on.client.post("/v1/milestones", json={**PQL, **change}, headers=api_on.admin)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert rule_part in error["rule"]


def test_renaming_keeps_the_version_changing_meaning_bumps_it(api_on):
    milestone = create(api_on)
    url = f"/v1/milestones/{milestone['id']}"
    renamed = api_on.client.patch(url, json={"name": "Product Qualified"}, headers=api_on.admin).json()
    assert (renamed["name"], renamed["version"]) == ("Product Qualified", 1)
    same = api_on.client.patch(url, json={"threshold": 3}, headers=api_on.admin).json()
    assert same["version"] == 1
    changed = api_on.client.patch(url, json={"threshold": 5, "window": None}, headers=api_on.admin).json()
    assert (changed["threshold"], changed["window"], changed["version"]) == (5, None, 2)
    null_name = api_on.client.patch(url, json={"name": None}, headers=api_on.admin)
    assert null_name.status_code == 400 and null_name.json()["error"]["field"] == "name"


def test_duplicate_name_is_409(api_on):
    create(api_on)
    response = api_on.client.post("/v1/milestones", json=PQL, headers=api_on.admin)
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "a milestone named 'PQL' already exists in this organisation"


def test_members_read_but_do_not_change(api_on):
    milestone = create(api_on)
    mia = api_on.bearer(api_on.new_user("Mia")["token"])
    url = f"/v1/milestones/{milestone['id']}"
    assert api_on.client.get(url, headers=mia).status_code == 200
    assert api_on.client.get("/v1/milestones", headers=mia).json()["items"][0]["id"] == milestone["id"]
    assert api_on.client.post("/v1/milestones", json={**PQL, "name": "x"}, headers=mia).status_code == 403
    assert api_on.client.patch(url, json={"threshold": 1}, headers=mia).status_code == 403
    assert api_on.client.delete(url, headers=mia).status_code == 403


def test_other_organisation_sees_and_changes_nothing(api_on):
    milestone = create(api_on)
    _, token = api_on.new_org()
    other = api_on.bearer(token)
    url = f"/v1/milestones/{milestone['id']}"
    assert api_on.client.get(url, headers=other).status_code == 404
    assert api_on.client.patch(url, json={"threshold": 1}, headers=other).status_code == 404
    assert api_on.client.delete(url, headers=other).status_code == 404
    assert api_on.client.get("/v1/milestones", headers=other).json()["items"] == []


def test_achieved_count_comes_from_the_serving_table_and_delete_clears_it(api_on):
    milestone = create(api_on)
    api_on.insert(
        builders.achieved(api_on.org_id, milestone["id"], "acme"),
        builders.achieved(api_on.org_id, milestone["id"], "globex"),
    )
    assert api_on.client.get(f"/v1/milestones/{milestone['id']}", headers=api_on.admin).json()["achieved_count"] == 2
    assert api_on.client.delete(f"/v1/milestones/{milestone['id']}", headers=api_on.admin).status_code == 204
    assert api_on.client.get(f"/v1/milestones/{milestone['id']}", headers=api_on.admin).status_code == 404


def test_milestones_do_not_count_milestone_events(api_on):
    body = {**PQL, "event": {"kind": "Milestone", "name": "PQL"}}
    response = api_on.client.post("/v1/milestones", json=body, headers=api_on.admin)
    assert response.status_code == 422
    assert "Milestone events can be selected by streams" in response.json()["error"]["rule"]


def test_a_new_version_clears_the_old_versions_statuses(api_on):
    milestone = create(api_on)
    api_on.insert(builders.achieved(api_on.org_id, milestone["id"], "acme"))
    updated = api_on.client.patch(
        f"/v1/milestones/{milestone['id']}", json={"threshold": 7}, headers=api_on.admin
    ).json()
    assert (updated["version"], updated["achieved_count"]) == (2, 0)


def test_entity_cannot_change_while_smart_tags_use_the_milestone(api_on):
    milestone = create(api_on)
    tag = {
        "name": "Qualified",
        "entity": "account",
        "definition": {
            "type": "group",
            "match": "all",
            "conditions": [{"type": "milestone", "milestone_id": milestone["id"], "status": "achieved"}],
        },
    }
    assert api_on.client.post("/v1/tags", json=tag, headers=api_on.admin).status_code == 201
    response = api_on.client.patch(
        f"/v1/milestones/{milestone['id']}", json={"entity": "contact"}, headers=api_on.admin
    )
    assert response.status_code == 409
    assert response.json()["error"]["message"].startswith("milestone 'PQL' is used by smart tag 'Qualified'")
