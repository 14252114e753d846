"""Event Types, Milestones, Smart Tags and Views: what arrived, what counts, and the one
builder for tags and views (an AND or OR group of trait, milestone and tag conditions).

The builder posts its rows as parallel lists (``cond_type``, ``cond_path``, ``cond_op``,
``cond_value``, ``cond_ref``); they become the definition JSON the API takes, and the
API's own validation decides, so the page shows the same field and reason."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from variance.core.filters import FilterOp
from variance.core.vocabulary import EntityType, StreamType, Visibility
from variance.web.deps import DbSession, Posting, User
from variance.web.layout import chrome
from variance.web.render import PageRoute, page, validated
from variance.workspace import entities, milestones, tags, view_members, views
from variance.workspace import streams as stream_service
from variance.workspace.errors import WorkspaceError
from variance.workspace.principals import require_admin
from variance.workspace.schemas.entities import EntitySort
from variance.workspace.schemas.milestones import MilestoneCreate
from variance.workspace.schemas.streams import StreamUpdate
from variance.workspace.schemas.tags import TagCreate, ViewCreate

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Rows = Annotated[list[str], Form()]


def _event_type_streams(session, user) -> list:
    """The Event Type streams the user may change: where the Follow dropdown can add a type."""
    mine, _ = stream_service.list_streams(session, user.principal, 200, None)
    return [
        s
        for s in mine
        if s.type == StreamType.event_type and (s.visibility == Visibility.personal or user.principal.is_admin)
    ]


@router.get("/event-types")
def event_types_page(request: Request, user: User, session: DbSession, cursor: str | None = None):
    items, next_cursor = entities.list_event_types(session, user.principal.org_id, None, None, 100, cursor)
    context = chrome(session, user, items=items, next_cursor=next_cursor, targets=_event_type_streams(session, user))
    return page(request, "event_types.html", context)


@router.post("/event-types/follow")
def follow_event_type(
    user: Posting,
    session: DbSession,
    stream_id: Annotated[str, Form(max_length=40)],
    event_type: Annotated[str, Form(max_length=1100)],
):
    """Add an event type to an existing Event Type stream (the Follow dropdown)."""
    stream = stream_service.describe(
        session, user.principal, stream_service.get_writable(session, user.principal, stream_id)
    )
    kind, _, name = event_type.partition(":")
    selectors = [sel.model_dump(mode="json") for sel in stream.selectors]
    wanted = {"kind": kind, "name": name or None}
    if not any(sel["kind"] == wanted["kind"] and sel["name"] == wanted["name"] for sel in selectors):
        selectors.append(wanted)
    stream_service.update_stream(session, user.principal, stream_id, validated(StreamUpdate, {"selectors": selectors}))
    return RedirectResponse(f"/streams/{stream_id}", status_code=303)


# --- Milestones ---------------------------------------------------------------------------


def _milestones_context(session, user, **extra):
    items, _ = milestones.list_milestones(session, user.principal.org_id, 200, None)
    catalog, _ = entities.list_event_types(session, user.principal.org_id, None, None, 200, None)
    return chrome(session, user, items=items, catalog=catalog, entity_types=[e.value for e in EntityType], **extra)


@router.get("/milestones")
def milestones_page(request: Request, user: User, session: DbSession):
    return page(request, "milestones.html", _milestones_context(session, user, form={}))


@router.post("/milestones")
def create_milestone(
    request: Request,
    user: Posting,
    session: DbSession,
    name: Annotated[str, Form(max_length=400)] = "",
    entity: Annotated[str, Form(max_length=20)] = EntityType.account.value,
    event_type: Annotated[str, Form(max_length=1100)] = "",
    threshold: Annotated[str, Form(max_length=20)] = "",
    window: Annotated[str, Form(max_length=20)] = "",
):
    require_admin(user.principal)
    form = {"name": name, "entity": entity, "event_type": event_type, "threshold": threshold, "window": window}
    kind, _, event_name = event_type.partition(":")
    try:
        body = validated(
            MilestoneCreate,
            {
                "name": name,
                "entity": entity,
                "event": {"kind": kind, "name": event_name or None},
                "threshold": threshold,
                "window": window or None,
            },
        )
        with session.begin_nested():
            milestone = milestones.create_milestone(session, user.principal.org_id, body)
    except WorkspaceError as exc:
        context = _milestones_context(session, user, form=form, error=exc)
        return page(request, "milestones.html", context, status_code=400)
    return RedirectResponse(f"/milestones/{milestone.id}", status_code=303)


@router.get("/milestones/{milestone_id}")
def milestone_page(request: Request, milestone_id: str, user: User, session: DbSession):
    """Who has it now, and since when (from each entity's current status)."""
    org = user.principal.org_id
    milestone = milestones.describe(session, milestones.get_milestone(session, org, milestone_id))
    lister = entities.list_accounts if milestone.entity == EntityType.account else entities.list_contacts
    who, _ = lister(session, org, milestone_id=milestone_id, sort=EntitySort.recent, limit=200)
    return page(request, "milestone.html", chrome(session, user, milestone=milestone, who=who))


# --- Smart tags and views: one builder ------------------------------------------------------


def _scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def definition_from_rows(
    match: str, types: list[str], paths: list[str], ops: list[str], values: list[str], refs: list[str]
) -> dict:
    """The builder's rows as a definition; empty rows (no type) are skipped."""
    conditions: list[dict] = []
    for index, kind in enumerate(types):
        path = paths[index].strip() if index < len(paths) else ""
        op = ops[index] if index < len(ops) else ""
        value = values[index].strip() if index < len(values) else ""
        ref = refs[index] if index < len(refs) else ""
        if kind == "trait":
            trait: dict[str, Any] = {"path": path, "op": op}
            if op in (FilterOp.IN.value, FilterOp.NOT_IN.value):
                trait["value"] = [_scalar(v.strip()) for v in value.split(",") if v.strip()]
            elif op not in (FilterOp.EXISTS.value, FilterOp.NOT_EXISTS.value):
                trait["value"] = _scalar(value)
            conditions.append({"type": "trait", "filter": trait})
        elif kind == "milestone":
            conditions.append({"type": "milestone", "milestone_id": ref, "status": op or "achieved"})
        elif kind == "tag":
            conditions.append({"type": "tag", "tag_id": ref, "has": op != "has_not"})
    return {"type": "group", "match": match, "conditions": conditions}


def _builder_context(session, user, entity: str, **extra):
    org = user.principal.org_id
    tag_list, _ = tags.list_tags(session, org, 200, None)
    milestone_list, _ = milestones.list_milestones(session, org, 200, None)
    return chrome(
        session,
        user,
        entity=entity,
        entity_types=[e.value for e in EntityType],
        filter_ops=[op.value for op in FilterOp],
        all_tags=tag_list,
        all_milestones=milestone_list,
        rows=range(3),
        **extra,
    )


@router.get("/tags")
def tags_page(request: Request, user: User, session: DbSession, entity: str = EntityType.account.value):
    items, _ = tags.list_tags(session, user.principal.org_id, 200, None)
    context = _builder_context(session, user, entity, items=items, what="tag", form={})
    return page(request, "builder.html", context)


@router.get("/views")
def views_page(request: Request, user: User, session: DbSession, entity: str = EntityType.account.value):
    items, _ = views.list_views(session, user.principal, 200, None)
    context = _builder_context(session, user, entity, items=items, what="view", form={})
    return page(request, "builder.html", context)


def _save(request, user, session, what: str, name, entity, visibility, match, types, paths, ops, values, refs):
    definition = definition_from_rows(match, types, paths, ops, values, refs)
    form = {"name": name, "entity": entity, "visibility": visibility, "match": match}
    try:
        with session.begin_nested():
            if what == "tag":
                require_admin(user.principal)
                body = validated(TagCreate, {"name": name, "entity": entity, "definition": definition})
                tags.create_tag(session, user.principal.org_id, body)
                return RedirectResponse("/tags", status_code=303)
            body = validated(
                ViewCreate, {"name": name, "entity": entity, "visibility": visibility, "definition": definition}
            )
            view = views.create_view(session, user.principal, body)
            return RedirectResponse(f"/views/{view.id}", status_code=303)
    except WorkspaceError as exc:
        if what == "tag":
            items, _ = tags.list_tags(session, user.principal.org_id, 200, None)
        else:
            items, _ = views.list_views(session, user.principal, 200, None)
        context = _builder_context(session, user, entity, items=items, what=what, form=form, error=exc)
        return page(request, "builder.html", context, status_code=400)


@router.post("/tags")
def create_tag(
    request: Request,
    user: Posting,
    session: DbSession,
    name: Annotated[str, Form(max_length=400)] = "",
    entity: Annotated[str, Form(max_length=20)] = EntityType.account.value,
    match: Annotated[str, Form(max_length=10)] = "all",
    cond_type: Rows = [],  # noqa: B006 - FastAPI copies defaults
    cond_path: Rows = [],  # noqa: B006
    cond_op: Rows = [],  # noqa: B006
    cond_value: Rows = [],  # noqa: B006
    cond_ref: Rows = [],  # noqa: B006
):
    return _save(
        request, user, session, "tag", name, entity, "team", match, cond_type, cond_path, cond_op, cond_value, cond_ref
    )


@router.post("/views")
def create_view(
    request: Request,
    user: Posting,
    session: DbSession,
    name: Annotated[str, Form(max_length=400)] = "",
    entity: Annotated[str, Form(max_length=20)] = EntityType.account.value,
    visibility: Annotated[str, Form(max_length=20)] = Visibility.personal.value,
    match: Annotated[str, Form(max_length=10)] = "all",
    cond_type: Rows = [],  # noqa: B006
    cond_path: Rows = [],  # noqa: B006
    cond_op: Rows = [],  # noqa: B006
    cond_value: Rows = [],  # noqa: B006
    cond_ref: Rows = [],  # noqa: B006
):
    return _save(
        request,
        user,
        session,
        "view",
        name,
        entity,
        visibility,
        match,
        cond_type,
        cond_path,
        cond_op,
        cond_value,
        cond_ref,
    )


@router.get("/views/{view_id}")
def view_page(request: Request, view_id: str, user: User, session: DbSession, cursor: str | None = None):
    view = views.describe(session, user.principal, views.get_visible(session, user.principal, view_id))
    members = view_members.view_members(session, user.principal, view_id, 50, cursor)
    return page(request, "view.html", chrome(session, user, view=view, members=members))
