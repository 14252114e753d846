"""An account's or a contact's timeline, from the serving tables only.

Events come from the stream items the pipeline keeps (bounded per stream): an event
shows here once some stream of the organisation carried it, each event once however
many streams carried it. An organisation's accounts and contacts are visible to every
member, so the timeline reads items of every stream of the organisation, personal
ones included, but shows no stream it came through. Milestones come from
``milestone_status`` (each entity's current status and since when), tags from
``tag_members``, activity from ``daily_activity``. Entering or leaving a smart tag is an
event of kind ``Tag`` (the serving sink writes it), so it shows among the events once a
stream carries it: one selecting the tag, or one following the account or contact.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from variance.appdb.models import ContactRow, DailyActivityRow, Milestone, MilestoneStatusRow, StreamItemRow
from variance.appdb.types import utcnow
from variance.core.vocabulary import EntityType
from variance.workspace import entities
from variance.workspace.errors import NotFound
from variance.workspace.feeds import decode_key, encode_key, item_out
from variance.workspace.principals import Principal
from variance.workspace.schemas.entities import EntitySort
from variance.workspace.schemas.feeds import DailyCount, FeedPage, MilestoneState, TimelineOut

ACTIVITY_DAYS = 30
CONTACTS_SHOWN = 20


def entity_events(
    session: Session, org_id: str, entity_type: EntityType, entity_id: str, limit: int, cursor: str | None
) -> FeedPage:
    """The entity's events newest first, one row per message id across streams."""
    column = StreamItemRow.account_id if entity_type == EntityType.account else StreamItemRow.contact_id
    key = (StreamItemRow.event_time, StreamItemRow.message_id)
    where = [StreamItemRow.org_id == org_id, column == entity_id]
    if cursor:
        when, message_id = decode_key(cursor, "cursor")
        where.append(
            (StreamItemRow.event_time < when)
            | ((StreamItemRow.event_time == when) & (StreamItemRow.message_id < message_id))
        )
    # One row per event: the same event is an item of every stream that carried it.
    query = (
        select(StreamItemRow.event_time, StreamItemRow.message_id, func.min(StreamItemRow.stream_id))
        .where(*where)
        .group_by(*key)
    )
    picked = session.execute(query.order_by(*(c.desc() for c in key)).limit(limit + 1)).all()
    ids = [(stream_id, message_id) for _, message_id, stream_id in picked[:limit]]
    rows = {}
    if ids:
        found = session.scalars(
            select(StreamItemRow).where(
                StreamItemRow.org_id == org_id,
                tuple_(StreamItemRow.stream_id, StreamItemRow.message_id).in_(ids),
            )
        )
        rows = {(r.stream_id, r.message_id): r for r in found}
    items = [rows[i] for i in ids if i in rows]
    next_cursor = encode_key(items[-1]) if len(picked) > limit and items else None
    out = [item_out(r) for r in items]
    return FeedPage(items=out, next_cursor=next_cursor, live_cursor=encode_key(items[0]) if items else None)


def _milestones(session: Session, org_id: str, entity_type: EntityType, entity_id: str) -> list[MilestoneState]:
    rows = session.execute(
        select(MilestoneStatusRow, Milestone.name)
        .join(Milestone, Milestone.id == MilestoneStatusRow.milestone_id)
        .where(
            MilestoneStatusRow.org_id == org_id,
            MilestoneStatusRow.entity_id == entity_id,
            Milestone.org_id == org_id,
            Milestone.entity == entity_type.value,
        )
        .order_by(MilestoneStatusRow.changed_at.desc(), Milestone.name)
    )
    return [
        MilestoneState(
            milestone_id=status.milestone_id,
            name=name,
            achieved=status.achieved,
            count=status.count,
            achieved_at=status.achieved_at,
            changed_at=status.changed_at,
        )
        for status, name in rows
    ]


def _activity(session: Session, org_id: str, entity_type: EntityType, entity_id: str) -> list[DailyCount]:
    first_day = (utcnow() - timedelta(days=ACTIVITY_DAYS - 1)).date()
    rows = session.scalars(
        select(DailyActivityRow)
        .where(
            DailyActivityRow.org_id == org_id,
            DailyActivityRow.entity_type == entity_type.value,
            DailyActivityRow.entity_id == entity_id,
            DailyActivityRow.day >= first_day,
        )
        .order_by(DailyActivityRow.day.desc(), DailyActivityRow.kind, DailyActivityRow.name)
    )
    return [DailyCount(day=r.day, kind=r.kind, name=r.name or None, count=r.count) for r in rows]


def timeline(
    session: Session,
    principal: Principal,
    entity_type: EntityType,
    entity_id: str,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> TimelineOut:
    """The timeline of an account or contact of the principal's organisation (else 404)."""
    org_id = principal.org_id
    contact = account = None
    contacts: list = []
    contact_count = 0
    if entity_type == EntityType.account:
        account = entities.get_account(session, org_id, entity_id)
        # By name: the (org, account, name) index answers it; by recency would walk the
        # organisation's last-seen index (193 ms at 100,000 contacts, bench/web.py).
        contacts, _ = entities.list_contacts(
            session, org_id, account_id=entity_id, sort=EntitySort.name, limit=CONTACTS_SHOWN
        )
        contact_count = (
            session.scalar(select(func.count()).where(ContactRow.org_id == org_id, ContactRow.account_id == entity_id))
            or 0
        )
        tags = account.tags
    else:
        contact = entities.get_contact(session, org_id, entity_id)
        if contact.account_id:
            try:
                account = entities.get_account(session, org_id, contact.account_id)
            except NotFound:
                account = None  # linked before the account's own row arrived
        tags = contact.tags
    return TimelineOut(
        entity_type=entity_type.value,
        entity_id=entity_id,
        account=account,
        contact=contact,
        account_contacts=contacts,
        contact_count=contact_count,
        milestone_states=_milestones(session, org_id, entity_type, entity_id),
        tags=tags,
        activity=_activity(session, org_id, entity_type, entity_id),
        recent_events=entity_events(session, org_id, entity_type, entity_id, limit, cursor),
    )
