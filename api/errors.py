"""One error shape for every endpoint: `{"error": {"code", "message", "field"?, ...}}`.

Domain and infrastructure exceptions map to status codes here, in one table, so no endpoint
answers 500 to anything a client can send. Messages never carry personal data.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from db.idempotency import IdempotencyKeyReused
from domain.errors import (
    DomainError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    OutsideServiceArea,
    SlotUnavailable,
    TooManyAttempts,
)
from services.bus import CommandFailed, DatabaseUnavailable

log = logging.getLogger(__name__)

STATUS_OF: dict[type[DomainError], int] = {
    NotFound: 404,
    OutsideServiceArea: 422,
    NotAuthenticated: 401,
    Forbidden: 403,
    TooManyAttempts: 429,
    DomainError: 422,
}

# Where a field lives in the request ("body", "query", ...) is noise to the caller.
_LOCATIONS = ("body", "query", "path", "header")


def error_body(code: str, message: str, *, field: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    error.update(extra)
    return {"error": error}


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATIONS:
        if parts[0] == "header" and len(parts) > 1:
            return parts[1].replace("_", "-").title()
        parts = parts[1:]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": _field_of(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))} for e in exc.errors()
        ]
        first = problems[0] if problems else {"field": "body", "message": "invalid request"}
        return JSONResponse(
            error_body("invalid", f"{first['field']}: {first['message']}", field=first["field"], problems=problems),
            status_code=422,
        )

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        status = next((code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), 422)
        message = f"{exc.field}: {exc.message}" if exc.field else exc.message
        headers: dict[str, str] = {}
        if isinstance(exc, NotAuthenticated):
            headers["WWW-Authenticate"] = 'Bearer realm="hibachi"'
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after_seconds)
        return JSONResponse(error_body(exc.code, message, field=exc.field), status_code=status, headers=headers)

    @app.exception_handler(SlotUnavailable)
    async def slot_unavailable(request: Request, exc: SlotUnavailable) -> JSONResponse:
        return JSONResponse({"error": exc.as_dict()}, status_code=409)

    @app.exception_handler(IdempotencyKeyReused)
    async def key_reused(request: Request, exc: IdempotencyKeyReused) -> JSONResponse:
        return JSONResponse(error_body("idempotency_key_reused", str(exc), field="Idempotency-Key"), status_code=422)

    @app.exception_handler(CommandFailed)
    async def command_failed(request: Request, exc: CommandFailed) -> JSONResponse:
        return JSONResponse(error_body("busy", str(exc)), status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(DatabaseUnavailable)
    @app.exception_handler(OperationalError)
    @app.exception_handler(psycopg.OperationalError)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # A lost connection (Postgres restarting; the bus's retries found it still away) or an
        # overloaded database: the client may retry.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return JSONResponse(
            error_body("database_unavailable", "the database is not answering; try again shortly"),
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged by type only: the exception text could hold request data.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return JSONResponse(error_body("internal", "something went wrong on our side"), status_code=500)
