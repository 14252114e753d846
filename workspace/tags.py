"""Smart tags: definitions admins manage and everyone reads; and the checks every
definition passes before it is stored (shared with views).

A definition may use milestones and other smart tags. Both must exist in the
organisation and be of the definition's entity, and a smart tag must never use itself,
directly or through others, so tags can always be evaluated in dependency order. Changes
to the graph of who-uses-what (creating or redefining a tag or view,
deleting a tag) take a lock on the organisation's row (``lock_definitions``), so two
concurrent changes cannot together form a cycle or leave a reference to a deleted tag.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from variance.appdb.models import Milestone, Organisation, SmartTag, TagMemberRow, User, View
from variance.appdb.types import utcnow
from variance.core.ids import new_id
from variance.core.tag_tree import (
    ConditionGroup,
    MilestoneCondition,
    TagCondition,
    dump_definition,
    find_cycle,
    parse_definition,
    referenced_milestones,
    referenced_tags,
    walk,
)
from variance.core.vocabulary import EntityType, Visibility
from variance.workspace.errors import Conflict, InvalidInput, NotFound
from variance.workspace.pagination import paginate
from variance.workspace.schemas.tags import TagCreate, TagOut, TagUpdate


def _plural(entity: str) -> str:
    """How messages name the entities of a kind: ``accounts``, ``contacts``."""
    return f"{EntityType(entity).value}s"


# --- Checking a definition against the organisation ----------------------------------------


def lock_definitions(session: Session, org_id: str) -> None:
    """Serialise changes to the organisation's tag graph (PostgreSQL row lock; SQLite
    already allows one writer at a time)."""
    session.execute(select(Organisation.id).where(Organisation.id == org_id).with_for_update())


def check_definition(
    session: Session,
    org_id: str,
    entity: str,
    definition: ConditionGroup,
    what: str,
    tag: SmartTag | None = None,
) -> None:
    """Raise ``InvalidInput`` naming the first condition whose milestone or smart tag is
    missing or of another entity, or, for ``tag``, a cycle the definition would create.
    ``what`` names the thing being defined in messages ("smart tag", "view")."""
    _check_milestones(session, org_id, entity, definition, what)
    _check_tags(session, org_id, entity, definition, what)
    if tag is not None:
        cycle = _cycle_through(session, org_id, tag.id, referenced_tags(definition))
        if cycle:
            names = _tag_names(session, org_id, cycle)
            raise InvalidInput("definition", "creates a cycle: " + " -> ".join(names.get(i, i) for i in cycle))


def _check_milestones(session: Session, org_id: str, entity: str, definition: ConditionGroup, what: str) -> None:
    ids = referenced_milestones(definition)
    if not ids:
        return
    found = {
        row.id: row
        for row in session.execute(
            select(Milestone.id, Milestone.name, Milestone.entity).where(
                Milestone.org_id == org_id, Milestone.id.in_(ids)
            )
        )
    }
    for path, condition in walk(definition):
        if not isinstance(condition, MilestoneCondition):
            continue
        field = f"definition.{path}.milestone_id"
        milestone = found.get(condition.milestone_id)
        if milestone is None:
            raise InvalidInput(field, f"no milestone {condition.milestone_id!r} in this organisation")
        if milestone.entity != entity:
            raise InvalidInput(
                field,
                f"milestone {milestone.name!r} is evaluated per {milestone.entity}; this {what} is over {_plural(entity)}",
            )


def _check_tags(session: Session, org_id: str, entity: str, definition: ConditionGroup, what: str) -> None:
    ids = referenced_tags(definition)
    if not ids:
        return
    found = {
        row.id: row
        for row in session.execute(
            select(SmartTag.id, SmartTag.name, SmartTag.entity).where(SmartTag.org_id == org_id, SmartTag.id.in_(ids))
        )
    }
    for path, condition in walk(definition):
        if not isinstance(condition, TagCondition):
            continue
        field = f"definition.{path}.tag_id"
        used = found.get(condition.tag_id)
        if used is None:
            raise InvalidInput(field, f"no smart tag {condition.tag_id!r} in this organisation")
        if used.entity != entity:
            raise InvalidInput(
                field,
                f"smart tag {used.name!r} is carried by {_plural(used.entity)}; this {what} is over {_plural(entity)}",
            )


def _cycle_through(session: Session, org_id: str, tag_id: str, uses_now: set[str]) -> list[str] | None:
    """A cycle through ``tag_id`` if it used ``uses_now``. Loads only the tags reachable
    from it, one query per level."""
    uses: dict[str, set[str]] = {tag_id: uses_now}
    frontier = set(uses_now) - set(uses)
    while frontier:
        rows = session.execute(
            select(SmartTag.id, SmartTag.definition).where(SmartTag.org_id == org_id, SmartTag.id.in_(frontier))
        )
        for found_id, text in rows:
            uses[found_id] = referenced_tags(parse_definition(text))
        next_frontier = {used for tid in frontier for used in uses.get(tid, ())}
        frontier = next_frontier - set(uses)
    return find_cycle(uses, tag_id)


def _tag_names(session: Session, org_id: str, ids: Iterable[str]) -> dict[str, str]:
    rows = session.execute(
        select(SmartTag.id, SmartTag.name).where(SmartTag.org_id == org_id, SmartTag.id.in_(set(ids)))
    )
    return dict(rows.tuples().all())


# --- Who uses what ---------------------------------------------------------------------------


def _users_of(session: Session, org_id: str, needle: str, uses) -> list[str]:
    """Labels of the tags and views whose definitions satisfy ``uses`` (a function of the
    parsed definition); the SQL only narrows by the id's text, the parse decides."""
    labels: list[str] = []
    tags = session.execute(
        select(SmartTag.name, SmartTag.definition)
        .where(SmartTag.org_id == org_id, SmartTag.definition.contains(needle, autoescape=True))
        .order_by(SmartTag.name, SmartTag.id)
    )
    labels += [f"smart tag {name!r}" for name, text in tags if uses(parse_definition(text))]
    views = session.execute(
        select(View.name, View.visibility, View.definition, User.name)
        .outerjoin(User, User.id == View.owner_user_id)
        .where(View.org_id == org_id, View.definition.contains(needle, autoescape=True))
        .order_by(View.name, View.id)
    )
    for name, visibility, text, owner in views:
        if uses(parse_definition(text)):
            labels.append(f"view {name!r}" if visibility == Visibility.team.value else f"{owner}'s view {name!r}")
    return labels


def milestone_references(session: Session, org_id: str, milestone_id: str) -> list[str]:
    """Labels of the smart tags and views using a milestone, such as ``smart tag 'Hot'``,
    ``view 'Trials'`` or ``Mia's view 'Mine'`` (a personal view), sorted; empty when
    unused. The milestones service refuses to delete a milestone in use."""
    return _users_of(session, org_id, milestone_id, lambda d: milestone_id in referenced_milestones(d))


def tag_references(session: Session, org_id: str, tag_id: str) -> list[str]:
    """Labels (as ``milestone_references``) of the smart tags and views using a tag."""
    return _users_of(session, org_id, tag_id, lambda d: tag_id in referenced_tags(d))


# --- Smart tags ------------------------------------------------------------------------------


def _member_counts(session: Session, org_id: str, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = session.execute(
        select(TagMemberRow.tag_id, func.count())
        .where(TagMemberRow.org_id == org_id, TagMemberRow.tag_id.in_(ids))
        .group_by(TagMemberRow.tag_id)
    )
    return dict(rows.tuples().all())


def to_out(tag: SmartTag, member_count: int = 0) -> TagOut:
    return TagOut(
        id=tag.id,
        name=tag.name,
        entity=EntityType(tag.entity),
        definition=parse_definition(tag.definition),
        member_count=member_count,
        created_at=tag.created_at,
        updated_at=tag.updated_at,
    )


def describe(session: Session, tag: SmartTag) -> TagOut:
    return to_out(tag, _member_counts(session, tag.org_id, [tag.id]).get(tag.id, 0))


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("name", "must not be empty")
    return name


def _flush_unique(session: Session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a smart tag named {name!r} already exists in this organisation", field="name") from None


def create_tag(session: Session, org_id: str, body: TagCreate) -> SmartTag:
    name = _clean_name(body.name)
    lock_definitions(session, org_id)
    check_definition(session, org_id, body.entity.value, body.definition, "smart tag")
    tag = SmartTag(
        id=new_id("tag"),
        org_id=org_id,
        name=name,
        entity=body.entity.value,
        definition=dump_definition(body.definition),
    )
    session.add(tag)
    _flush_unique(session, name)
    return tag


def get_tag(session: Session, org_id: str, tag_id: str) -> SmartTag:
    tag = session.get(SmartTag, tag_id)
    # Another organisation's tag is "not found", so ids never leak across tenants.
    if tag is None or tag.org_id != org_id:
        raise NotFound(f"no smart tag {tag_id!r} in this organisation")
    return tag


def list_tags(
    session: Session, org_id: str, limit: int, cursor: str | None, entity: EntityType | None = None
) -> tuple[list[TagOut], str | None]:
    """The organisation's smart tags by id (creation order)."""
    query = select(SmartTag).where(SmartTag.org_id == org_id)
    if entity is not None:
        query = query.where(SmartTag.entity == entity.value)
    rows, next_cursor = paginate(session, query, SmartTag.id, limit, cursor)
    counts = _member_counts(session, org_id, [r.id for r in rows])
    return [to_out(r, counts.get(r.id, 0)) for r in rows], next_cursor


def update_tag(session: Session, org_id: str, tag_id: str, body: TagUpdate) -> SmartTag:
    """Rename and/or redefine; the new definition must not make the tag use itself."""
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "definition"):
        if field in changes and changes[field] is None:
            raise InvalidInput(field, "must not be null")
    if body.definition is not None:
        lock_definitions(session, org_id)
    tag = get_tag(session, org_id, tag_id)
    if body.name is not None:
        tag.name = _clean_name(body.name)
    if body.definition is not None:
        check_definition(session, org_id, tag.entity, body.definition, "smart tag", tag=tag)
        tag.definition = dump_definition(body.definition)
    tag.updated_at = utcnow()
    _flush_unique(session, tag.name)
    return tag


def delete_tag(session: Session, org_id: str, tag_id: str) -> None:
    """Refused (409, naming them) while other smart tags or views use the tag."""
    lock_definitions(session, org_id)
    tag = get_tag(session, org_id, tag_id)
    users = tag_references(session, org_id, tag.id)
    if users:
        raise Conflict(f"smart tag {tag.name!r} is used by: {', '.join(users)}; change those first")
    session.execute(delete(TagMemberRow).where(TagMemberRow.org_id == org_id, TagMemberRow.tag_id == tag.id))
    session.delete(tag)
    session.flush()
