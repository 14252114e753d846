"""An account's and a contact's timeline from the serving tables."""

from __future__ import annotations

from datetime import timedelta

from tests.support import builders
from tests.web.builders import daily, stream_item
from variance.appdb.types import utcnow


def seed(api):
    org = api.org_id
    me = api.client.get("/v1/me", headers=api.admin).json()["default_stream_id"]
    team = api.client.post("/v1/streams", json={"name": "Team", "visibility": "team"}, headers=api.admin).json()["id"]
    api.insert(
        builders.account(org, "acme", name="Acme Inc", domain="acme.com"),
        builders.contact(org, "u1", name="Ada", account_id="acme", last_seen=builders.T0 + timedelta(days=1)),
        builders.contact(org, "u2", name="Grace", account_id="acme", last_seen=builders.T0 + timedelta(days=2)),
        # the same event in two streams shows once
        stream_item(org, me, "e1", at=timedelta(hours=1), contact_id="u1"),
        stream_item(org, team, "e1", at=timedelta(hours=1), contact_id="u1"),
        stream_item(org, team, "e2", at=timedelta(hours=2), contact_id="u2", kind="Page", name=None),
        stream_item(org, team, "e3", at=timedelta(hours=3), contact_id="u1", account_id="globex"),
        daily(org, "account", "acme", utcnow().date(), count=4),
        daily(org, "account", "acme", (utcnow() - timedelta(days=40)).date(), count=9),  # older than 30 days
    )
    return me, team


def get(api, path, headers=None, **params):
    response = api.client.get(path, params=params, headers=headers or api.admin)
    assert response.status_code == 200, response.text
    return response.json()


def test_account_timeline_holds_its_events_once_contacts_milestones_and_activity(api_on):
    seed(api_on)
    milestone = api_on.client.post(
        "/v1/milestones",
        json={"name": "PQL", "entity": "account", "event": {"kind": "Action", "name": "Invited User"}, "threshold": 3},
        headers=api_on.admin,
    ).json()
    api_on.insert(builders.achieved(api_on.org_id, milestone["id"], "acme", count=3))
    timeline = get(api_on, "/v1/timelines/account/acme")
    assert [e["message_id"] for e in timeline["recent_events"]["items"]] == ["e2", "e1"]
    assert [c["contact_id"] for c in timeline["account_contacts"]] == ["u1", "u2"] and timeline["contact_count"] == 2
    assert timeline["account"]["name"] == "Acme Inc" and timeline["contact"] is None
    assert [(m["name"], m["achieved"], m["count"]) for m in timeline["milestone_states"]] == [("PQL", True, 3)]
    assert [(a["kind"], a["name"], a["count"]) for a in timeline["activity"]] == [("Action", "Invited User", 4)]
    paged = get(api_on, "/v1/timelines/account/acme", limit=1)
    assert [e["message_id"] for e in paged["recent_events"]["items"]] == ["e2"]
    rest = get(api_on, "/v1/timelines/account/acme", limit=1, cursor=paged["recent_events"]["next_cursor"])
    assert [e["message_id"] for e in rest["recent_events"]["items"]] == ["e1"] and rest["recent_events"][
        "next_cursor"
    ] is None


def test_contact_timeline_shows_its_account(api_on):
    seed(api_on)
    timeline = get(api_on, "/v1/timelines/contact/u1")
    assert [e["message_id"] for e in timeline["recent_events"]["items"]] == ["e3", "e1"]
    assert timeline["contact"]["name"] == "Ada" and timeline["account"]["account_id"] == "acme"


def test_unknown_or_other_organisations_entities_are_404(api_on):
    seed(api_on)
    _, other = api_on.new_org()
    assert api_on.client.get("/v1/timelines/account/acme", headers=api_on.bearer(other)).status_code == 404
    assert api_on.client.get("/v1/timelines/contact/nobody", headers=api_on.admin).status_code == 404
    assert api_on.client.get("/v1/timelines/team/acme", headers=api_on.admin).status_code == 422
