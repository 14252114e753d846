"""Errors every route can raise, and the one JSON shape they all answer with."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    rule: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.rule = rule

    def body(self) -> dict:
        return ErrorResponse(
            error=ErrorDetail(code=self.code, message=self.message, field=self.field, rule=self.rule)
        ).model_dump(exclude_none=True)


class InvalidInput(ApiError):
    status = 400
    code = "invalid"

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field}: {rule}", field=field, rule=rule)


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "too_large"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"


def responses(*errors: type[ApiError]) -> dict[int | str, dict]:
    """OpenAPI ``responses=`` entries for the errors a route can answer with."""
    described = {
        400: "The request breaks a rule; `error.field` and `error.rule` say which",
        401: "Missing or wrong credentials",
        403: "The token's user may not do this",
        404: "No such resource in the token's organisation",
        409: "Conflicts with an existing resource",
        413: "The body exceeds a size limit; `error.message` says which",
        422: "The request does not match the documented schema",
        503: "A dependency (Pub/Sub) is unavailable; retry later",
    }
    out: dict[int | str, dict] = {}
    for error in errors:
        out[error.status] = {"model": ErrorResponse, "description": described[error.status]}
    return out
