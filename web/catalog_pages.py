"""Event Types, Milestones, Smart Tags and Views: what arrived, what counts, and the one
builder for tags and views (an AND or OR group of trait, milestone and tag conditions).

The builder posts a tree of AND/OR groups and rows (``web/builder_form.py``); it becomes the
definition JSON the API takes, and the API's own validation decides, so the page shows the
same field and reason. A saved view or tag opens in the same builder to be changed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from variance.core.filters import FilterOp
from variance.core.tag_tree import MAX_DEPTH
from variance.core.vocabulary import EntityType, StreamType, Visibility
from variance.web import builder_form
from variance.web.deps import DbSession, Posting, User
from variance.web.layout import chrome
from variance.web.render import PageRoute, page, status_of, validated
from variance.workspace import entities, milestones, tags, view_members, views
from variance.workspace import streams as stream_service
from variance.workspace.errors import Forbidden, InvalidInput, WorkspaceError
from variance.workspace.principals import require_admin
from variance.workspace.schemas.entities import EntitySort
from variance.workspace.schemas.milestones import MilestoneCreate
from variance.workspace.schemas.streams import StreamUpdate
from variance.workspace.schemas.tags import TagCreate, TagUpdate, ViewCreate, ViewUpdate

router = APIRouter(route_class=PageRoute, include_in_schema=False)


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


async def _posted(request: Request) -> FormData:
    return await request.form()  # parsed once per request (the CSRF check read it already)


Posted = Annotated[FormData, Depends(_posted)]


def _field(form: FormData, name: str, default: str = "", limit: int = 400) -> str:
    value = form.get(name, default)
    return value[:limit] if isinstance(value, str) else default


def _builder_context(session, user, entity: str, draft: builder_form.DraftGroup | None = None, **extra):
    org = user.principal.org_id
    tag_list, _ = tags.list_tags(session, org, 200, None)
    milestone_list, _ = milestones.list_milestones(session, org, 200, None)
    what = extra["what"]
    extra.setdefault("action", f"/{what}s")
    return chrome(
        session,
        user,
        entity=entity,
        entity_types=[e.value for e in EntityType],
        filter_ops=[op.value for op in FilterOp],
        all_tags=tag_list,
        all_milestones=milestone_list,
        draft=draft or builder_form.blank(),
        dom_id=builder_form.dom_id,
        number=builder_form.number,
        depth_of=builder_form.depth_of,
        max_depth=MAX_DEPTH,
        **extra,
    )


def _listed(session, user, what: str) -> list:
    if what == "tag":
        return tags.list_tags(session, user.principal.org_id, 200, None)[0]
    return views.list_views(session, user.principal, 200, None)[0]


@router.get("/tags")
def tags_page(request: Request, user: User, session: DbSession, entity: str = EntityType.account.value):
    context = _builder_context(session, user, entity, items=_listed(session, user, "tag"), what="tag", form={})
    return page(request, "builder.html", context)


@router.get("/views")
def views_page(request: Request, user: User, session: DbSession, entity: str = EntityType.account.value):
    context = _builder_context(session, user, entity, items=_listed(session, user, "view"), what="view", form={})
    return page(request, "builder.html", context)


def _edited(request: Request, context: dict, draft: builder_form.DraftGroup, edit: str):
    """The builder again with one group or row added or removed, nothing saved: only the
    conditions for an htmx swap, else the whole page (without JavaScript)."""
    try:
        focus = builder_form.apply_edit(draft, edit)
    except InvalidInput as exc:
        focus, context["edit_error"] = "", exc
    done = {"type": "Condition {} added", "match": "Group {} added", "add": "Removed"}
    key, _, part = focus.rpartition(".")
    context.update(draft=draft, focus=focus, edit_status=done.get(part, "").format(builder_form.number(key)))
    block = "conditions" if request.headers.get("HX-Request") else None
    return page(request, "builder.html", context, block=block)


def _save(request, user, session, what: str, form: FormData, editing: Any = None):
    """Create (or, with ``editing``, change) a smart tag or view from the posted builder."""
    name = _field(form, "name")
    entity = editing.entity.value if editing else _field(form, "entity", EntityType.account.value, 20)
    visibility = _field(form, "visibility", Visibility.personal.value, 20)
    action = f"/{what}s/{editing.id}/edit" if editing else f"/{what}s"
    context: dict[str, Any] = {"what": what, "form": {"name": name, "entity": entity, "visibility": visibility}}
    context["action"] = action
    if editing:
        context.update(editing=editing, back=_back(what, editing))
    else:
        context["items"] = _listed(session, user, what)
    draft = None
    try:
        draft = builder_form.parse(form)
        edit = form.get("edit")
        if isinstance(edit, str) and edit:
            return _edited(request, _builder_context(session, user, entity, **context), draft, edit)
        definition = builder_form.to_definition(draft)
        with session.begin_nested():
            if what == "tag":
                require_admin(user.principal)
                if editing:
                    tags.update_tag(
                        session,
                        user.principal.org_id,
                        editing.id,
                        validated(TagUpdate, {"name": name, "definition": definition}),
                    )
                else:
                    tags.create_tag(
                        session,
                        user.principal.org_id,
                        validated(TagCreate, {"name": name, "entity": entity, "definition": definition}),
                    )
                return RedirectResponse("/tags", status_code=303)
            if editing:
                changed = validated(ViewUpdate, {"name": name, "definition": definition})
                view = views.update_view(session, user.principal, editing.id, changed)
            else:
                body = validated(
                    ViewCreate, {"name": name, "entity": entity, "visibility": visibility, "definition": definition}
                )
                view = views.create_view(session, user.principal, body)
            return RedirectResponse(f"/views/{view.id}", status_code=303)
    except WorkspaceError as exc:
        context.update(error=exc, draft=draft)
        return page(
            request, "builder.html", _builder_context(session, user, entity, **context), status_code=status_of(exc)
        )


def _back(what: str, editing: Any) -> str:
    return "/tags" if what == "tag" else f"/views/{editing.id}"


@router.post("/tags")
def create_tag(request: Request, user: Posting, session: DbSession, form: Posted):
    return _save(request, user, session, "tag", form)


@router.post("/views")
def create_view(request: Request, user: Posting, session: DbSession, form: Posted):
    return _save(request, user, session, "view", form)


def _writable_view(session, user, view_id: str):
    view = views.describe(session, user.principal, views.get_visible(session, user.principal, view_id))
    if view.visibility == Visibility.team and not user.principal.is_admin:
        raise Forbidden("only admins change team views")
    return view


def _edit_page(request, session, user, what: str, editing):
    context: dict[str, Any] = {"what": what, "editing": editing, "back": _back(what, editing)}
    context["form"] = {"name": editing.name}
    context["action"] = f"/{what}s/{editing.id}/edit"
    try:
        draft = builder_form.draft_of(editing.definition)
    except builder_form.NotEditable as exc:
        draft, context["not_editable"] = None, str(exc)
    return page(request, "builder.html", _builder_context(session, user, editing.entity.value, draft, **context))


@router.get("/views/{view_id}/edit")
def edit_view_page(request: Request, view_id: str, user: User, session: DbSession):
    """The builder with the view's definition, nested groups and all."""
    return _edit_page(request, session, user, "view", _writable_view(session, user, view_id))


@router.post("/views/{view_id}/edit")
def edit_view(request: Request, view_id: str, user: Posting, session: DbSession, form: Posted):
    return _save(request, user, session, "view", form, _writable_view(session, user, view_id))


@router.get("/tags/{tag_id}/edit")
def edit_tag_page(request: Request, tag_id: str, user: User, session: DbSession):
    require_admin(user.principal)
    tag = tags.describe(session, tags.get_tag(session, user.principal.org_id, tag_id))
    return _edit_page(request, session, user, "tag", tag)


@router.post("/tags/{tag_id}/edit")
def edit_tag(request: Request, tag_id: str, user: Posting, session: DbSession, form: Posted):
    require_admin(user.principal)
    tag = tags.describe(session, tags.get_tag(session, user.principal.org_id, tag_id))
    return _save(request, user, session, "tag", form, tag)


@router.get("/views/{view_id}")
def view_page(request: Request, view_id: str, user: User, session: DbSession, cursor: str | None = None):
    view = views.describe(session, user.principal, views.get_visible(session, user.principal, view_id))
    members = view_members.view_members(session, user.principal, view_id, 50, cursor)
    return page(request, "view.html", chrome(session, user, view=view, members=members))
