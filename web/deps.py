"""What every page needs: a database transaction, the signed-in user, the CSRF check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from variance.web import sessions
from variance.web.render import SignInRequired
from variance.web.sessions import WebUser
from variance.workspace import org_settings
from variance.workspace.errors import Forbidden


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent."""
    with request.app.state.sessions() as session, session.begin():
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]


def signed_in(request: Request, session: DbSession) -> WebUser:
    user = sessions.current(session, request)
    if user is None:
        raise SignInRequired
    request.state.web_user = user
    request.state.time_zone = org_settings.time_zone_of(session, user.principal.org_id)
    return user


async def checked(request: Request, user: Annotated[WebUser, Depends(signed_in)]) -> WebUser:
    """The signed-in user of a state-changing request whose CSRF token matches the session's."""
    sent = request.headers.get(sessions.CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(sessions.CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sessions.csrf_ok(user, sent):
        raise Forbidden("this form has expired or did not come from this site: reload the page and try again")
    return user


def admin_only(user: Annotated[WebUser, Depends(signed_in)]) -> WebUser:
    if not user.principal.is_admin:
        raise Forbidden("only an admin of this organisation may open this page")
    return user


User = Annotated[WebUser, Depends(signed_in)]
Posting = Annotated[WebUser, Depends(checked)]
Admin = Annotated[WebUser, Depends(admin_only)]
