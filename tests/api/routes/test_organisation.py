"""The organisation over the API: every member reads its time zone, admins set it, and a
name outside the IANA database answers 422 naming the field and the rule."""

from __future__ import annotations

import pytest

from variance.workspace import org_settings

RULE = "must be an IANA time zone name, such as Europe/Paris, America/New_York or UTC"


def _time_zone_stored(api) -> str:
    with api.client.app.state.sessions() as session:
        return org_settings.time_zone_of(session, api.org_id)


def test_members_read_the_organisation_utc_until_an_admin_sets_a_zone(api_on):
    member = api_on.new_user("Mia")
    read = api_on.client.get("/v1/organisation", headers=api_on.bearer(member["token"]))
    assert read.status_code == 200
    assert read.json() == {"id": api_on.org_id, "name": "Acme", "time_zone": "UTC"}

    saved = api_on.client.patch("/v1/organisation", json={"time_zone": " Europe/Paris "}, headers=api_on.admin)
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"id": api_on.org_id, "name": "Acme", "time_zone": "Europe/Paris"}
    assert _time_zone_stored(api_on) == "Europe/Paris"  # what the web pages render times in
    again = api_on.client.get("/v1/organisation", headers=api_on.bearer(member["token"]))
    assert again.json()["time_zone"] == "Europe/Paris"

    unchanged = api_on.client.patch("/v1/organisation", json={}, headers=api_on.admin)
    assert unchanged.status_code == 200 and unchanged.json()["time_zone"] == "Europe/Paris"


def test_only_admins_set_the_time_zone(api_on):
    member = api_on.new_user("Mia")
    refused = api_on.client.patch(
        "/v1/organisation", json={"time_zone": "Asia/Kolkata"}, headers=api_on.bearer(member["token"])
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert _time_zone_stored(api_on) == "UTC"
    assert api_on.client.patch("/v1/organisation", json={"time_zone": "UTC"}).status_code == 401


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "europe/paris", "../../../etc/passwd", "", "CET5"])
def test_a_name_outside_the_time_zone_database_is_refused_with_the_field_and_rule(api, name):
    refused = api.client.patch("/v1/organisation", json={"time_zone": name}, headers=api.admin)
    assert refused.status_code == 422
    assert refused.json() == {
        "error": {"code": "invalid", "message": f"time_zone: {RULE}", "field": "time_zone", "rule": RULE}
    }
    assert _time_zone_stored(api) == "UTC"


def test_unknown_fields_and_names_too_long_for_the_column_are_refused(api):
    extra = api.client.patch("/v1/organisation", json={"name": "Renamed"}, headers=api.admin)
    assert (extra.status_code, extra.json()["error"]["field"]) == (422, "name")
    long = api.client.patch("/v1/organisation", json={"time_zone": "A" * 65}, headers=api.admin)
    assert (long.status_code, long.json()["error"]["rule"]) == (422, "String should have at most 64 characters")


def test_another_organisations_setting_is_its_own(api):
    api.client.patch("/v1/organisation", json={"time_zone": "America/New_York"}, headers=api.admin)
    other_id, other_token = api.new_org()
    theirs = api.client.get("/v1/organisation", headers=api.bearer(other_token)).json()
    assert theirs == {"id": other_id, "name": "Other", "time_zone": "UTC"}


def test_the_openapi_document_describes_both_operations(api):
    paths = api.client.get("/openapi.json").json()["paths"]["/v1/organisation"]
    assert set(paths) == {"get", "patch"}
    assert {"200", "401", "403", "422"} <= set(paths["patch"]["responses"])
    assert paths["patch"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OrganisationUpdate"
    }
