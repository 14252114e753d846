"""A deleted contact in the serving tables: its rows removed at once, and the requests
in force read back for those that rebuild state (the pipeline's start, a backfill, a lake
rewrite). The request itself is recorded by ``variance.workspace.contact_deletion``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import orjson
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from variance.appdb.models import (
    ContactDeletion,
    ContactRow,
    DailyActivityRow,
    Milestone,
    MilestoneStatusRow,
    SmartTag,
    StreamItemRow,
    TagMemberRow,
)
from variance.core.contact_deletion import DeletedContact
from variance.core.vocabulary import EntityType, ServingTable, WarehouseTable


def remove_from_serving(session: Session, org_id: str, contact_id: str) -> dict[ServingTable, int]:
    """Delete the contact's serving rows (its row, tag memberships, contact milestone
    statuses, feed items, daily activity) in the caller's transaction; rows per table.
    Account rows stay: an account is not the contact's, and its counts are corrected by
    the next rebuild."""
    contact_tags = select(SmartTag.id).where(SmartTag.org_id == org_id, SmartTag.entity == EntityType.contact.value)
    contact_milestones = select(Milestone.id).where(
        Milestone.org_id == org_id, Milestone.entity == EntityType.contact.value
    )
    statements = {
        ServingTable.contacts: delete(ContactRow).where(
            ContactRow.org_id == org_id, ContactRow.contact_id == contact_id
        ),
        ServingTable.tag_members: delete(TagMemberRow).where(
            TagMemberRow.org_id == org_id, TagMemberRow.entity_id == contact_id, TagMemberRow.tag_id.in_(contact_tags)
        ),
        ServingTable.milestone_status: delete(MilestoneStatusRow).where(
            MilestoneStatusRow.org_id == org_id,
            MilestoneStatusRow.entity_id == contact_id,
            MilestoneStatusRow.milestone_id.in_(contact_milestones),
        ),
        ServingTable.stream_items: delete(StreamItemRow).where(
            StreamItemRow.org_id == org_id, StreamItemRow.contact_id == contact_id
        ),
        ServingTable.daily_activity: delete(DailyActivityRow).where(
            DailyActivityRow.org_id == org_id,
            DailyActivityRow.entity_type == EntityType.contact.value,
            DailyActivityRow.entity_id == contact_id,
        ),
    }
    return {
        table: session.execute(statement.execution_options(synchronize_session=False)).rowcount
        for table, statement in statements.items()
    }


def linked_anonymous_ids(lake_dir: Path, org_id: str, contact_id: str) -> tuple[str, ...]:
    """The anonymousIds the local lake links to the contact now (its serving rows may
    hold a visit made under one, before the contact was identified)."""
    from variance.warehouse.local import LakeReader

    if not lake_dir.is_dir():
        return ()
    rows = LakeReader(lake_dir).current(
        WarehouseTable.identity_links.value, "org_id = $org and user_id = $user", {"org": org_id, "user": contact_id}
    )
    return tuple(sorted({row["anonymous_id"] for row in rows} - {contact_id}))


def deleted_contacts(session: Session, org_ids: Iterable[str] | None = None) -> list[DeletedContact]:
    """Every deletion request in force (of the given organisations), oldest first."""
    query = select(ContactDeletion).order_by(ContactDeletion.requested_at, ContactDeletion.id)
    if org_ids is not None:
        query = query.where(ContactDeletion.org_id.in_(list(org_ids)))
    return [
        DeletedContact(row.org_id, row.contact_id, tuple(orjson.loads(row.known_ids or "[]")))
        for row in session.scalars(query)
    ]


def note_lake_rewritten(session: Session, learnt: dict[tuple[str, str], tuple[str, ...]], at: datetime) -> None:
    """Record that the lake was rewritten without these contacts, with the anonymousIds
    found linked to each (kept, since the rewrite removed the links that showed them);
    serving rows under those anonymousIds go too."""
    for (org_id, contact_id), ids in learnt.items():
        row = session.scalars(
            select(ContactDeletion).where(ContactDeletion.org_id == org_id, ContactDeletion.contact_id == contact_id)
        ).first()
        if row is None:
            continue
        known = sorted({*orjson.loads(row.known_ids or "[]"), *(i for i in ids if i != contact_id)})
        for anonymous_id in known:
            remove_from_serving(session, org_id, anonymous_id)
        row.known_ids = orjson.dumps(known).decode()
        row.lake_rewritten_at = at
