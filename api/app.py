"""The FastAPI application: slices mounted on one app, the container on `app.state`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from api.admin.pages import STATIC_DIR
from api.admin.pages import router as admin_router
from api.auth.oidc import router as oidc_router
from api.auth.pages import router as auth_pages_router
from api.auth.token import router as token_router
from api.channels.routes import router as channels_router
from api.commands.routes import router as commands_router
from api.deps import ContainerDep
from api.errors import error_body, install_error_handlers
from api.queries.routes import router as queries_router
from api.request_guards import BodySizeLimit, guard_request
from api.webhooks.google_calendar import router as google_calendar_webhook_router
from api.webhooks.plaid import router as plaid_webhook_router
from api.webhooks.ringcentral import router as ringcentral_webhook_router
from api.webhooks.stripe import router as stripe_webhook_router
from hibachi.bootstrap import Container

DEFAULT_WORKER_THREADS = 4


class AccessLogWithoutQueries(logging.Filter):
    """The access log's request line without its query string: staff search the inbox by name,
    phone or email, and the widget polls with its session id; none of that belongs in a log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def quiet_access_log() -> None:
    """Install AccessLogWithoutQueries on uvicorn's access logger, once per process."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogWithoutQueries) for f in access.filters):
        access.addFilter(AccessLogWithoutQueries())


def create_app(container: Container, *, worker_threads: int = DEFAULT_WORKER_THREADS) -> FastAPI:
    """`worker_threads` bounds the threads running sync endpoints in this process: more threads than
    cores only queue on the GIL and stretch every request's latency."""
    quiet_access_log()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = worker_threads
        try:
            yield
        finally:
            container.close_agent()  # the checkpoint and thread-lock pools, if a chat opened them

    app = build_app(f"{container.business.name} booking API", lifespan=lifespan)
    app.state.container = container
    return app


def build_app(title: str, *, lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None) -> FastAPI:
    """Every route, error handler and request check, without a container: enough for the OpenAPI
    document (`build_app(title).openapi()`); `create_app` wires one in."""
    app = FastAPI(
        lifespan=lifespan,
        title=title,
        version="0.1.0",
        description="Commands change state (each takes an Idempotency-Key); queries only read.",
        dependencies=[Depends(guard_request)],
    )
    app.add_middleware(BodySizeLimit)
    install_error_handlers(app)
    app.include_router(commands_router)
    app.include_router(queries_router)
    app.include_router(channels_router)
    app.include_router(auth_pages_router)
    app.include_router(oidc_router)
    app.include_router(token_router)
    app.include_router(admin_router)
    app.include_router(stripe_webhook_router)
    app.include_router(plaid_webhook_router)
    app.include_router(ringcentral_webhook_router)
    app.include_router(google_calendar_webhook_router)
    # htmx, its SSE extension and the admin stylesheet: public files (the pages that use them are not).
    app.mount("/admin/static", StaticFiles(directory=STATIC_DIR), name="admin-static")

    @app.get("/healthz", tags=["ops"])
    def healthz(container: ContainerDep) -> Any:
        try:
            with container.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse(error_body("database_unavailable", "the database does not answer"), status_code=503)
        return {"status": "ok"}

    return app
