"""Favorites: each user's own ordered list of views and streams, shown above everything
else in the sidebar.

One list per user holds views and streams together; a favorite's position is its index
in that list (0 is the top). Stored positions are kept dense (0..n-1) by every change made
here; readers still order by (position, id) and number the result, so a gap left by
someone deleting rows directly cannot show. A user may favorite only what they can see
(a view or stream of their organisation that is team-wide or their own), at most
``MAX_FAVORITES`` things. Changes to one user's list lock that user's row, so two
concurrent changes cannot interleave their renumbering.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from variance.appdb.models import Favorite, Stream, User, View
from variance.core.ids import new_id
from variance.core.vocabulary import FavoriteTargetType
from variance.workspace import keyset
from variance.workspace.errors import Conflict, InvalidInput, NotFound
from variance.workspace.principals import Principal
from variance.workspace.schemas.tags import FavoriteList, FavoriteOrder, FavoriteOut, FavoriteSet
from variance.workspace.visibility import visible_streams, visible_views

MAX_FAVORITES = 200


def _ordered(session: Session, user_id: str) -> list[Favorite]:
    return list(
        session.scalars(select(Favorite).where(Favorite.user_id == user_id).order_by(Favorite.position, Favorite.id))
    )


def favorite_positions(session: Session, user_id: str, target_type: str) -> dict[str, int]:
    """Target id -> position (0 = top) of the user's favorites of one type (``"view"`` or
    ``"stream"``), numbered among all their favorites. For lists that show favorites first:
    sort favorites by this position, the rest after them."""
    return {
        favorite.target_id: index
        for index, favorite in enumerate(_ordered(session, user_id))
        if favorite.target_type == target_type
    }


def _visible_names(session: Session, principal: Principal, targets: Sequence[tuple[str, str]]) -> dict:
    """(target type, id) -> name for the targets the principal can see."""
    names: dict[tuple[str, str], str] = {}
    view_ids = [i for t, i in targets if t == FavoriteTargetType.view.value]
    stream_ids = [i for t, i in targets if t == FavoriteTargetType.stream.value]
    if view_ids:
        rows = session.execute(select(View.id, View.name).where(View.id.in_(view_ids), visible_views(principal)))
        names.update(((FavoriteTargetType.view.value, i), n) for i, n in rows)
    if stream_ids:
        rows = session.execute(
            select(Stream.id, Stream.name).where(Stream.id.in_(stream_ids), visible_streams(principal))
        )
        names.update(((FavoriteTargetType.stream.value, i), n) for i, n in rows)
    return names


def _visible_list(session: Session, principal: Principal) -> list[tuple[Favorite, str]]:
    """The user's favorites in order, each with its target's name, leaving out any whose
    target they can no longer see."""
    rows = _ordered(session, principal.user_id)
    names = _visible_names(session, principal, [(f.target_type, f.target_id) for f in rows])
    return [(f, names[(f.target_type, f.target_id)]) for f in rows if (f.target_type, f.target_id) in names]


def _out(favorite: Favorite, name: str, position: int) -> FavoriteOut:
    return FavoriteOut(
        target_type=FavoriteTargetType(favorite.target_type),
        target_id=favorite.target_id,
        name=name,
        position=position,
        created_at=favorite.created_at,
    )


def _label(target_type: str, target_id: str) -> str:
    return f"{target_type} {target_id!r}"


def _parse_cursor(values: list[Any]) -> list[Any]:
    position, favorite_id = values
    if type(position) is not int or not isinstance(favorite_id, str):
        raise InvalidInput("cursor", "is not a cursor returned by this list")
    return values


def list_favorites(
    session: Session, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[FavoriteOut], str | None]:
    """The caller's favorites, top first. A user has at most ``MAX_FAVORITES``, so the
    list is read whole and cut into pages; the cursor is the last item's stored
    (position, id)."""
    listed = _visible_list(session, principal)
    numbered = [(index, favorite, name) for index, (favorite, name) in enumerate(listed)]
    if cursor:
        after = _parse_cursor(keyset.decode(cursor, 2))
        numbered = [n for n in numbered if [n[1].position, n[1].id] > after]
    page = numbered[:limit]
    next_cursor = keyset.encode((page[-1][1].position, page[-1][1].id)) if len(numbered) > limit else None
    return [_out(favorite, name, index) for index, favorite, name in page], next_cursor


def _lock_user(session: Session, user_id: str) -> None:
    session.execute(select(User.id).where(User.id == user_id).with_for_update())


def _renumber(favorites: list[Favorite]) -> None:
    for index, favorite in enumerate(favorites):
        if favorite.position != index:
            favorite.position = index


def set_favorite(session: Session, principal: Principal, body: FavoriteSet) -> FavoriteOut:
    """Favorite a view or stream at ``position`` (default: the end), or move it there if
    it already is one (without a position it stays where it is)."""
    target = (body.target_type.value, body.target_id)
    name = _visible_names(session, principal, [target]).get(target)
    if name is None:
        raise NotFound(f"no {body.target_type.value} {body.target_id!r} visible to you in this organisation")
    _lock_user(session, principal.user_id)
    favorites = _ordered(session, principal.user_id)
    current = next((f for f in favorites if (f.target_type, f.target_id) == target), None)
    if current is None:
        if len(favorites) >= MAX_FAVORITES:
            raise Conflict(f"you already have {MAX_FAVORITES} favorites, the most allowed; remove one first")
        current = Favorite(
            id=new_id("fav"),
            org_id=principal.org_id,
            user_id=principal.user_id,
            target_type=target[0],
            target_id=target[1],
            position=len(favorites),
        )
        session.add(current)
        favorites.append(current)
    if body.position is not None:
        favorites.remove(current)
        favorites.insert(min(body.position, len(favorites)), current)
    _renumber(favorites)
    session.flush()
    position = next(i for i, (f, _) in enumerate(_visible_list(session, principal)) if f is current)
    return _out(current, name, position)


def remove_favorite(session: Session, principal: Principal, target_type: FavoriteTargetType, target_id: str) -> None:
    _lock_user(session, principal.user_id)
    favorites = _ordered(session, principal.user_id)
    current = next((f for f in favorites if (f.target_type, f.target_id) == (target_type.value, target_id)), None)
    if current is None:
        raise NotFound(f"{_label(target_type.value, target_id)} is not among your favorites")
    favorites.remove(current)
    session.delete(current)
    _renumber(favorites)
    session.flush()


def reorder_favorites(session: Session, principal: Principal, body: FavoriteOrder) -> FavoriteList:
    """Put every favorite in the given order; the list must name each exactly once."""
    _lock_user(session, principal.user_id)
    listed = {(f.target_type, f.target_id): f for f, _ in _visible_list(session, principal)}
    ordered: dict[tuple[str, str], Favorite] = {}
    for index, item in enumerate(body.items):
        key = (item.target_type.value, item.target_id)
        if key not in listed:
            raise InvalidInput(f"items[{index}]", f"{_label(*key)} is not among your favorites")
        if key in ordered:
            raise InvalidInput(f"items[{index}]", f"{_label(*key)} is listed twice")
        ordered[key] = listed[key]
    missing = [_label(*key) for key in listed if key not in ordered]
    if missing:
        raise InvalidInput("items", f"must list every favorite; missing: {', '.join(missing)}")
    hidden = [f for f in _ordered(session, principal.user_id) if (f.target_type, f.target_id) not in listed]
    _renumber([*ordered.values(), *hidden])
    session.flush()
    return FavoriteList(items=[_out(f, name, i) for i, (f, name) in enumerate(_visible_list(session, principal))])


def forget_target(session: Session, target_type: str, target_id: str, keep_user_id: str | None = None) -> None:
    """Remove a view or stream from everyone's favorites (but ``keep_user_id``'s), closing
    the gap each removal leaves; for a target being deleted or hidden."""
    query = select(Favorite.user_id, Favorite.position).where(
        Favorite.target_type == target_type, Favorite.target_id == target_id
    )
    if keep_user_id is not None:
        query = query.where(Favorite.user_id != keep_user_id)
    for user_id, position in session.execute(query).all():
        session.execute(
            delete(Favorite).where(
                Favorite.user_id == user_id, Favorite.target_type == target_type, Favorite.target_id == target_id
            )
        )
        session.execute(
            update(Favorite)
            .where(Favorite.user_id == user_id, Favorite.position > position)
            .values(position=Favorite.position - 1)
        )
