"""Dependencies shared by routes: the database session, the caller, the settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from variance.api.errors import Unauthorized
from variance.core.settings import Settings
from variance.workspace import principals
from variance.workspace.principals import Principal, authenticate_token


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    with request.app.state.sessions() as session, session.begin():
        yield session


# scope="function": the transaction commits before the response is sent. With FastAPI's default
# ("request") it committed after, so a client's very next request could miss what it had just
# been answered 201 for (about 1 in 100 immediate reads; tests/integration/test_read_after_write.py).
DbSession = Annotated[Session, Depends(get_session, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings)]


_bearer = HTTPBearer(auto_error=False, scheme_name="apiToken", description="An API token: `Bearer vtok_...`")


def get_principal(
    session: DbSession, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None:
        raise Unauthorized("a valid API token is required: send `Authorization: Bearer <token>`")
    return authenticate_token(session, credentials.credentials)


CurrentUser = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: CurrentUser) -> Principal:
    return principals.require_admin(principal)


AdminUser = Annotated[Principal, Depends(require_admin)]
