"""Views: saved filters over accounts or contacts, listed in each user's sidebar.

Who sees and changes a view, as for streams: a team view is visible to everyone in the
organisation and changed by admins; a personal view is visible to and changed by its
owner only (to anyone else, admins included, it does not exist: 404). Members create
personal views; admins create both kinds and may share a personal view of their own with
the team, or take a team view back as their own personal view.

Views may use smart tags, but nothing uses a view, so views never form cycles.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from variance.appdb.models import Favorite, View
from variance.appdb.types import utcnow
from variance.core.ids import new_id
from variance.core.tag_tree import dump_definition, parse_definition
from variance.core.vocabulary import EntityType, FavoriteTargetType, Visibility
from variance.workspace import favorites, keyset
from variance.workspace.errors import Forbidden, InvalidInput, NotFound
from variance.workspace.principals import Principal
from variance.workspace.schemas.tags import ViewCreate, ViewOut, ViewUpdate
from variance.workspace.tags import check_definition, lock_definitions
from variance.workspace.visibility import visible_views


def get_visible(session: Session, principal: Principal, view_id: str) -> View:
    view = session.scalar(select(View).where(View.id == view_id, visible_views(principal)))
    if view is None:
        raise NotFound(f"no view {view_id!r} visible to you in this organisation")
    return view


def _get_writable(session: Session, principal: Principal, view_id: str) -> View:
    view = get_visible(session, principal, view_id)
    if view.visibility == Visibility.team.value and not principal.is_admin:
        raise Forbidden("only admins change team views")
    return view


def to_out(view: View, favorite_position: int | None = None) -> ViewOut:
    return ViewOut(
        id=view.id,
        name=view.name,
        entity=EntityType(view.entity),
        visibility=Visibility(view.visibility),
        owner_user_id=view.owner_user_id,
        definition=parse_definition(view.definition),
        favorite_position=favorite_position,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


def describe(session: Session, principal: Principal, view: View) -> ViewOut:
    positions = favorites.favorite_positions(session, principal.user_id, FavoriteTargetType.view.value)
    return to_out(view, positions.get(view.id))


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("name", "must not be empty")
    return name


def create_view(session: Session, principal: Principal, body: ViewCreate) -> View:
    """A personal view (owned by the caller), or, for admins, a team view."""
    if body.visibility == Visibility.team and not principal.is_admin:
        raise Forbidden("only admins create team views")
    name = _clean_name(body.name)
    lock_definitions(session, principal.org_id)
    check_definition(session, principal.org_id, body.entity.value, body.definition, "view")
    view = View(
        id=new_id("viw"),
        org_id=principal.org_id,
        name=name,
        entity=body.entity.value,
        definition=dump_definition(body.definition),
        visibility=body.visibility.value,
        owner_user_id=principal.user_id if body.visibility == Visibility.personal else None,
    )
    session.add(view)
    session.flush()
    return view


def update_view(session: Session, principal: Principal, view_id: str, body: ViewUpdate) -> View:
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "visibility", "definition"):
        if field in changes and changes[field] is None:
            raise InvalidInput(field, "must not be null")
    view = _get_writable(session, principal, view_id)
    if body.visibility is not None and body.visibility.value != view.visibility:
        _change_visibility(session, principal, view, body.visibility)
    if body.name is not None:
        view.name = _clean_name(body.name)
    if body.definition is not None:
        lock_definitions(session, principal.org_id)
        check_definition(session, principal.org_id, view.entity, body.definition, "view")
        view.definition = dump_definition(body.definition)
    view.updated_at = utcnow()
    session.flush()
    return view


def _change_visibility(session: Session, principal: Principal, view: View, visibility: Visibility) -> None:
    if not principal.is_admin:
        raise Forbidden("only admins share views with the team")
    view.visibility = visibility.value
    if visibility == Visibility.team:
        view.owner_user_id = None
    else:
        # Taken back as the admin's own: nobody else sees it, so nobody else keeps it as a favorite.
        view.owner_user_id = principal.user_id
        favorites.forget_target(session, FavoriteTargetType.view.value, view.id, keep_user_id=principal.user_id)


def delete_view(session: Session, principal: Principal, view_id: str) -> None:
    view = _get_writable(session, principal, view_id)
    favorites.forget_target(session, FavoriteTargetType.view.value, view.id)
    session.delete(view)
    session.flush()


def _parse_cursor(values: list[Any]) -> list[Any]:
    bucket, position, view_id = values
    if not (
        type(bucket) is int
        and bucket in (0, 1)
        and type(position) is int
        and 0 <= position < 2**31
        and isinstance(view_id, str)
    ):
        raise InvalidInput("cursor", "is not a cursor returned by this list")
    return values


def list_views(
    session: Session, principal: Principal, limit: int, cursor: str | None, entity: EntityType | None = None
) -> tuple[list[ViewOut], str | None]:
    """The sidebar: the views the caller sees, favorites first in favorite order, then
    the others by id (creation order).

    The order is the key (0, favorite position, id) for favorites and (1, 0, id) for the
    rest, computed in SQL; the cursor is the last row's key, so pages stay stable while
    views are added or removed. Favorites reordered between two pages of one walk may
    be seen twice or not at all, as with any keyset over a changing key.
    """
    is_favorite = Favorite.id.is_not(None)
    bucket = case((is_favorite, 0), else_=1)
    position = func.coalesce(Favorite.position, 0)
    query = (
        select(View, bucket, position)
        .outerjoin(
            Favorite,
            (Favorite.user_id == principal.user_id)
            & (Favorite.target_type == FavoriteTargetType.view.value)
            & (Favorite.target_id == View.id),
        )
        .where(visible_views(principal))
    )
    if entity is not None:
        query = query.where(View.entity == entity.value)
    rows = session.execute(keyset.page(query, [bucket, position, View.id], False, limit, cursor, _parse_cursor)).all()
    page = rows[:limit]
    # Favorite positions as the favorites list numbers them (dense, views and streams together).
    positions = favorites.favorite_positions(session, principal.user_id, FavoriteTargetType.view.value)
    items = [to_out(view, positions.get(view.id)) for view, _, _ in page]
    next_cursor = None
    if len(rows) > limit:
        last_view, last_bucket, last_position = page[-1]
        next_cursor = keyset.encode((last_bucket, last_position, last_view.id))
    return items, next_cursor
