"""What a business rule can refuse, in the product's words; ``api/`` maps each to an HTTP status.

The CLI shows the same errors as one line each, so a rule is written once and reads the same
to a script and to a person.
"""

from __future__ import annotations


class WorkspaceError(Exception):
    """A refusal the caller can act on: ``field`` and ``rule`` name what to change."""

    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.rule = rule


class InvalidInput(WorkspaceError):
    code = "invalid"

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field}: {rule}", field=field, rule=rule)


class Unauthorized(WorkspaceError):
    code = "unauthorized"


class Forbidden(WorkspaceError):
    code = "forbidden"


class NotFound(WorkspaceError):
    code = "not_found"


class Conflict(WorkspaceError):
    code = "conflict"
