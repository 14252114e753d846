"""The organisation's time zone: an admin sets it on the Integrations page (an IANA name,
refused with the field and rule otherwise), and every page and partial shows its times in
it; until then, UTC."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.support import builders
from tests.web.builders import daily, stream_item
from tests.web.conftest import csrf_of
from variance.appdb.types import utcnow
from variance.workspace import org_settings, streams

WINTER = datetime(2026, 1, 15, 23, 30, tzinfo=timezone.utc)  # already the 16th in Paris
SUMMER = datetime(2026, 7, 1, 8, 5, tzinfo=timezone.utc)


def _stream(web) -> str:
    with web.sessions() as session:
        return streams.default_stream_id(session, web.admin_id)


def _set(client, csrf: str, name: str):
    return client.post("/settings/time-zone", data={"time_zone": name, "csrf_token": csrf})


def test_times_show_in_utc_until_an_admin_sets_the_organisations_time_zone(web):
    stream_id = _stream(web)
    web.insert(
        stream_item(web.org_id, stream_id, "winter", at=WINTER), stream_item(web.org_id, stream_id, "summer", at=SUMMER)
    )
    client, csrf = web.signed_in()
    page = client.get(f"/streams/{stream_id}").text
    assert "2026-01-15 23:30 UTC" in page and "2026-07-01 08:05 UTC" in page
    assert 'data-testid="org-time-zone">UTC<' in client.get("/integrations").text

    saved = _set(client, csrf, " Europe/Paris ")
    assert saved.status_code == 303 and saved.headers["location"] == "/integrations"
    assert 'data-testid="org-time-zone">Europe/Paris<' in client.get("/integrations").text
    page = client.get(f"/streams/{stream_id}").text
    assert "2026-01-16 00:30 CET" in page and "2026-07-01 10:05 CEST" in page  # daylight saving time too
    assert "UTC" not in re.sub(r"<script.*?</script>", "", page, flags=re.S).split("<main", 1)[1]

    since = re.search(r"/live\?since=([^&]+)&", page).group(1)
    later = SUMMER + timedelta(hours=1)
    web.insert(stream_item(web.org_id, stream_id, "later", at=later, name="Signed Up"))
    live = client.get(f"/streams/{stream_id}/live?since={since}", headers={"HX-Request": "true"}).text
    assert "2026-07-01 11:05 CEST" in live  # the live partial too

    _, other_admin = web.new_org()
    other, _ = web.signed_in(other_admin)
    assert 'data-testid="org-time-zone">UTC<' in other.get("/integrations").text  # one organisation's setting


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "europe/paris", "../../../etc/passwd", "", "CET5"])
def test_a_name_outside_the_time_zone_database_is_refused_with_the_field_and_rule(web, name):
    client, csrf = web.signed_in()
    refused = _set(client, csrf, name)
    assert refused.status_code == 400
    assert (
        "<strong>time_zone</strong>: must be an IANA time zone name, such as Europe/Paris, America/New_York or UTC"
    ) in refused.text
    with web.sessions() as session:
        assert org_settings.time_zone_of(session, web.org_id) == "UTC"


def test_members_cannot_change_the_time_zone(web):
    client, _ = web.signed_in(web.new_user("Max"))
    csrf = csrf_of(client.get("/streams").text)
    assert _set(client, csrf, "Europe/Paris").status_code == 403
    with web.sessions() as session:
        assert org_settings.time_zone_of(session, web.org_id) == "UTC"


def test_the_admin_form_offers_the_databases_names():
    assert {"Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC"} <= org_settings.time_zone_names()
    assert org_settings.parse_time_zone("Asia/Kolkata") == "Asia/Kolkata"


def _label_that_differs_from_utcs(zone: str, now: datetime) -> tuple[datetime, str]:
    """An instant of the last two days that the zone's calendar names ("today", ...) otherwise
    than UTC's would: there always is one, since the two midnights differ."""
    for minutes in range(30, 48 * 60, 30):
        at = now - timedelta(minutes=minutes)
        local = org_settings.relative_day(at, zone, now)
        if local is not None and local != org_settings.relative_day(at, "UTC", now):
            return at, local
    raise AssertionError("no instant found")


def test_last_seen_says_today_by_the_organisations_calendar_and_activity_days_say_they_are_utc(web):
    client, csrf = web.signed_in()
    assert _set(client, csrf, "Pacific/Kiritimati").status_code == 303  # UTC+14: its midnight is 10:00 UTC
    at, label = _label_that_differs_from_utcs("Pacific/Kiritimati", utcnow())
    web.insert(
        builders.account(web.org_id, "acme", name="Acme Inc", last_seen=at),
        builders.contact(web.org_id, "u1", name="Ada", account_id="acme", last_seen=at),
        daily(web.org_id, "account", "acme", utcnow().date(), count=4),
    )
    shown = at.astimezone(org_settings.zone("Pacific/Kiritimati")).strftime("%Y-%m-%d %H:%M +14")
    page = client.get("/accounts/acme").text
    assert f"last seen {shown} ({label})" in page  # the account, and its contact below
    assert page.count(f"{shown} ({label})") == 2
    assert "(UTC)</th>" in page and 'data-testid="activity-days">Days here are UTC days' in page
    assert f"<td>{utcnow().date().isoformat()}</td>" in page
    assert f"{shown} ({label})" in client.get("/accounts").text

    _set(client, csrf, "UTC")
    page = client.get("/accounts/acme").text
    assert f"({label})" not in page.split("Activity, last 30 days")[0]
    assert "activity-days" not in page and '<th scope="col">Day</th>' in page
