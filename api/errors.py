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
from pydantic import BaseModel, ConfigDict, Field
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

HTTP_ERROR_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}

# Where a field lives in the request ("body", "query", ...) is noise to the caller.
_LOCATIONS = ("body", "query", "path", "header")


class ErrorDetail(BaseModel):
    # Some errors carry more (409's `alternatives`, 422's `problems`, 413's `limit_bytes`).
    model_config = ConfigDict(extra="allow")

    code: str = Field(examples=["invalid"])
    message: str
    field: str | None = Field(default=None, description="the input at fault: `booking.date`, `Idempotency-Key`, ...")


class ErrorOut(BaseModel):
    error: ErrorDetail


ERROR_MEANINGS: dict[int, str] = {
    400: "Malformed: the body is not valid JSON (or not the form it claims to be)",
    401: "No valid credentials: a bearer access token or a staff session",
    403: "The caller's role or token scopes do not allow this",
    404: "No such thing (the message says which)",
    409: "The slot is taken; `alternatives` lists what is free",
    413: "The body is over the size limit (`limit_bytes`)",
    415: "The body is not the content type this endpoint reads",
    422: "Invalid input; `field` names it",
    503: "The database is not answering or the command kept conflicting; retry after `Retry-After`",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each in the one error shape."""
    return {status: {"model": ErrorOut, "description": ERROR_MEANINGS[status]} for status in statuses}


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


class BodyTooLarge(StarletteHTTPException):
    """A request body over its limit (api.request_guards): a 413 naming the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit // 1024} KiB ({limit} bytes)")
        self.limit = limit

    def response(self) -> JSONResponse:
        body = error_body("too_large", str(self.detail), field="body", limit_bytes=self.limit)
        return JSONResponse(body, status_code=413)


def _unreadable(cause: BaseException) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return "it is not UTF-8 text"
    if isinstance(cause, RecursionError):
        return "it is nested too deeply"
    return "it is malformed"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        malformed = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if malformed is not None:  # not JSON at all: a 400 (its "field" would be a character position)
            reason = (malformed.get("ctx") or {}).get("error", "JSON decode error")
            message = f"the body is not valid JSON: {reason} (at character {malformed['loc'][-1]})"
            return JSONResponse(error_body("malformed_json", message, field="body"), status_code=400)
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
        if isinstance(exc, BodyTooLarge):
            return exc.response()
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "There was an error parsing the body": say what was wrong with it.
            message = f"the body could not be read: {_unreadable(exc.__cause__)}"
            return JSONResponse(error_body("malformed_body", message, field="body"), status_code=400)
        code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
        field = "Content-Type" if exc.status_code == 415 else None
        # Its headers carry meaning (405's Allow), so they go out with the error.
        return JSONResponse(
            error_body(code, str(exc.detail), field=field), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged by type only: the exception text could hold request data.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return JSONResponse(error_body("internal", "something went wrong on our side"), status_code=500)
