"""The one JSON error shape every route answers with, and the HTTP status of each refusal.

Business rules raise the domain errors of ``variance.workspace.errors``; only the two errors
that exist because of HTTP itself (a body too large, Pub/Sub unavailable) are defined here.
"""

from __future__ import annotations

from pydantic import BaseModel

from variance.workspace.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized, WorkspaceError

__all__ = [
    "Conflict",
    "ErrorDetail",
    "ErrorResponse",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "Unavailable",
    "WorkspaceError",
    "error_body",
    "responses",
    "status_of",
]


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    rule: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class PayloadTooLarge(WorkspaceError):
    code = "too_large"


class Unavailable(WorkspaceError):
    code = "unavailable"


_STATUS: dict[type[WorkspaceError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    Unavailable: 503,
}

_DESCRIBED = {
    400: "The request breaks a rule; `error.field` and `error.rule` say which",
    401: "Missing or wrong credentials",
    403: "The token's user may not do this",
    404: "No such resource in the token's organisation",
    409: "Conflicts with an existing resource",
    413: "The body exceeds a size limit; `error.message` says which",
    422: "The request does not match the documented schema",
    503: "A dependency (Pub/Sub) is unavailable; retry later",
}


def status_of(error: type[WorkspaceError]) -> int:
    """The HTTP status for a refusal, by its nearest mapped class (400 for any other)."""
    for klass in error.__mro__:
        if klass in _STATUS:
            return _STATUS[klass]
    return 400


def error_body(error: WorkspaceError) -> dict:
    detail = ErrorDetail(code=error.code, message=error.message, field=error.field, rule=error.rule)
    return ErrorResponse(error=detail).model_dump(exclude_none=True)


def responses(*errors: type[WorkspaceError]) -> dict[int | str, dict]:
    """OpenAPI ``responses=`` entries for the errors a route can answer with."""
    out: dict[int | str, dict] = {}
    for error in errors:
        status = status_of(error)
        out[status] = {"model": ErrorResponse, "description": _DESCRIBED[status]}
    return out
