"""Milestones: definitions admins manage; the pipeline evaluates them."""

from __future__ import annotations

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from variance.appdb.models import Milestone, MilestoneStatusRow
from variance.appdb.types import utcnow
from variance.core.durations import parse_duration
from variance.core.events import EventTypeRef
from variance.core.filters import PropertyFilter
from variance.core.ids import new_id
from variance.core.vocabulary import EntityType
from variance.workspace.errors import Conflict, InvalidInput, NotFound
from variance.workspace.pagination import paginate
from variance.workspace.schemas.milestones import MilestoneCreate, MilestoneOut, MilestoneUpdate
from variance.workspace.tags import lock_definitions, milestone_references

# What a milestone counts; a change to any of these is a new version.
_MEANING = ("entity", "event", "filters", "threshold", "window")


def _achieved_counts(session: Session, org_id: str, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = session.execute(
        select(MilestoneStatusRow.milestone_id, func.count())
        .where(
            MilestoneStatusRow.org_id == org_id,
            MilestoneStatusRow.milestone_id.in_(ids),
            MilestoneStatusRow.achieved.is_(True),
        )
        .group_by(MilestoneStatusRow.milestone_id)
    )
    return dict(rows.tuples().all())


def to_out(milestone: Milestone, achieved_count: int = 0) -> MilestoneOut:
    return MilestoneOut(
        id=milestone.id,
        name=milestone.name,
        entity=EntityType(milestone.entity),
        event=EventTypeRef(kind=milestone.event_kind, name=milestone.event_name),
        filters=[PropertyFilter.model_validate(f) for f in orjson.loads(milestone.filters)],
        threshold=milestone.threshold,
        window=milestone.window,
        version=milestone.version,
        achieved_count=achieved_count,
        created_at=milestone.created_at,
        updated_at=milestone.updated_at,
    )


def describe(session: Session, milestone: Milestone) -> MilestoneOut:
    return to_out(milestone, _achieved_counts(session, milestone.org_id, [milestone.id]).get(milestone.id, 0))


def _apply(milestone: Milestone, field: str, value) -> None:
    if field == "entity":
        milestone.entity = EntityType(value).value
    elif field == "event":
        milestone.event_kind = value.kind.value
        milestone.event_name = value.name
    elif field == "filters":
        milestone.filters = orjson.dumps([f.model_dump(mode="json") for f in value]).decode()
    elif field == "threshold":
        milestone.threshold = value
    elif field == "window":
        milestone.window = value
        milestone.window_seconds = int(parse_duration(value).total_seconds()) if value else None


def _flush_unique(session: Session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a milestone named {name!r} already exists in this organisation", field="name") from None


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("name", "must not be empty")
    return name


def create_milestone(session: Session, org_id: str, body: MilestoneCreate) -> Milestone:
    milestone = Milestone(id=new_id("mil"), org_id=org_id, name=_clean_name(body.name), version=1)
    for field in _MEANING:
        _apply(milestone, field, getattr(body, field))
    session.add(milestone)
    _flush_unique(session, milestone.name)
    return milestone


def get_milestone(session: Session, org_id: str, milestone_id: str) -> Milestone:
    milestone = session.get(Milestone, milestone_id)
    if milestone is None or milestone.org_id != org_id:
        raise NotFound(f"no milestone {milestone_id!r} in this organisation")
    return milestone


def list_milestones(
    session: Session, org_id: str, limit: int, cursor: str | None
) -> tuple[list[MilestoneOut], str | None]:
    rows, next_cursor = paginate(
        session, select(Milestone).where(Milestone.org_id == org_id), Milestone.id, limit, cursor
    )
    counts = _achieved_counts(session, org_id, [r.id for r in rows])
    return [to_out(r, counts.get(r.id, 0)) for r in rows], next_cursor


def update_milestone(session: Session, org_id: str, milestone_id: str, body: MilestoneUpdate) -> Milestone:
    milestone = get_milestone(session, org_id, milestone_id)
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "entity", "event", "filters", "threshold"):
        if field in changes and changes[field] is None:
            raise InvalidInput(field, "must not be null")
    before = describe(session, milestone)
    if "entity" in changes and body.entity is not None and body.entity.value != milestone.entity:
        lock_definitions(session, org_id)
        users = milestone_references(session, org_id, milestone_id)
        if users:
            raise Conflict(
                f"milestone {milestone.name!r} is used by {', '.join(users)}, which count {milestone.entity}s; "
                "change those first",
                field="entity",
            )
    if "name" in changes:
        milestone.name = _clean_name(body.name or "")
    for field in _MEANING:
        if field in changes:
            _apply(milestone, field, getattr(body, field))
    after = to_out(milestone)
    if any(getattr(before, f) != getattr(after, f) for f in _MEANING):
        milestone.version += 1
        # The old version's statuses no longer hold; the pipeline recomputes them.
        session.execute(
            delete(MilestoneStatusRow).where(
                MilestoneStatusRow.org_id == org_id, MilestoneStatusRow.milestone_id == milestone_id
            )
        )
    milestone.updated_at = utcnow()
    _flush_unique(session, milestone.name)
    return milestone


def delete_milestone(session: Session, org_id: str, milestone_id: str) -> None:
    """Refused while smart tags or views use it; the pipeline stops evaluating it."""
    milestone = get_milestone(session, org_id, milestone_id)
    lock_definitions(session, org_id)
    users = milestone_references(session, org_id, milestone_id)
    if users:
        raise Conflict(f"milestone {milestone.name!r} is used by: {', '.join(users)}; change those first")
    session.execute(
        delete(MilestoneStatusRow).where(
            MilestoneStatusRow.org_id == org_id, MilestoneStatusRow.milestone_id == milestone_id
        )
    )
    session.delete(milestone)
    session.flush()
