"""Users: invitations, roles, default streams."""

from __future__ import annotations


def test_admin_invites_a_member_who_gets_a_token_and_a_default_stream(api_on):
    response = api_on.client.post(
        "/v1/users", json={"name": "Mia Chen", "email": "Mia@Acme.com", "role": "member"}, headers=api_on.admin
    )
    assert response.status_code == 201, response.text
    user = response.json()
    assert (user["name"], user["email"], user["role"]) == ("Mia Chen", "mia@acme.com", "member")
    me = api_on.client.get("/v1/me", headers=api_on.bearer(user["token"])).json()
    assert me["id"] == user["id"] and "token" not in me
    stream = api_on.client.get(f"/v1/streams/{me['default_stream_id']}", headers=api_on.bearer(user["token"])).json()
    assert (stream["name"], stream["type"], stream["visibility"], stream["is_default"]) == (
        "Mia Chen's Stream",
        "accounts_contacts",
        "personal",
        True,
    )


def test_the_first_admin_has_a_default_stream_too(api_on):
    me = api_on.client.get("/v1/me", headers=api_on.admin).json()
    assert me["role"] == "admin"
    stream = api_on.client.get(f"/v1/streams/{me['default_stream_id']}", headers=api_on.admin).json()
    assert stream["name"] == "Admin's Stream"


def test_members_cannot_do_admin_things(api_on):
    member = api_on.new_user("Mia")
    headers = api_on.bearer(member["token"])
    body = {"name": "X", "email": "x@acme.com"}
    assert api_on.client.post("/v1/users", json=body, headers=headers).status_code == 403
    assert api_on.client.patch(f"/v1/users/{member['id']}", json={"role": "admin"}, headers=headers).status_code == 403
    assert api_on.client.delete(f"/v1/users/{member['id']}", headers=headers).status_code == 403
    assert (
        api_on.client.post("/v1/connections", json={"name": "c", "mapping": "group"}, headers=headers).status_code
        == 403
    )
    assert api_on.client.get("/v1/users", headers=headers).status_code == 200


def test_duplicate_email_and_last_admin_rules(api_on):
    api_on.client.post("/v1/users", json={"name": "A", "email": "a@acme.com"}, headers=api_on.admin)
    again = api_on.client.post("/v1/users", json={"name": "B", "email": "A@acme.com"}, headers=api_on.admin)
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "a user with email 'a@acme.com' already exists in this organisation"
    me = api_on.client.get("/v1/me", headers=api_on.admin).json()
    demote = api_on.client.patch(f"/v1/users/{me['id']}", json={"role": "member"}, headers=api_on.admin)
    assert demote.status_code == 409
    assert demote.json()["error"]["message"] == "the organisation's last admin cannot become a member"


def test_renaming_a_user_renames_their_default_stream(api_on):
    member = api_on.new_user("Mia")
    api_on.client.patch(f"/v1/users/{member['id']}", json={"name": "Mia Chen"}, headers=api_on.admin)
    me = api_on.client.get("/v1/me", headers=api_on.bearer(member["token"])).json()
    stream = api_on.client.get(f"/v1/streams/{me['default_stream_id']}", headers=api_on.bearer(member["token"])).json()
    assert stream["name"] == "Mia Chen's Stream"


def test_other_organisations_see_nothing(api_on):
    member = api_on.new_user("Mia")
    _, other_token = api_on.new_org()
    other = api_on.bearer(other_token)
    assert api_on.client.get(f"/v1/users/{member['id']}", headers=other).status_code == 404
    assert api_on.client.patch(f"/v1/users/{member['id']}", json={"name": "x"}, headers=other).status_code == 404
    assert api_on.client.delete(f"/v1/users/{member['id']}", headers=other).status_code == 404
    ids = [u["id"] for u in api_on.client.get("/v1/users", headers=other).json()["items"]]
    assert member["id"] not in ids and len(ids) == 1
