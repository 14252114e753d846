"""Connections over the management API, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from variance.appdb.models import Connection
from variance.core import credentials


def test_create_returns_secret_and_webhook_once(api_on):
    created = api_on.create_connection(name="web", mapping="identify_traits", account_id_trait="company.id")
    assert created["secret"].startswith("vsec_")
    assert created["webhook_url"] == f"http://127.0.0.1:8000/v1/webhooks/{created['id']}"
    assert created["account_id_trait"] == "company.id"
    fetched = api_on.client.get(f"/v1/connections/{created['id']}", headers=api_on.admin).json()
    assert "secret" not in fetched
    assert fetched["secret_hint"] == "..." + created["secret"][-4:]
    listed = api_on.client.get("/v1/connections", headers=api_on.admin).json()
    assert [c["id"] for c in listed["items"]] == [created["id"]]
    assert all("secret" not in c for c in listed["items"])


def test_the_secret_cannot_be_read_back_from_the_database(api_on):
    created = api_on.create_connection()
    with api_on.client.app.state.sessions() as session:
        row = session.scalar(select(Connection).where(Connection.id == created["id"]))
        stored = [str(getattr(row, c.key)) for c in Connection.__table__.columns]
    assert created["secret"] not in " ".join(stored)
    assert row.secret_digest == credentials.digest(created["secret"])


def test_update_rotate_delete(api_on):
    created = api_on.create_connection(name="web")
    url = f"/v1/connections/{created['id']}"
    updated = api_on.client.patch(
        url, json={"name": "web app", "mapping": "identify_traits", "account_id_trait": "org.id"}, headers=api_on.admin
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["name"], updated.json()["mapping"]) == ("web app", "identify_traits")
    rotated = api_on.client.post(url + "/rotate-secret", headers=api_on.admin).json()
    assert rotated["secret"] != created["secret"]
    assert api_on.client.delete(url, headers=api_on.admin).status_code == 204
    assert api_on.client.get(url, headers=api_on.admin).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "x", "mapping": "identify_traits"}, 400, "account_id_trait"),
        ({"name": "x", "mapping": "group", "account_id_trait": "company.id"}, 400, "account_id_trait"),
        ({"name": "x", "mapping": "nope"}, 422, "mapping"),
        ({"name": "", "mapping": "group"}, 422, "name"),
        ({"name": "x", "mapping": "identify_traits", "account_id_trait": "a..b"}, 422, "account_id_trait"),
        ({"name": "x", "mapping": "group", "extra": 1}, 422, "extra"),
    ],
)
def test_validation_errors_name_the_field(api_on, body, status, field):
    response = api_on.client.post("/v1/connections", json=body, headers=api_on.admin)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field


def test_duplicate_name_is_409(api_on):
    api_on.create_connection(name="web")
    response = api_on.client.post("/v1/connections", json={"name": "web", "mapping": "group"}, headers=api_on.admin)
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "a connection named 'web' already exists in this organisation"


def test_another_organisation_sees_and_changes_nothing(api_on):
    mine = api_on.create_connection(name="web")
    _, other_token = api_on.new_org("Globex")
    other = {"Authorization": f"Bearer {other_token}"}
    url = f"/v1/connections/{mine['id']}"
    assert api_on.client.get(url, headers=other).status_code == 404
    assert api_on.client.patch(url, json={"name": "stolen"}, headers=other).status_code == 404
    assert api_on.client.post(url + "/rotate-secret", headers=other).status_code == 404
    assert api_on.client.delete(url, headers=other).status_code == 404
    assert api_on.client.get("/v1/connections", headers=other).json()["items"] == []
    # the same name is free in another organisation
    assert api_on.create_connection(token=other_token, name="web")["name"] == "web"
    assert api_on.client.get(url, headers=api_on.admin).json()["name"] == "web"


def test_tokens_are_required(api_on):
    assert api_on.client.get("/v1/connections").status_code == 401
    assert api_on.client.get("/v1/connections", headers={"Authorization": "Bearer vtok_nope"}).status_code == 401


def test_pagination_is_stable(api_on):
    ids = [api_on.create_connection(name=f"c{i}")["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api_on.client.get("/v1/connections", params=params, headers=api_on.admin).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == sorted(ids)
