"""Staff login pages: server-rendered HTML (Jinja2 templates beside this module), plain forms, no
JavaScript.

    GET/POST /login               email and password
    GET/POST /login/mfa           the second step: a TOTP code or a recovery code
    GET/POST /account/mfa/enrol   set up an authenticator (QR code as inline SVG), then recovery codes
    POST     /logout              end this session
    POST     /logout/everywhere   end every session of the account
    GET      /account             who am I

Choices:
- CSRF before login (there is no session yet): a signed double-submit cookie. GET /login sets a
  random nonce in the `hibachi_login_csrf` cookie (HttpOnly, Secure, SameSite=Strict, path /login)
  and puts HMAC(blind-index key, nonce) in the form; POST /login needs both to match. A cookie
  planted from a sibling domain is useless without the key, and the token ties to nothing secret.
  After login every state-changing form carries the session's synchronizer token (`csrf_token`),
  checked with `api.security.check_csrf`.
- The MFA, enrolment and logout pages accept a session that has not passed its second factor yet,
  so they guard themselves (a session cookie, and the CSRF token on POST) and are on
  `PUBLIC_ROUTES`; /account uses `Requires(Permission.ADMIN_AREA)` like any protected route.
- A browser (Accept: text/html) that reaches a page without a session is sent to /login?next=...;
  a session still owing its second factor to /login/mfa. Other clients get the JSON errors.
  This applies to this router's routes only (its route class), not to the JSON API.
- `next` is followed only when it is a local path ("/..." but not "//..." or "/\\...").
- Pages that show secrets (the enrolment key, recovery codes) and all these pages are no-store,
  unframeable, and carry a strict Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from api.deps import get_container
from api.security import (
    SESSION_COOKIE,
    Principal,
    Requires,
    check_csrf,
    clear_session_cookie,
    principal_from_session,
    set_session_cookie,
)
from domain.access import Permission
from domain.errors import DomainError, Forbidden, NotAuthenticated, TooManyAttempts
from hibachi.bootstrap import Container
from services import identity

LOGIN_CSRF_COOKIE = "hibachi_login_csrf"
AFTER_LOGIN = "/account"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}

# One Jinja environment for every server-rendered page: these login pages' templates, then the
# admin pages' (api/admin/templates; their names never repeat these).
TEMPLATE_DIRS = (Path(__file__).parent / "templates", Path(__file__).parent.parent / "admin" / "templates")
templates = Jinja2Templates(directory=TEMPLATE_DIRS)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def local_path(value: str | None) -> str | None:
    """`value` when it is a path on this site, else None (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if any(ch in value for ch in "\r\n\t\\") or len(value) > 2000:
        return None
    return value


def with_next(path: str, next_path: str | None) -> str:
    safe = local_path(next_path)
    return f"{path}?{urlencode({'next': safe})}" if safe else path


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


class PageRoute(APIRoute):
    """A browser that is not logged in goes to the login page; one owing its second factor to it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handle(request)
            except NotAuthenticated:
                if not wants_html(request):
                    raise
                here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return redirect(with_next("/login", here if request.method == "GET" else None))
            except Forbidden as error:
                if not wants_html(request):
                    raise
                if error.field == "mfa":
                    return redirect(with_next("/login/mfa", request.url.path))
                return render(request, "message.html", 403, title="Not allowed", body=error.message, link="/account")

        return page


router = APIRouter(tags=["auth"], route_class=PageRoute, include_in_schema=False)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    container = get_container(request)
    context.setdefault("title", "Staff")
    return templates.TemplateResponse(
        request,
        template,
        {"business": container.business.name, **context},
        status_code=status,
        headers=PAGE_HEADERS,
    )


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def current_session(request: Request) -> Principal:
    """The person behind the session cookie, whether or not they have passed their second factor."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated("log in first")
    principal = await anyio.to_thread.run_sync(principal_from_session, get_container(request), cookie)
    if principal is None or principal.session is None:
        raise NotAuthenticated("your session has ended; log in again")
    return principal


async def current_session_csrf(request: Request) -> Principal:
    """As `current_session`, for a state-changing form: the session's CSRF token must come with it."""
    principal = await current_session(request)
    assert principal.session is not None
    await check_csrf(request, principal.session)
    return principal


SessionDep = Annotated[Principal, Depends(current_session)]
SessionCsrfDep = Annotated[Principal, Depends(current_session_csrf)]
NextQuery = Annotated[str | None, Query(max_length=2000)]


async def _run(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await anyio.to_thread.run_sync(lambda: function(*args, **kwargs))


# ---------------------------------------------------------------- login


def login_csrf_token(container: Container, nonce: str) -> str:
    return base64.urlsafe_b64encode(container.blind.of("login-csrf", nonce)).decode().rstrip("=")


def login_page(
    request: Request, status: int = 200, *, next_path: str | None, email: str = "", error: str | None = None
) -> HTMLResponse:
    from api.auth.oidc import get_oidc  # the single sign-on buttons: one per configured provider

    container = get_container(request)
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    next_local = local_path(next_path)
    sso = [
        {
            "label": provider.label or provider.name,
            "href": f"/auth/oidc/{provider.name}/login" + (f"?{urlencode({'next': next_local})}" if next_local else ""),
        }
        for provider in get_oidc(request).providers
    ]
    response = render(
        request,
        "login.html",
        status,
        title="Log in",
        csrf_token=login_csrf_token(container, nonce),
        next=next_local,
        email=email,
        error=error,
        sso=sso,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, nonce, httponly=True, secure=True, samesite="strict", path="/login")
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: NextQuery = None) -> Response:
    return login_page(request, next_path=next)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    container = get_container(request)
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE)
    expected = login_csrf_token(container, nonce).encode() if nonce else b""
    if not nonce or not csrf_token or not hmac.compare_digest(csrf_token.encode(), expected):
        return login_page(
            request,
            403,
            next_path=next,
            email=email,
            error="The form is stale or was not sent by this site; try again.",
        )
    try:
        result: identity.LoginResult = await _run(
            identity.password_login, container, email, password, client_ip(request)
        )
    except TooManyAttempts as refused:
        response = login_page(request, 429, next_path=next, email=email, error=refused.message)
        response.headers["Retry-After"] = str(refused.retry_after_seconds)
        return response
    except DomainError as failure:
        return login_page(request, 401, next_path=next, email=email, error=failure.message.capitalize() + ".")
    if result.mfa_pending:
        target = with_next("/login/mfa" if result.user.mfa_enrolled else "/account/mfa/enrol", next)
    else:
        target = local_path(next) or AFTER_LOGIN
    done = redirect(target)
    set_session_cookie(done, result.token)
    done.delete_cookie(LOGIN_CSRF_COOKIE, path="/login", secure=True, httponly=True, samesite="strict")
    return done


# ---------------------------------------------------------------- second factor


@router.get("/login/mfa", response_class=HTMLResponse)
async def mfa_form(request: Request, principal: SessionDep, next: NextQuery = None) -> Response:
    session = principal.session
    assert session is not None
    if session.mfa_passed:
        return redirect(local_path(next) or AFTER_LOGIN)
    user = await _run(identity.account_overview, get_container(request), principal.id)
    if not user.user.mfa_enrolled:
        return redirect(with_next("/account/mfa/enrol", next))
    return render(request, "mfa.html", title="Second step", csrf_token=session.csrf_token, next=local_path(next))


@router.post("/login/mfa", response_class=HTMLResponse)
async def mfa_submit(
    request: Request,
    principal: SessionCsrfDep,
    code: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    session = principal.session
    assert session is not None
    if session.mfa_passed:
        return redirect(local_path(next) or AFTER_LOGIN)
    try:
        await _run(identity.verify_second_factor, get_container(request), session, code, client_ip(request))
    except TooManyAttempts as refused:
        response = render(
            request,
            "mfa.html",
            429,
            title="Second step",
            csrf_token=session.csrf_token,
            next=local_path(next),
            error=refused.message,
        )
        response.headers["Retry-After"] = str(refused.retry_after_seconds)
        return response
    except (identity.WrongCode, DomainError) as wrong:
        if isinstance(wrong, NotAuthenticated | Forbidden):
            raise
        return render(
            request,
            "mfa.html",
            422,
            title="Second step",
            csrf_token=session.csrf_token,
            next=local_path(next),
            error=wrong.message.capitalize() + ".",
        )
    return redirect(local_path(next) or AFTER_LOGIN)


# ---------------------------------------------------------------- enrolment


def qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    return str(image.to_string(encoding="unicode"))


def confirm_page(
    request: Request, csrf: str, start: identity.EnrolmentStart, next_path: str | None, status: int = 200, **extra: Any
) -> HTMLResponse:
    return render(
        request,
        "enrol_confirm.html",
        status,
        title="Set up two-step login",
        csrf_token=csrf,
        secret=start.secret,
        qr_svg=qr_svg(start.uri),
        next=local_path(next_path),
        **extra,
    )


@router.get("/account/mfa/enrol", response_class=HTMLResponse)
async def enrol_form(request: Request, principal: SessionDep, next: NextQuery = None) -> Response:
    container = get_container(request)
    session = principal.session
    assert session is not None
    overview: identity.AccountOverview = await _run(identity.account_overview, container, principal.id)
    if not session.mfa_passed and overview.user.mfa_enrolled:
        return redirect(with_next("/login/mfa", next))
    pending = await _run(identity.pending_enrolment, container, session)
    if pending is not None:
        return confirm_page(request, session.csrf_token, pending, next)
    return render(
        request,
        "enrol_start.html",
        title="Set up two-step login",
        csrf_token=session.csrf_token,
        needs_code=identity.needs_enrolment_code(overview.user, session),
        enrolled=overview.user.mfa_enrolled,
        next=local_path(next),
    )


@router.post("/account/mfa/enrol", response_class=HTMLResponse)
async def enrol_submit(
    request: Request,
    principal: SessionCsrfDep,
    action: Annotated[str, Form(max_length=16)] = "start",
    enrolment_code: Annotated[str, Form(max_length=64)] = "",
    current_code: Annotated[str, Form(max_length=64)] = "",
    code: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    container = get_container(request)
    session = principal.session
    assert session is not None
    ip = client_ip(request)
    if action == "confirm":
        try:
            codes = await _run(identity.confirm_enrolment, container, session, code, ip)
        except DomainError as problem:
            if isinstance(problem, NotAuthenticated | Forbidden):
                raise
            pending = await _run(identity.pending_enrolment, container, session)
            status = 429 if isinstance(problem, TooManyAttempts) else 422
            if pending is None:
                return redirect(with_next("/account/mfa/enrol", next))
            return confirm_page(request, session.csrf_token, pending, next, status, error=problem.message)
        return render(
            request, "recovery_codes.html", title="Recovery codes", codes=codes, next=local_path(next) or AFTER_LOGIN
        )
    try:
        start = await _run(
            identity.begin_enrolment,
            container,
            session,
            ip,
            enrolment_code=enrolment_code or None,
            current_code=current_code or None,
        )
    except DomainError as problem:
        if isinstance(problem, NotAuthenticated | Forbidden):
            raise
        overview: identity.AccountOverview = await _run(identity.account_overview, container, principal.id)
        response = render(
            request,
            "enrol_start.html",
            429 if isinstance(problem, TooManyAttempts) else 422,
            title="Set up two-step login",
            csrf_token=session.csrf_token,
            needs_code=identity.needs_enrolment_code(overview.user, session),
            enrolled=overview.user.mfa_enrolled,
            next=local_path(next),
            error=problem.message,
        )
        if isinstance(problem, TooManyAttempts):
            response.headers["Retry-After"] = str(problem.retry_after_seconds)
        return response
    return confirm_page(request, session.csrf_token, start, next)


# ---------------------------------------------------------------- logout and account


@router.post("/logout")
async def logout(request: Request, principal: SessionCsrfDep) -> Response:
    assert principal.session is not None
    await _run(identity.logout, get_container(request), principal.session, client_ip(request))
    response = redirect("/login")
    clear_session_cookie(response)
    return response


@router.post("/logout/everywhere")
async def logout_everywhere(request: Request, principal: SessionCsrfDep) -> Response:
    assert principal.session is not None
    await _run(identity.logout_everywhere, get_container(request), principal.session, client_ip(request))
    response = redirect("/login")
    clear_session_cookie(response)
    return response


@router.get("/account", response_class=HTMLResponse)
async def account(
    request: Request, principal: Annotated[Principal, Depends(Requires(Permission.ADMIN_AREA))]
) -> Response:
    if principal.kind != "user" or principal.session is None:
        raise Forbidden("this page is for people who log in")
    if not principal.session.mfa_passed:  # anyone enrolled owes the second factor, whatever the role
        raise Forbidden("this account needs its second factor (MFA) first", field="mfa")
    overview: identity.AccountOverview = await _run(identity.account_overview, get_container(request), principal.id)
    return render(
        request,
        "account.html",
        title="Your account",
        user=overview.user,
        open_sessions=overview.open_sessions,
        recovery_codes_left=overview.recovery_codes_left,
        csrf_token=principal.session.csrf_token,
    )
