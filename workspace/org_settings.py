"""An organisation's settings that its admins change: the time zone the web app shows
times in (an IANA name such as ``Europe/Paris``; ``UTC`` until one is set), and the
calendar days of that zone: "today", "yesterday" and "this week" start at its midnight.

Daily activity is not in it: the pipeline counts ``daily_activity`` per UTC day, and a
UTC day's count cannot be split at another zone's midnight, so those days stay UTC days
and the pages say so (as do smart tag ``event_count`` windows, see ``core.tag_tree``).
Anything kept with its instant (last seen, events, milestones) is placed in the zone."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import date, datetime, timedelta, timezone, tzinfo

from sqlalchemy.orm import Session

from variance.workspace.errors import InvalidInput
from variance.workspace.orgs import get_org
from variance.workspace.principals import Principal, require_admin

DEFAULT_TIME_ZONE = "UTC"
TIME_ZONE_RULE = "must be an IANA time zone name, such as Europe/Paris, America/New_York or UTC"


@functools.cache
def time_zone_names() -> frozenset[str]:
    """Every IANA name the system's time zone database knows (read once)."""
    return frozenset(zoneinfo.available_timezones()) | {DEFAULT_TIME_ZONE}


def parse_time_zone(name: str) -> str:
    """The name as stored, or InvalidInput naming the field and the rule. Only names of
    the database are taken, never a path (ZoneInfo would read any file it is given)."""
    cleaned = (name or "").strip()
    if cleaned not in time_zone_names():
        raise InvalidInput("time_zone", TIME_ZONE_RULE)
    return cleaned


@functools.cache
def zone(name: str) -> tzinfo:
    if name == DEFAULT_TIME_ZONE:
        return timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # a name the database lost since: show UTC
        return timezone.utc


def time_zone_of(session: Session, org_id: str) -> str:
    return get_org(session, org_id).time_zone or DEFAULT_TIME_ZONE


def set_time_zone(session: Session, principal: Principal, name: str) -> str:
    """An admin sets the organisation's time zone; returns the name stored."""
    require_admin(principal)
    org = get_org(session, principal.org_id)
    org.time_zone = parse_time_zone(name)
    session.flush()
    return org.time_zone


def local_day(at: datetime, name: str) -> date:
    """The calendar day an instant falls on in the zone ``name``."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    return at.astimezone(zone(name)).date()


def week_start(day: date) -> date:
    """The Monday of ``day``'s week (ISO 8601 weeks, as most of Europe counts them)."""
    return day - timedelta(days=day.weekday())


def relative_day(at: datetime, name: str, now: datetime | None = None) -> str | None:
    """``today``, ``yesterday`` or ``this week`` for an instant, by the calendar of the zone
    ``name`` (so 23:30 UTC is already "tomorrow" in Paris); None for anything older or
    in the future."""
    today = local_day(now or datetime.now(timezone.utc), name)
    day = local_day(at, name)
    if day == today:
        return "today"
    if day == today - timedelta(days=1):
        return "yesterday"
    if week_start(today) <= day < today:
        return "this week"
    return None
