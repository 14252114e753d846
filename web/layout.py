"""What every signed-in page shows around its content: who you are, the main navigation,
your favorites at the top of the left column and your views below."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from variance.web.sessions import WebUser
from variance.workspace import favorites, users, views


def chrome(session: Session, user: WebUser, **context: Any) -> dict[str, Any]:
    principal = user.principal
    me = users.to_out(session, users.get_user(session, principal.org_id, principal.user_id))
    favorite_list, _ = favorites.list_favorites(session, principal, 50, None)
    view_list, _ = views.list_views(session, principal, 50, None)
    return {
        "user": user,
        "me": me,
        "is_admin": principal.is_admin,
        "csrf": user.csrf_token,
        "favorite_list": favorite_list,
        "sidebar_views": view_list,
        **context,
    }
