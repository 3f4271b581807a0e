"""What every request must be before an endpoint sees it, checked in one place for every route.

- Size: a body over its limit is refused with 413 naming the limit: 64 KiB (the largest command or
  chat message is a few KiB), 256 KiB for provider webhooks (their payloads are not ours to shape,
  and a refused delivery is retried until the provider gives up). A declared `Content-Length` over
  the limit is refused before the endpoint runs; a body streamed without one is cut off where it
  passes the limit. (FastAPI's own `max_body_size` answers plain text, outside the error shape.)
- Content type: a body an endpoint parses must come as what it parses: JSON endpoints take
  `application/json` (or `application/*+json`), form endpoints `application/x-www-form-urlencoded`
  or `multipart/form-data`; anything else is a 415 naming the type expected. Endpoints that read
  their raw body (the webhooks, checked by signature; `/oauth/token`, RFC 6749's errors) judge it
  themselves.
- Text that cannot be stored (`domain.text`: NUL, lone surrogates) in a JSON body, a form, the
  query string or the path is a 422 naming the field. Every other character (right-to-left
  overrides, zero-width joiners, combining marks, emoji) is stored as sent and escaped wherever a
  page shows it.
"""

from __future__ import annotations

import email.message
from collections import deque
from collections.abc import Iterator
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyTooLarge
from domain.text import unstorable

MAX_BODY_BYTES = 64 * 1024
MAX_WEBHOOK_BODY_BYTES = 256 * 1024
JSON_TYPE = "application/json"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def body_limit(path: str) -> int:
    return MAX_WEBHOOK_BODY_BYTES if path.startswith("/webhooks/") else MAX_BODY_BYTES


class BodySizeLimit:
    """ASGI middleware: no request body over `body_limit(path)` reaches an endpoint."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await BodyTooLarge(limit).response()(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, receive_within_limit, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return "transfer-encoding" in request.headers or (length is not None and length.strip() not in ("", "0"))


def _media_type(request: Request) -> tuple[str, str]:
    header = email.message.Message()
    header["content-type"] = request.headers.get("content-type", "")
    return header.get_content_maintype(), header.get_content_subtype()


Location = tuple[str | int, ...]


def _texts(value: Any, loc: Location) -> Iterator[tuple[Location, str]]:
    """Every string in a parsed JSON value (keys too) with where it is, as validation errors say it.
    A loop, not recursion: JSON nested as deep as the parser allows must not overflow here."""
    pending: deque[tuple[Location, Any]] = deque([(loc, value)])
    while pending:
        where, item = pending.popleft()  # in document order, level by level
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, inner in item.items():
                yield where, str(key)
                pending.append(((*where, str(key)), inner))
        elif isinstance(item, list):
            pending.extend(((*where, index), inner) for index, inner in enumerate(item))


class UnsupportedMediaType(HTTPException):
    def __init__(self, expected: str) -> None:
        super().__init__(415, f"send the body as {expected} (with that Content-Type)")


async def guard_request(request: Request) -> None:
    """The app-wide dependency: the content-type and storable-text rules above."""
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    texts: list[tuple[Location, str]] = [(("query", name), value) for name, value in request.query_params.multi_items()]
    texts += [(("path", name), value) for name, value in request.path_params.items() if isinstance(value, str)]
    if body_field is not None and _has_body(request):
        maintype, subtype = _media_type(request)
        if isinstance(body_field.field_info, Form):
            if f"{maintype}/{subtype}" not in FORM_TYPES:
                raise UnsupportedMediaType(" or ".join(FORM_TYPES))
            form = await request.form()  # FastAPI parsed it already: this is its cached copy
            texts += [(("body", name), value) for name, value in form.multi_items() if isinstance(value, str)]
        else:
            if maintype != "application" or not (subtype == "json" or subtype.endswith("+json")):
                raise UnsupportedMediaType(JSON_TYPE)
            if await request.body():  # empty (a chunked body of nothing): FastAPI's own 422 names it
                texts += _texts(await request.json(), ("body",))  # the cached copy, as with the form
    problems = [
        {"loc": loc, "msg": problem, "type": "unstorable_text"}
        for loc, text in texts
        if (problem := unstorable(text)) is not None
    ]
    if problems:
        raise RequestValidationError(problems)
