"""The organisation's calendar: an instant's day, "today", "yesterday" and "this week"
counted from midnight in the organisation's time zone, not UTC's."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from variance.workspace import org_settings

# Wednesday 2026-12-02 23:30 UTC: already Thursday the 3rd in Paris, still the 2nd in New York.
NOW = datetime(2026, 12, 2, 23, 30, tzinfo=timezone.utc)


def test_an_instants_day_is_its_day_in_the_zone():
    assert org_settings.local_day(NOW, "UTC") == date(2026, 12, 2)
    assert org_settings.local_day(NOW, "Europe/Paris") == date(2026, 12, 3)
    assert org_settings.local_day(NOW, "America/New_York") == date(2026, 12, 2)
    with pytest.raises(ValueError, match="timezone-aware"):
        org_settings.local_day(NOW.replace(tzinfo=None), "UTC")


@pytest.mark.parametrize(
    ("at", "zone", "label"),
    [
        (NOW - timedelta(minutes=20), "Europe/Paris", "today"),  # 00:10 on the 3rd in Paris
        (NOW - timedelta(minutes=40), "Europe/Paris", "yesterday"),  # 23:50 on the 2nd in Paris
        (NOW - timedelta(minutes=40), "UTC", "today"),
        (NOW - timedelta(hours=23), "UTC", "today"),  # 00:30 UTC on the 2nd
        (NOW - timedelta(hours=24), "UTC", "yesterday"),
        (NOW - timedelta(days=2), "UTC", "this week"),  # Monday the 30th of November
        (NOW - timedelta(days=3), "UTC", None),  # Sunday: last week
        (NOW - timedelta(days=3), "Europe/Paris", "this week"),  # Monday 00:30 in Paris, whose today is Thursday
        (NOW - timedelta(days=3, hours=1), "Europe/Paris", None),  # Sunday 23:30 in Paris
        (NOW + timedelta(hours=2), "UTC", None),  # tomorrow
    ],
)
def test_today_yesterday_and_this_week_follow_the_zones_midnight(at, zone, label):
    assert org_settings.relative_day(at, zone, now=NOW) == label


def test_weeks_start_on_monday():
    assert org_settings.week_start(date(2026, 12, 2)) == date(2026, 11, 30)
    assert org_settings.week_start(date(2026, 11, 30)) == date(2026, 11, 30)
    assert org_settings.week_start(date(2026, 12, 6)) == date(2026, 11, 30)
