"""An organisation's settings that its admins change: the time zone the web app shows
times in (an IANA name such as ``Europe/Paris``; ``UTC`` until one is set)."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import timezone, tzinfo

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
