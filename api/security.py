"""Who is calling, and may they: every route declares its permission as a typed dependency.

    principal: Annotated[Principal, Depends(Requires(Permission.BOOKINGS_WRITE))]

A caller is a service with a bearer access token (`Authorization: Bearer ...`, see services.tokens)
or a person with a session cookie (`hibachi_session`, server-side, see db.identity). A session of an
owner or admin that has not passed its second factor reaches nothing protected; a cookie-authenticated
state-changing request must carry the session's CSRF token (`X-CSRF-Token` header or a `csrf_token`
form field). No credentials: 401; not allowed: 403.

A route without `Requires` must be on `PUBLIC_ROUTES`; a test walks every registered route.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

import anyio
from fastapi import Request, Response

from api.deps import get_container
from db.identity import StaffSession
from domain.access import Permission, Role, permissions_of, session_expiry
from domain.errors import Forbidden, NotAuthenticated
from hibachi.bootstrap import Container
from services.tokens import InvalidToken

SESSION_COOKIE = "hibachi_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Routes anyone may call. Each has a reason: health checks; the customer chat widget and its
# message endpoint (customers have no accounts); the OAuth token endpoint and the login pages
# (they are how credentials are obtained); provider webhooks (each checks its own signature);
# the API's own documentation.
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/chat"),
        ("POST", "/channels/web/messages"),
        ("GET", "/channels/web/messages"),
        ("POST", "/oauth/token"),
        ("POST", "/webhooks/stripe"),  # checks the Stripe-Signature itself
        # The login pages, and the pages a session still owing its second factor may reach (MFA
        # step, enrolment, logout): they check the session cookie and CSRF token themselves.
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/login/mfa"),
        ("POST", "/login/mfa"),
        ("GET", "/account/mfa/enrol"),
        ("POST", "/account/mfa/enrol"),
        ("POST", "/logout"),
        ("POST", "/logout/everywhere"),
        ("GET", "/auth/oidc/{provider}/login"),
        ("GET", "/auth/oidc/{provider}/callback"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
        # htmx and the admin stylesheet (vendored, public code); the admin pages themselves are guarded.
        ("GET", "/admin/static"),
        # Plaid's webhooks: verified by their signed Plaid-Verification JWT.
        ("POST", "/webhooks/plaid"),
        # RingCentral's deliveries: they carry our subscription's Verification-Token.
        ("POST", "/webhooks/ringcentral"),
        # Google Calendar pushes: a known channel id with its secret token (services/chef_calendars.py).
        ("POST", "/webhooks/google-calendar"),
    }
)


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "service"]
    id: str  # the staff user's id, or the service's name
    role: Role
    permissions: frozenset[Permission]
    session: StaffSession | None = None
    chef_id: str | None = None  # a chef's own chef id (their schedule)

    @property
    def actor(self) -> str:
        """How the audit trail names who did something."""
        return f"{self.kind}:{self.id}"


def principal_from_token(container: Container, token: str) -> Principal:
    try:
        claims = container.tokens.verify(token)
    except InvalidToken:
        raise NotAuthenticated("the access token is invalid or expired; get a new one") from None
    # A token never grants more than its role allows, whatever scopes it names.
    scopes = claims.scopes & permissions_of(claims.role)
    return Principal("service", claims.subject.removeprefix("service:"), claims.role, scopes)


def principal_from_session(container: Container, token: str) -> Principal | None:
    """The person behind a session cookie, the session kept alive; None when it is unknown, ended,
    expired (then it is ended now) or its user is deactivated."""
    now = container.clock.now()
    with container.uow() as uow:
        session = uow.sessions.by_token(token)
        if session is None or session.ended_at is not None:
            return None
        expired = session_expiry(session.created_at, session.last_seen_at, now)
        user = uow.staff.get(session.user_id)
        if expired or user is None or not user.active:
            uow.sessions.end(session.id, now, expired or "deactivated")
            uow.commit()
            return None
        uow.sessions.touch(session.id, now)
        uow.commit()
    return Principal("user", user.id, user.role, permissions_of(user.role), session=session, chef_id=user.chef_id)


async def authenticate(request: Request) -> Principal | None:
    """The caller, from a bearer token or else a session cookie; None when neither is present.
    NotAuthenticated for credentials that are present but not valid."""
    container = get_container(request)
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise NotAuthenticated("send `Authorization: Bearer <access token>`")
        return principal_from_token(container, value.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    principal = await anyio.to_thread.run_sync(principal_from_session, container, cookie)
    if principal is None:
        raise NotAuthenticated("your session has ended; log in again")
    return principal


async def check_csrf(request: Request, session: StaffSession) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    # Bytes: compare_digest refuses str with non-ASCII characters (a client may send anything).
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise Forbidden("the form is stale or was not sent by this site; reload and try again", field=CSRF_FIELD)


def set_session_cookie(response: Response, token: str) -> None:
    """The session cookie: HttpOnly (no script reads it), Secure (HTTPS only; browsers treat
    http://localhost as secure too), SameSite=Lax (not sent on cross-site posts), path /. Its
    lifetime is the server's to decide (idle and absolute timeouts), so it is a browser-session cookie."""
    response.set_cookie(SESSION_COOKIE, token, httponly=True, secure=True, samesite="lax", path="/")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")


class Requires:
    """The dependency that guards a route: the caller must hold `permission`."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> Principal:
        principal = await authenticate(request)
        if principal is None:
            raise NotAuthenticated("log in, or send `Authorization: Bearer <access token>`")
        if principal.session is not None:
            # Owners and admins always owe a second factor; anyone else who enrolled owes it too.
            if not principal.session.mfa_passed:
                raise Forbidden("this account needs its second factor (MFA) first", field="mfa")
            if request.method in UNSAFE_METHODS:
                await check_csrf(request, principal.session)
        if self.permission not in principal.permissions:
            raise Forbidden(f"{principal.role} may not do this (needs {self.permission.value})")
        return principal
