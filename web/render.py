"""Templates, and how a page answers when a rule refuses.

Jinja2 autoescapes every value (``select_autoescape`` for .html), so event-supplied text
(names, traits, properties) is inert wherever it is shown; nothing is marked safe. A
partial is a block of its page's template rendered alone (jinja2-fragments), so each
piece of HTML has one source.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from jinja2_fragments.fastapi import Jinja2Blocks
from pydantic import BaseModel, ValidationError

from variance.workspace import org_settings
from variance.workspace.errors import Forbidden, InvalidInput, NotFound, Unauthorized, WorkspaceError

HERE = Path(__file__).resolve().parent
templates = Jinja2Blocks(directory=str(HERE / "templates"))
M = TypeVar("M", bound=BaseModel)


# The signed-in organisation's time zone while :func:`page` renders: a context variable,
# not a template variable, because macros imported into a template do not see its context.
_TIME_ZONE: ContextVar[str] = ContextVar("time_zone", default=org_settings.DEFAULT_TIME_ZONE)


def _when(value: datetime | None) -> str:
    """A time in the organisation's time zone."""
    if value is None:
        return "never"
    local = value.astimezone(org_settings.zone(_TIME_ZONE.get()))
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "")


def _seen(value: datetime | None) -> str:
    """A time in the organisation's time zone, and "today", "yesterday" or "this week" by
    that zone's calendar."""
    shown = _when(value)
    relative = org_settings.relative_day(value, _TIME_ZONE.get()) if value is not None else None
    return f"{shown} ({relative})" if relative else shown


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


templates.env.filters["when"] = _when
templates.env.filters["seen"] = _seen
templates.env.filters["pretty"] = _pretty
templates.env.filters["urlpart"] = lambda value: quote(str(value), safe="")


class SignInRequired(Exception):
    """No live session: the page sends the browser to the sign-in form."""


def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200, block: str | None = None):
    """Render a page, or one block of it for an htmx swap, its times in the signed-in
    organisation's time zone."""
    time_zone = getattr(request.state, "time_zone", None) or org_settings.DEFAULT_TIME_ZONE
    context = {"request": request, "time_zone": time_zone, **context}
    token = _TIME_ZONE.set(time_zone)
    try:  # the response renders its template at once, here
        if block:
            return templates.TemplateResponse(request, name, context, status_code=status_code, block_name=block)
        return templates.TemplateResponse(request, name, context, status_code=status_code)
    finally:
        _TIME_ZONE.reset(token)


_STATUS = {InvalidInput: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404}


def status_of(error: WorkspaceError) -> int:
    for klass in type(error).__mro__:
        if klass in _STATUS:
            return _STATUS[klass]
    return 409 if error.code == "conflict" else 400


def validated(model: type[M], data: dict[str, Any]) -> M:
    """A request model built from form fields, its first schema violation as the same
    field + reason the API answers with."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "form"
        raise InvalidInput(field, str(first.get("msg", "is invalid")).removeprefix("Value error, ")) from None


class PageRoute(APIRoute):
    """A page's refusals become pages: a 404/403 page, or the sign-in form when nobody is
    signed in (htmx requests get ``HX-Redirect`` so the whole page moves)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                target = "/sign-in?next=" + quote(request.url.path, safe="/")
                if request.headers.get("HX-Request"):
                    return Response(status_code=204, headers={"HX-Redirect": target})
                return RedirectResponse(target, status_code=303)
            except WorkspaceError as exc:
                return page(
                    request,
                    "error.html",
                    {"error": exc, "status": status_of(exc), "user": None},  # a bare page: no sidebar to load
                    status_code=status_of(exc),
                )

        return route
