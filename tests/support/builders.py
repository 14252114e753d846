"""Fixture builders for serving rows, as the pipeline writes them."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson

from variance.appdb.models import AccountRow, ContactRow, EventTypeRow, MilestoneStatusRow, TagMemberRow

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


def contact(
    org_id: str, contact_id: str, *, name=None, email=None, account_id=None, traits=None, last_seen=T0
) -> ContactRow:
    return ContactRow(
        org_id=org_id,
        contact_id=contact_id,
        name=name,
        search_name=(name or email or contact_id).casefold(),
        email=email.lower() if email else None,
        account_id=account_id,
        traits=orjson.dumps(traits or {}).decode(),
        first_seen_at=T0,
        last_seen_at=last_seen,
    )


def account(org_id: str, account_id: str, *, name=None, domain=None, traits=None, last_seen=T0) -> AccountRow:
    return AccountRow(
        org_id=org_id,
        account_id=account_id,
        name=name,
        search_name=(name or domain or account_id).casefold(),
        domain=domain,
        traits=orjson.dumps(traits or {}).decode(),
        first_seen_at=T0,
        last_seen_at=last_seen,
    )


def achieved(org_id: str, milestone_id: str, entity_id: str, count: int = 3, at=T0) -> MilestoneStatusRow:
    return MilestoneStatusRow(
        org_id=org_id,
        milestone_id=milestone_id,
        entity_id=entity_id,
        achieved=True,
        count=count,
        changed_at=at,
        achieved_at=at,
    )


def event_type(org_id: str, kind: str, name: str = "", count: int = 1) -> EventTypeRow:
    return EventTypeRow(org_id=org_id, kind=kind, name=name, first_seen_at=T0, last_seen_at=T0, count=count)


def tag_member(org_id: str, tag_id: str, entity_id: str) -> TagMemberRow:
    return TagMemberRow(org_id=org_id, tag_id=tag_id, entity_id=entity_id, since=T0)
