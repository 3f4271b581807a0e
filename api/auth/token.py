"""`POST /oauth/token`: the OAuth 2.1 client-credentials grant (RFC 6749 §4.4) for service clients.

The body is `application/x-www-form-urlencoded` with `grant_type=client_credentials` and an
optional `scope` (space-separated; at most the client's scopes). The client authenticates with
HTTP Basic (`client_secret_basic`, id and secret form-encoded, then base64) or with `client_id` and
`client_secret` in the body (`client_secret_post`), never both. Errors take RFC 6749 §5.2's shape
(`{"error", "error_description"}`), not the API's usual one: OAuth clients parse this one.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import get_container
from api.errors import error_responses
from services.service_clients import ClientAuthFailed, ScopeRefused, grant_client_credentials
from services.tokens import scope_text

router = APIRouter(tags=["auth"])

FORM = "application/x-www-form-urlencoded"
MAX_BODY = 8 * 1024  # a token request is a few hundred bytes
MAX_FIELDS = 16
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PARAMETERS = ("grant_type", "scope", "client_id", "client_secret")


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: 400, or 401 with a Basic challenge for `invalid_client`."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = 401 if error == "invalid_client" else 400

    def response(self) -> JSONResponse:
        headers = dict(NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="hibachi"'
        return JSONResponse(
            {"error": self.error, "error_description": self.description}, status_code=self.status, headers=headers
        )


async def _read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise OAuthError("invalid_request", f"send the parameters as {FORM}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise OAuthError("invalid_request", "the request body is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the body is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            # RFC 6749 §3.2: a parameter sent twice makes the request invalid.
            raise OAuthError("invalid_request", f"{name} is sent more than once")
        form[name] = value
    return form


def _basic_credentials(authorization: str) -> tuple[str, str]:
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "authenticate the client with HTTP Basic or in the body")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_client", "the Basic credentials are not valid base64") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "the Basic credentials are not client_id:client_secret")
    # RFC 6749 §2.3.1: both are form-encoded before they are joined and base64-encoded.
    return unquote_plus(client_id), unquote_plus(secret)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    authorization = request.headers.get("authorization")
    in_body = "client_id" in form or "client_secret" in form
    if authorization:
        if in_body:
            raise OAuthError("invalid_request", "use one client authentication method: HTTP Basic or the body")
        return _basic_credentials(authorization)
    if not form.get("client_id") or "client_secret" not in form:
        raise OAuthError("invalid_client", "client authentication is required")
    return form["client_id"], form["client_secret"]


@router.post(
    "/oauth/token",
    summary="Get a service access token (OAuth client credentials)",
    responses={
        200: {"description": "`{access_token, token_type: Bearer, expires_in, scope}`"},
        400: {"description": "RFC 6749 §5.2 error: invalid_request, invalid_scope, unsupported_grant_type"},
        401: {"description": "invalid_client: unknown client, wrong secret, or deactivated"},
        **error_responses(413),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FORM: {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "scope": {"type": "string", "description": "space-separated scopes"},
                            "client_id": {"type": "string", "description": "client_secret_post only"},
                            "client_secret": {"type": "string", "description": "client_secret_post only"},
                        },
                    }
                }
            },
        }
    },
)
async def token(request: Request) -> JSONResponse:
    try:
        form = await _read_form(request)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            raise OAuthError("unsupported_grant_type", "this server grants client_credentials only")
        client_id, client_secret = _client_credentials(request, form)
        scope = form.get("scope")
        ip = request.client.host if request.client else None
        try:
            issued = await anyio.to_thread.run_sync(
                lambda: grant_client_credentials(get_container(request), client_id, client_secret, scope, ip=ip)
            )
        except ClientAuthFailed:
            raise OAuthError("invalid_client", "client authentication failed") from None
        except ScopeRefused as refused:
            raise OAuthError("invalid_scope", str(refused)) from None
    except OAuthError as error:
        return error.response()
    body: dict[str, Any] = {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": scope_text(issued.scopes),
    }
    return JSONResponse(body, headers=NO_STORE)
