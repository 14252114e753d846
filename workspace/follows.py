"""Following accounts and contacts into Accounts & Contacts streams.

An id may be followed before its first event arrives (a seller often knows the account
id first); following twice is a no-op that returns the existing follow.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from variance.appdb.models import Follow, Stream
from variance.core.ids import new_id
from variance.core.vocabulary import EntityType, StreamType, Visibility
from variance.workspace import streams as stream_service
from variance.workspace.errors import InvalidInput, NotFound
from variance.workspace.pagination import paginate
from variance.workspace.principals import Principal
from variance.workspace.schemas.streams import FollowCreate, FollowOut, FollowResult
from variance.workspace.visibility import visible_streams


def to_out(follow: Follow) -> FollowOut:
    return FollowOut(
        id=follow.id,
        stream_id=follow.stream_id,
        entity_type=EntityType(follow.entity_type),
        entity_id=follow.entity_id,
        created_by_user_id=follow.created_by_user_id,
        created_at=follow.created_at,
    )


def _default_stream(session: Session, principal: Principal) -> Stream:
    stream = stream_service.default_stream(session, principal.user_id)
    if stream is None:
        raise NotFound("you have no default stream; create one and pass its id in stream_ids")
    return stream


def follow(session: Session, principal: Principal, body: FollowCreate) -> FollowResult:
    targets: list[Stream] = []
    created = None
    if body.new_stream is not None:
        if body.new_stream.type != StreamType.accounts_contacts:
            raise InvalidInput("new_stream.type", "must be accounts_contacts to follow accounts and contacts")
        created = stream_service.create_stream(session, principal, body.new_stream)
        targets.append(created)
    for index, stream_id in enumerate(dict.fromkeys(body.stream_ids)):
        stream = stream_service.get_writable(session, principal, stream_id)
        if stream.type != StreamType.accounts_contacts.value:
            raise InvalidInput(
                f"stream_ids[{index}]", "is an Event Type stream; only Accounts & Contacts streams follow entities"
            )
        targets.append(stream)
    if not targets:
        targets.append(_default_stream(session, principal))
    follows = []
    for stream in targets:
        existing = session.scalar(
            select(Follow).where(
                Follow.stream_id == stream.id,
                Follow.entity_type == body.entity_type.value,
                Follow.entity_id == body.entity_id,
            )
        )
        if existing is None:
            existing = Follow(
                id=new_id("fol"),
                org_id=principal.org_id,
                stream_id=stream.id,
                entity_type=body.entity_type.value,
                entity_id=body.entity_id,
                created_by_user_id=principal.user_id,
            )
            session.add(existing)
            session.flush()
        follows.append(to_out(existing))
    return FollowResult(
        follows=follows, created_stream=stream_service.describe(session, principal, created) if created else None
    )


def unfollow(
    session: Session, principal: Principal, entity_type: EntityType, entity_id: str, stream_id: str | None
) -> int:
    """Unfollow from one stream, or from every stream the user may change; returns how many."""
    if stream_id is not None:
        streams = [stream_service.get_writable(session, principal, stream_id)]
    else:
        streams = [
            s
            for s in session.scalars(select(Stream).where(visible_streams(principal)))
            if s.visibility == Visibility.personal.value or principal.is_admin
        ]
    removed = 0
    for stream in streams:
        row = session.scalar(
            select(Follow).where(
                Follow.stream_id == stream.id, Follow.entity_type == entity_type.value, Follow.entity_id == entity_id
            )
        )
        if row is not None:
            session.delete(row)
            removed += 1
    session.flush()
    return removed


def stream_follows(
    session: Session, principal: Principal, stream_id: str, limit: int, cursor: str | None
) -> tuple[list[FollowOut], str | None]:
    stream_service.get_visible(session, principal, stream_id)
    rows, next_cursor = paginate(session, select(Follow).where(Follow.stream_id == stream_id), Follow.id, limit, cursor)
    return [to_out(r) for r in rows], next_cursor


def entity_followers(
    session: Session, principal: Principal, entity_type: EntityType, entity_id: str, limit: int, cursor: str | None
) -> tuple[list[FollowOut], str | None]:
    """Which of the streams the user sees follow this account or contact."""
    query = (
        select(Follow)
        .join(Stream, Stream.id == Follow.stream_id)
        .where(visible_streams(principal), Follow.entity_type == entity_type.value, Follow.entity_id == entity_id)
    )
    rows, next_cursor = paginate(session, query, Follow.id, limit, cursor)
    return [to_out(r) for r in rows], next_cursor
