"""Mounting the web app into the API's FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from variance.web import admin_pages, auth_pages, catalog_pages, entity_pages, stream_pages
from variance.web.render import HERE

VENDOR_HINT = "run `make install`: it installs htmx into web/static/vendor/ from the npm registry"


def mount(app: FastAPI) -> None:
    """Pages under ``/`` and static files under ``/static``. Include after the API's
    routers: every API path is under ``/v1``, so the two never compete."""
    for router in (
        auth_pages.router,
        stream_pages.router,
        entity_pages.router,
        catalog_pages.router,
        admin_pages.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
