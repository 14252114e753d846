"""The FastAPI application: wiring of settings, database, publisher and routes."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from variance import __version__
from variance.api.errors import ErrorDetail, ErrorResponse, WorkspaceError, error_body, status_of
from variance.api.ingest.auth import SecretCache
from variance.api.responses import JsonResponse
from variance.api.routes import (
    auth,
    connections,
    entities,
    favorites,
    feeds,
    health,
    ingest,
    milestones,
    organisation,
    slack,
    streams,
    tags,
    timelines,
    users,
    views,
)
from variance.appdb import stamps
from variance.appdb.session import make_engine, session_factory
from variance.clients.pubsub import EventPublisher, PublishUnavailable
from variance.core.bus import BusMessage
from variance.core.settings import Settings
from variance.web import app as web_app
from variance.workspace.connections import authenticate_secret

log = logging.getLogger(__name__)


class Publisher(Protocol):
    async def publish(self, messages: list[BusMessage]) -> None: ...
    def ensure_topic(self) -> bool: ...
    def close(self) -> None: ...


class DiscardingPublisher:
    """Accepts and drops everything: only for the ingestion benchmark's reference run,
    which measures the API without Pub/Sub. Never used by default."""

    async def publish(self, messages: list[BusMessage]) -> None:
        return None

    def ensure_topic(self) -> bool:
        return False

    def close(self) -> None:
        return None


def _ensure_topic(publisher: Publisher) -> None:
    try:
        publisher.ensure_topic()
    except Exception as exc:
        log.warning("could not create the Pub/Sub topic and subscription yet (%s); will retry on publish", exc)


class EmulatorPublisher:
    """Locally, the emulator forgets its topics and subscriptions when it restarts. The
    publisher recreates both when a publish finds the topic gone, but the pipeline may have
    recreated the topic first, without its subscription yet: so after any failed publish
    (the emulator went away) the next one first makes sure both exist. Nothing confirmed
    can then fall into a topic without the pipeline's subscription. Not on Google Cloud,
    where Terraform owns both."""

    def __init__(self, inner: EventPublisher, timeout_s: float):
        self._inner = inner
        self._timeout = timeout_s
        self._verified = False
        self._verifying: asyncio.Future | None = None

    async def publish(self, messages: list[BusMessage]) -> None:
        if not self._verified:
            await self._verify()
        try:
            await self._inner.publish(messages)
        except Exception:
            self._verified = False
            raise

    async def _verify(self) -> None:
        """One check at a time, shared by the requests that wait for it; each waits at most
        the publish timeout, so the API still answers 503 within seconds."""
        if self._verifying is None:
            self._verifying = asyncio.ensure_future(asyncio.to_thread(self.ensure_topic))
            self._verifying.add_done_callback(self._verified_done)
        try:
            await asyncio.wait_for(asyncio.shield(self._verifying), timeout=self._timeout)
        except Exception as exc:
            raise PublishUnavailable(f"Pub/Sub is not reachable ({type(exc).__name__})") from None

    def _verified_done(self, done: asyncio.Future) -> None:
        self._verifying = None
        if not done.cancelled():
            done.exception()  # retrieved: a waiter that timed out no longer looks at it

    def ensure_topic(self) -> bool:
        created = self._inner.ensure_topic()  # the topic, then the pipeline's subscription
        self._verified = True
        return created

    def close(self) -> None:
        self._inner.close()


def create_app(settings: Settings | None = None, publisher: Publisher | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.resolved_database_url)
    sessions = session_factory(engine)

    def lookup(secret: str):
        with sessions() as session:
            return authenticate_secret(session, secret)

    def connections_stamp() -> int:
        with sessions() as session:
            return stamps.read(session, stamps.CONNECTIONS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal publisher
        if publisher is None:
            publisher = EventPublisher(settings)
            if settings.uses_emulator:
                publisher = EmulatorPublisher(publisher, settings.publish_timeout_s)
        app.state.publisher = publisher
        if settings.uses_emulator:
            # In the background: the API serves (and answers 503) even while the
            # emulator is still starting; the first publish ensures both anyway.
            threading.Thread(target=_ensure_topic, args=(publisher,), daemon=True, name="ensure-topic").start()
        yield
        publisher.close()
        engine.dispose()

    app = FastAPI(
        title="Variance signals API",
        version=__version__,
        description="Segment-compatible ingestion and the management API of Variance signals.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.secrets = SecretCache(lookup, connections_stamp)
    app.state.publisher = publisher

    @app.exception_handler(WorkspaceError)
    async def _refused(_: Request, exc: WorkspaceError) -> JsonResponse:
        status = status_of(type(exc))
        headers = {"WWW-Authenticate": 'Basic realm="variance"'} if status == 401 else None
        return JsonResponse(error_body(exc), status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JsonResponse:
        # Unknown paths and methods answer in the same shape as every other error.
        codes = {404: "not_found", 405: "method_not_allowed"}
        body = ErrorResponse(error=ErrorDetail(code=codes.get(exc.status_code, "http_error"), message=str(exc.detail)))
        return JsonResponse(body.model_dump(exclude_none=True), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JsonResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "is invalid"}
        loc = list(first.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:]  # where FastAPI found it, not part of the field's name
        field = ".".join(str(part) for part in loc)
        rule = str(first.get("msg", "is invalid"))
        body = ErrorResponse(
            error=ErrorDetail(code="invalid", message=f"{field or 'body'}: {rule}", field=field or "body", rule=rule)
        )
        return JsonResponse(body.model_dump(exclude_none=True), status_code=422)

    for router in (
        health.router,
        ingest.router,
        connections.router,
        users.router,
        streams.router,
        milestones.router,
        entities.router,
        tags.router,
        views.router,
        favorites.router,
        feeds.router,
        timelines.router,
        auth.router,
        slack.router,
        organisation.router,
    ):
        app.include_router(router)
    # The web app's pages under / (every API path is under /v1) and its static files.
    web_app.mount(app)
    _add_security_schemes(app)
    return app


def _add_security_schemes(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["writeKey"] = {
            "type": "http",
            "scheme": "basic",
            "description": "Segment write key (the connection's secret) as the user name, empty password",
        }
        schemes["bearerSecret"] = {"type": "http", "scheme": "bearer", "description": "The connection's secret"}
        # Schema violations answer 422 with the same error body as every other error.
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if "422" in operation.get("responses", {}):
                    operation["responses"]["422"] = {
                        "description": "The request does not match the documented schema",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                    }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
