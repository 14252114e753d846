"""DELETE /v1/contacts/{id}: admins only, 404 for a contact the organisation has not seen,
202 with what was removed now and what happens later."""

from __future__ import annotations

from tests.support import builders
from variance.core.vocabulary import AppTable, ServingTable


def seed(api):
    org = api.org_id
    api.insert(
        builders.contact(org, "u1", name="Ada Lovelace", email="ada@acme.com", account_id="acme"),
        builders.contact(org, "u2", name="Grace Hopper", email="grace@acme.com", account_id="acme"),
        builders.account(org, "acme", name="Acme"),
    )


def test_an_admin_deletes_a_contact_and_is_told_what_happens_later(api):
    seed(api)
    response = api.client.delete("/v1/contacts/u1", headers=api.admin)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["contact_id"] == "u1" and body["already_requested"] is False
    assert body["id"].startswith("del_") and body["requested_by_user_id"].startswith("usr_")
    assert body["removed_now"] == {
        ServingTable.contacts: 1,
        ServingTable.tag_members: 0,
        AppTable.follows: 0,
        ServingTable.milestone_status: 0,
        ServingTable.stream_items: 0,
        ServingTable.daily_activity: 0,
        AppTable.slack_outbox: 0,
    }
    assert body["lake_rewritten_at"] is None
    assert [step.split(":")[0] for step in body["later"]] == [
        "warehouse (local lake)",
        "warehouse (BigQuery)",
        "milestone counts",
        "not taken back",
    ]
    assert api.client.get("/v1/contacts/u1", headers=api.admin).status_code == 404
    listed = api.client.get("/v1/contacts", headers=api.admin).json()["items"]
    assert [c["contact_id"] for c in listed] == ["u2"]

    again = api.client.delete("/v1/contacts/u1", headers=api.admin)
    assert again.status_code == 202
    assert (again.json()["id"], again.json()["already_requested"]) == (body["id"], True)
    assert again.json()["removed_now"][ServingTable.contacts] == 0


def test_who_asked_is_the_token_s_user(api):
    seed(api)
    admin = api.new_user("Ops", role="admin")
    body = api.client.delete("/v1/contacts/u2", headers=api.bearer(admin["token"])).json()
    assert (body["requested_by_user_id"], body["requested_by_email"]) == (admin["id"], admin["email"])


def test_members_are_refused_and_unknown_contacts_are_404(api):
    seed(api)
    member = api.new_user("Mia")
    refused = api.client.delete("/v1/contacts/u1", headers=api.bearer(member["token"]))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert api.client.delete("/v1/contacts/u1").status_code == 401
    missing = api.client.delete("/v1/contacts/nobody", headers=api.admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "no contact 'nobody' in this organisation"
    _, other_token = api.new_org()
    assert api.client.delete("/v1/contacts/u1", headers=api.bearer(other_token)).status_code == 404
    assert [c["contact_id"] for c in api.client.get("/v1/contacts", headers=api.admin).json()["items"]] == ["u1", "u2"]


def test_an_id_with_a_slash_is_one_contact(api):
    api.insert(builders.contact(api.org_id, "team/ada"))
    response = api.client.delete("/v1/contacts/team/ada", headers=api.admin)
    assert response.status_code == 202
    assert response.json()["contact_id"] == "team/ada"
