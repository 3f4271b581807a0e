"""Single sign-on pages: `GET /auth/oidc/{provider}/login` sends the browser to the provider,
`GET /auth/oidc/{provider}/callback` takes its answer (see services.oidc for the checks).

Both are public (they are how a person gets a session). A provider that is not configured is a
404 "no such provider". A refused sign-in answers 400 naming the reason (an HTML page for a
browser, JSON otherwise) and starts no session. A successful one sets the session cookie and
redirects to the second-factor step when it is due (owners, admins, the enrolled), otherwise to
the page the login started from (local paths only) or /account.

The service comes from `app.state.oidc` (tests put one there); without one it is made from the
environment (`OIDC_PROVIDERS`, `OIDC_<NAME>_*`, `OIDC_REDIRECT_BASE_URL`) on first use.
"""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from api.deps import ContainerDep
from api.errors import ErrorOut, error_body, error_responses
from api.security import set_session_cookie
from services.oidc import OidcError, OidcLogin, OidcService, safe_return_to

SSO_STATE_COOKIE = "hibachi_sso_state"

router = APIRouter(
    prefix="/auth/oidc",
    tags=["auth"],
    responses={
        400: {"model": ErrorOut, "description": "Sign-in refused (`reason` says why); a page for a browser"},
        502: {"model": ErrorOut, "description": "The provider did not answer, or answered wrongly"},
        **error_responses(404, 422),
    },
)

MFA_STEP = "/login/mfa"  # the second factor, for the enrolled
MFA_ENROL = "/account/mfa/enrol"  # an owner or admin who has not enrolled yet must first
AFTER_LOGIN = "/account"
LOGIN_PAGE = "/login"
# The callback's URL carries the code: no page it leads to may pass it on, and nothing caches it.
NO_LEAK = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

ProviderName = Annotated[str, Path(max_length=64)]


def get_oidc(request: Request) -> OidcService:
    service = getattr(request.app.state, "oidc", None)
    if not isinstance(service, OidcService):
        service = OidcService.from_environment()
        request.app.state.oidc = service
    return service


OidcDep = Annotated[OidcService, Depends(get_oidc)]


def redirect_uri(request: Request, oidc: OidcService, provider: str) -> str:
    base = oidc.redirect_base_url or str(request.base_url).rstrip("/")
    return f"{base}/auth/oidc/{provider}/callback"


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def refused(request: Request, error: OidcError) -> Response:
    """The refusal, for a person (HTML) or a program (JSON); never a stack trace."""
    if "text/html" in request.headers.get("accept", ""):
        message = html.escape(error.message)
        page = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Sign-in refused</title>"
            f"<h1>Sign-in refused</h1><p>{message}.</p><p><small>Reason: {html.escape(error.reason)}</small></p>"
            f'<p><a href="{LOGIN_PAGE}">Back to the login page</a></p></html>'
        )
        return HTMLResponse(page, status_code=error.status, headers=NO_LEAK)
    body = error_body("sso_refused", error.message, reason=error.reason)
    return JSONResponse(body, status_code=error.status, headers=NO_LEAK)


def after_login(login: OidcLogin) -> str:
    if not login.session.mfa_passed:
        step = MFA_STEP if login.user.mfa_enrolled else MFA_ENROL
        return f"{step}?{urlencode({'next': login.return_to})}" if login.return_to else step
    return safe_return_to(login.return_to) or AFTER_LOGIN


@router.get("/{provider}/login", status_code=302, response_class=RedirectResponse)
async def oidc_login(
    provider: ProviderName,
    request: Request,
    container: ContainerDep,
    oidc: OidcDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    """Start a single sign-on: a redirect to the provider's authorization page."""
    oidc.provider(provider)  # a 404 before anything else
    try:
        url = await anyio.to_thread.run_sync(
            lambda: oidc.begin(container, provider, redirect_uri(request, oidc, provider), next)
        )
    except OidcError as error:
        return refused(request, error)
    response = RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    # The callback must come back to the browser that started the sign-in (see OidcService.complete).
    state = parse_qs(urlsplit(url).query).get("state", [""])[0]
    response.set_cookie(
        SSO_STATE_COOKIE, state, max_age=600, path="/auth/oidc", httponly=True, secure=True, samesite="lax"
    )
    return response


@router.get("/{provider}/callback", status_code=302, response_class=RedirectResponse)
async def oidc_callback(
    provider: ProviderName,
    request: Request,
    container: ContainerDep,
    oidc: OidcDep,
    state: Annotated[str | None, Query(max_length=512)] = None,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """The provider's answer: on success a session cookie and a redirect onwards."""
    oidc.provider(provider)
    try:
        login = await anyio.to_thread.run_sync(
            lambda: oidc.complete(
                container,
                provider,
                redirect_uri(request, oidc, provider),
                state=state,
                code=code,
                browser_state=request.cookies.get(SSO_STATE_COOKIE),
                error=error,
                ip=client_ip(request),
            )
        )
    except OidcError as failure:
        return refused(request, failure)
    response = RedirectResponse(after_login(login), status_code=302, headers=NO_LEAK)
    set_session_cookie(response, login.token)
    response.delete_cookie(SSO_STATE_COOKIE, path="/auth/oidc", secure=True, httponly=True, samesite="lax")
    return response
