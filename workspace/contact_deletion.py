"""Deleting a contact's data on request (an admin's decision, through the API or the CLI).

What happens when:

- **at once**, in one transaction: the request is recorded (who asked, when), and the
  contact leaves the app database: its serving rows (``serving.contact_deletion``), the
  follows of it in every stream, and the Slack posts of its events not yet sent;
- **at the next lake rewrite** (``variance warehouse compact``, or ``variance dbt build``,
  which rewrites first) or **BigQuery build** (``variance dbt build --target bigquery``):
  its warehouse rows (``core.contact_deletion`` says which);
- **at the pipeline's next start** (or a backfill): its events are left out of the
  rebuilt state, so no milestone counts them any more.

The request stays in force: asking again changes nothing but removes any serving rows
written since (the running pipeline keeps what it holds in memory until it restarts).
"""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from variance.appdb.models import ContactDeletion, ContactRow, Follow, SlackOutboxRow, User
from variance.core.ids import new_id
from variance.core.vocabulary import EntityType, ServingTable, SlackDelivery
from variance.serving.contact_deletion import linked_anonymous_ids, remove_from_serving
from variance.workspace.errors import NotFound
from variance.workspace.principals import Principal, require_admin
from variance.workspace.schemas.contact_deletion import ContactDeletionOut, RemovedNow

LATER = [
    "warehouse (local lake): its rows are removed when the lake is next rewritten: `variance warehouse compact`, "
    "or `variance dbt build`, which rewrites first",
    "warehouse (BigQuery): its rows are deleted by the next `variance dbt build --target bigquery`",
    "milestone counts: its events stop counting when the pipeline next starts (it rebuilds its state without them)",
    "not taken back: Slack messages already posted, copies already exported, Segment's own copy, and Pub/Sub "
    "messages still in flight (re-sent ones are removed by the next rewrite)",
]


def delete_contact(
    session: Session, principal: Principal, contact_id: str, *, lake_dir: Path | None = None
) -> ContactDeletionOut:
    """Record a request to delete ``contact_id``'s data and remove it from the app
    database now; idempotent. Admins only; a contact the organisation has never seen (and
    never asked to delete) is ``NotFound``. With ``lake_dir`` (the local warehouse), the
    anonymousIds it links to the contact are learnt now, so serving rows kept under one
    (a visit before the contact was identified) go at once too; without it, at the next
    lake rewrite."""
    require_admin(principal)
    org_id = principal.org_id
    request = session.scalars(
        select(ContactDeletion).where(ContactDeletion.org_id == org_id, ContactDeletion.contact_id == contact_id)
    ).first()
    already = request is not None
    if request is None:
        if session.get(ContactRow, (org_id, contact_id)) is None:
            raise NotFound(f"no contact {contact_id!r} in this organisation")
        asker = session.get(User, principal.user_id)
        request = ContactDeletion(
            id=new_id("del"),
            org_id=org_id,
            contact_id=contact_id,
            requested_by_user_id=principal.user_id,
            requested_by_email=asker.email if asker is not None else principal.user_id,
            known_ids="[]",
        )
        session.add(request)
        session.flush()
    if lake_dir is not None:
        known = {*orjson.loads(request.known_ids or "[]"), *linked_anonymous_ids(lake_dir, org_id, contact_id)}
        request.known_ids = orjson.dumps(sorted(known)).decode()
    removed = _remove_now(session, org_id, [contact_id, *orjson.loads(request.known_ids or "[]")])
    return ContactDeletionOut(
        id=request.id,
        contact_id=request.contact_id,
        requested_by_user_id=request.requested_by_user_id,
        requested_by_email=request.requested_by_email,
        requested_at=request.requested_at,
        already_requested=already,
        removed_now=removed,
        lake_rewritten_at=request.lake_rewritten_at,
        later=LATER,
    )


def _remove_now(session: Session, org_id: str, ids: list[str]) -> RemovedNow:
    counts = dict.fromkeys(ServingTable, 0)
    follows = outbox = 0
    for entity_id in ids:
        for table, count in remove_from_serving(session, org_id, entity_id).items():
            counts[table] += count
        follows += session.execute(
            delete(Follow)
            .where(
                Follow.org_id == org_id,
                Follow.entity_type == EntityType.contact.value,
                Follow.entity_id == entity_id,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    outbox = _cancel_unsent_posts(session, org_id, set(ids))
    return RemovedNow(
        contacts=counts[ServingTable.contacts],
        tag_members=counts[ServingTable.tag_members],
        follows=follows,
        milestone_status=counts[ServingTable.milestone_status],
        stream_items=counts[ServingTable.stream_items],
        daily_activity=counts[ServingTable.daily_activity],
        slack_outbox=outbox,
    )


def _cancel_unsent_posts(session: Session, org_id: str, ids: set[str]) -> int:
    """Slack posts of the contact's matches still waiting (or dead, so retried later). A
    post being sent, or sent, stays: Slack may already show it, and the sent-log keeps the
    sender from posting it twice until it is pruned."""
    waiting = session.scalars(
        select(SlackOutboxRow).where(
            SlackOutboxRow.org_id == org_id,
            SlackOutboxRow.state.in_([SlackDelivery.pending.value, SlackDelivery.dead.value]),
        )
    )
    cancelled = 0
    for row in waiting:
        try:
            match = orjson.loads(row.payload).get("match") or {}
        except orjson.JSONDecodeError:
            continue
        if match.get("contact_id") in ids:
            session.delete(row)
            cancelled += 1
    return cancelled
