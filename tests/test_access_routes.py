"""Every route is guarded or deliberately public, and the roles reach what the matrix says.

The walk looks at the app as built (every router, mount and plain route), so a route added
anywhere without `Requires` and without a place on `PUBLIC_ROUTES` fails here.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from starlette.convertors import FloatConvertor, IntegerConvertor, UUIDConvertor
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Host, Mount, Route, WebSocketRoute

from api.app import create_app
from api.security import PUBLIC_ROUTES, SESSION_COOKIE, Principal, Requires, principal_from_token
from domain.access import PEOPLE_ROLES, ROLES, Permission, Role, permissions_of
from domain.clock import FixedClock
from hibachi.bootstrap import Container
from services.tokens import TokenIssuer
from tests.conftest import service_headers
from tests.factories import create_booking_body

# ---------------------------------------------------------------- the walk


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    guarded: bool
    route: Any  # the route as the app serves it (an included router's prefix and dependencies applied)


def guarded(dependant: Dependant | None) -> bool:
    """Whether a `Requires` runs anywhere in the dependency tree (route, router or a sub-dependency)."""
    if dependant is None:
        return False
    return any(isinstance(dep.call, Requires) or guarded(dep) for dep in dependant.dependencies)


def _methods(methods: Iterable[str] | None) -> set[str]:
    found = set(methods) if methods is not None else {"*"}  # a plain ASGI endpoint answers any method
    if "GET" in found:
        found -= {"HEAD", "OPTIONS"}  # implied by GET, answered by the same endpoint
    return found


def endpoints(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[Endpoint]:
    """Every (method, path) the routes answer, with whether a guard runs first. Included routers are
    walked as the app serves them (FastAPI includes them lazily: `iter_route_contexts` applies each
    include's prefix and dependencies)."""
    for context in iter_route_contexts(routes):
        route, path = context.original_route, prefix + str(context.path or "")
        if isinstance(route, APIRoute):
            for method in _methods(context.methods):
                yield Endpoint(method, path, guarded(context.dependant), context)
        elif isinstance(route, APIWebSocketRoute):
            yield Endpoint("WEBSOCKET", path, guarded(context.dependant), context)
        elif isinstance(route, Route):
            for method in _methods(context.methods):
                yield Endpoint(method, path, False, context)
        elif isinstance(route, WebSocketRoute):
            yield Endpoint("WEBSOCKET", path, False, context)
        elif isinstance(route, Mount):
            if context.routes:  # a router or a sub-application: walk what it holds
                yield from endpoints(context.routes, path)
            else:  # static files or any ASGI app: nothing guards it, so it must be listed
                yield Endpoint("GET", path, False, context)
        elif isinstance(route, Host):
            yield from endpoints(context.routes, prefix)
        else:  # a kind of route this walk does not know: guarded only if a guard is seen
            dependant = getattr(context, "dependant", None)
            yield Endpoint("?", f"{path or route!r} ({type(route).__name__})", guarded(dependant), context)


def unprotected(app: FastAPI, public: frozenset[tuple[str, str]] = PUBLIC_ROUTES) -> list[str]:
    return sorted(
        f"{e.method} {e.path}" for e in endpoints(app.routes) if not e.guarded and (e.method, e.path) not in public
    )


@pytest.fixture
def app(container: Container) -> FastAPI:
    return create_app(container)


def test_every_route_is_guarded_or_public(app: FastAPI) -> None:
    problems = unprotected(app)
    assert problems == [], (
        "these routes have no `Requires` dependency and are not on api.security.PUBLIC_ROUTES: " + ", ".join(problems)
    )


def test_the_public_list_names_only_routes_that_exist(app: FastAPI) -> None:
    # A stale entry is a hole waiting for a route: whatever later takes that path would be public.
    served = {(e.method, e.path) for e in endpoints(app.routes)}
    assert sorted(PUBLIC_ROUTES - served) == []


def test_the_walk_sees_the_routes_that_matter(app: FastAPI) -> None:
    walked = {(e.method, e.path): e.guarded for e in endpoints(app.routes)}
    assert walked[("POST", "/commands/create-booking")] is True
    assert walked[("GET", "/queries/schedule")] is True
    assert walked[("POST", "/oauth/token")] is False
    assert walked[("GET", "/healthz")] is False
    assert walked[("GET", "/openapi.json")] is False  # a plain Starlette route, seen too


def _sample_path(route: Any, path: str) -> str:
    """The path with each parameter filled by a value its convertor accepts."""
    convertors = getattr(route, "param_convertors", {})

    def sample(match: re.Match[str]) -> str:
        convertor = convertors.get(match.group(1))
        if isinstance(convertor, IntegerConvertor | FloatConvertor):
            return "1"
        if isinstance(convertor, UUIDConvertor):
            return str(uuid.UUID(int=1))
        return "x"

    return re.sub(r"\{(\w+)(?::\w+)?\}", sample, path)


def test_every_guarded_route_refuses_a_caller_without_credentials(app: FastAPI) -> None:
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        for endpoint in endpoints(app.routes):
            if not endpoint.guarded or endpoint.method == "WEBSOCKET":
                continue
            response = client.request(endpoint.method, _sample_path(endpoint.route, endpoint.path))
            where = f"{endpoint.method} {endpoint.path}"
            if response.is_redirect:  # a staff page may send a browser to its login page instead
                assert "login" in response.headers.get("location", ""), where
                continue
            assert response.status_code == 401, f"{where}: {response.status_code} {response.text[:200]}"
            assert response.headers["www-authenticate"].startswith("Bearer"), where


# ---------------------------------------------------------------- the walker catches a hole


# Module level: the endpoints' string annotations are resolved in the module's namespace.
Reader = Annotated[Principal, Depends(Requires(Permission.AVAILABILITY_READ))]


def indirect(principal: Reader) -> Principal:  # a guard inside another dependency
    return principal


Indirect = Annotated[Principal, Depends(indirect)]


def _throwaway_app(mount_static: str) -> FastAPI:
    """Routes of every shape, each either guarded in one of the ways FastAPI allows, or not."""
    app = FastAPI()

    @app.get("/guarded")
    def guarded_endpoint(_: Reader) -> dict[str, str]:
        return {}

    @app.post("/guarded-indirectly")
    def guarded_indirectly(_: Indirect) -> dict[str, str]:
        return {}

    @app.get("/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    @app.api_route("/listed", methods=["GET", "DELETE"])
    def listed() -> dict[str, str]:  # public for GET only: DELETE is a hole
        return {}

    router = APIRouter(prefix="/admin", dependencies=[Depends(Requires(Permission.ADMIN_AREA))])

    @router.get("/page/{item_id}")
    def admin_page(item_id: int) -> dict[str, str]:
        return {}

    app.include_router(router)
    sub = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @sub.get("/inner")
    def inner() -> dict[str, str]:
        return {}

    app.mount("/sub", sub)
    app.mount("/static", StaticFiles(directory=mount_static))
    app.router.routes.append(Route("/plain", lambda request: PlainTextResponse("hi"), methods=["POST"]))
    return app


def test_the_walk_fails_for_a_route_without_a_guard(tmp_path: Any) -> None:
    app = _throwaway_app(str(tmp_path))
    public = PUBLIC_ROUTES | {("GET", "/listed")}
    assert unprotected(app, public) == [
        "DELETE /listed",
        "GET /forgotten",
        "GET /static",
        "GET /sub/inner",
        "POST /plain",
    ]
    walked = {(e.method, e.path): e.guarded for e in endpoints(app.routes)}
    assert walked[("GET", "/guarded")] and walked[("POST", "/guarded-indirectly")]
    assert walked[("GET", "/admin/page/{item_id}")]  # the router's own dependency


def test_a_route_added_to_the_real_app_without_a_guard_fails_the_walk(app: FastAPI) -> None:
    assert unprotected(app) == []

    @app.get("/queries/sneaky")
    def sneaky() -> dict[str, str]:
        return {"customers": "all of them"}

    assert unprotected(app) == ["GET /queries/sneaky"]


# ---------------------------------------------------------------- roles on a sample of endpoints

ALLOWED = 200
DAYS = {"ai_service": "2026-12-12", "owner": "2026-12-13", "admin": "2026-12-14", "staff": "2026-12-15"}


def headers_of(container: Container, role: Role) -> dict[str, str]:
    return service_headers(container, role, service=f"as-{role}")


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def reference(client: TestClient, container: Container) -> str:
    made = client.post(
        "/commands/create-booking",
        json=create_booking_body(day="2026-12-20"),
        headers=service_headers(container) | {"Idempotency-Key": "setup"},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["reference"])


EXPECTED: dict[Role, dict[str, int]] = {
    #              create-booking, availability, booking, schedule (all chefs)
    "owner": {"create": 201, "availability": ALLOWED, "booking": ALLOWED, "schedule": ALLOWED},
    "admin": {"create": 201, "availability": ALLOWED, "booking": ALLOWED, "schedule": ALLOWED},
    "staff": {"create": 201, "availability": ALLOWED, "booking": ALLOWED, "schedule": ALLOWED},
    "chef": {"create": 403, "availability": 403, "booking": 403, "schedule": 403},  # no chef id: see below
    "ai_service": {"create": 201, "availability": ALLOWED, "booking": ALLOWED, "schedule": 403},
}


def test_the_matrix_covers_every_role() -> None:
    assert set(EXPECTED) == set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_what_the_matrix_says(
    client: TestClient, container: Container, reference: str, role: Role
) -> None:
    auth = headers_of(container, role)
    expected = EXPECTED[role]
    created = client.post(
        "/commands/create-booking",
        json=create_booking_body(day=DAYS.get(role, "2026-12-16")),
        headers=auth | {"Idempotency-Key": f"as-{role}"},
    )
    assert created.status_code == expected["create"], created.text
    availability = client.get("/queries/availability", params={"date": "2026-12-12", "zip": "95816"}, headers=auth)
    assert availability.status_code == expected["availability"], availability.text
    booking = client.get(f"/queries/bookings/{reference}", headers=auth)
    assert booking.status_code == expected["booking"], booking.text
    schedule = client.get("/queries/schedule", params={"from": "2026-12-01", "to": "2026-12-31"}, headers=auth)
    assert schedule.status_code == expected["schedule"], schedule.text
    if expected["schedule"] == ALLOWED:
        assert reference in {event["reference"] for event in schedule.json()["events"]}
    for refused in (created, availability, booking, schedule):
        if refused.status_code == 403:
            assert refused.json()["error"]["code"] == "forbidden"


def start_session(container: Container, role: Role, *, chef_id: str | None = None, mfa_passed: bool = True) -> str:
    """A staff user of `role` and a live session of theirs: the cookie value."""
    user_id = str(uuid.uuid4())
    with container.uow() as uow:
        uow.staff.add(
            user_id=user_id,
            email=f"{role}-{user_id[:8]}@example.com",
            role=role,
            password_hash=None,
            chef_id=chef_id,
        )
        token, _ = uow.sessions.start(user_id, method="password", mfa_passed=mfa_passed, at=container.clock.now())
        uow.commit()
    return token


def test_a_chef_sees_their_own_schedule_only(client: TestClient, container: Container, reference: str) -> None:
    booked = client.get(f"/queries/bookings/{reference}", headers=service_headers(container)).json()
    chefs = [chef.id for chef in container.business.chefs]
    own = next((c for c in chefs if c == booked.get("chef_id")), chefs[0])
    other = next(c for c in chefs if c != own)
    client.cookies.set(SESSION_COOKIE, start_session(container, "chef", chef_id=own))
    window = {"from": "2026-12-01", "to": "2026-12-31"}

    mine = client.get("/queries/schedule", params=window | {"chef_id": own})
    assert mine.status_code == 200, mine.text
    assert {event["chef_id"] for event in mine.json()["events"]} <= {own}
    unasked = client.get("/queries/schedule", params=window)  # no chef named: their own
    assert unasked.status_code == 200 and unasked.json() == mine.json()
    theirs = client.get("/queries/schedule", params=window | {"chef_id": other})
    assert theirs.status_code == 403 and theirs.json()["error"]["field"] == "chef_id"
    assert client.get("/queries/availability", params={"date": "2026-12-12", "zip": "95816"}).status_code == 403
    assert client.get(f"/queries/bookings/{reference}").status_code == 403


def test_a_chef_without_a_chef_record_sees_no_schedule(client: TestClient, container: Container) -> None:
    client.cookies.set(SESSION_COOKIE, start_session(container, "chef"))
    refused = client.get("/queries/schedule", params={"from": "2026-12-01", "to": "2026-12-31"})
    assert refused.status_code == 403


@pytest.mark.parametrize("role", PEOPLE_ROLES)
def test_people_reach_the_matrix_through_their_sessions(client: TestClient, container: Container, role: Role) -> None:
    cookie = start_session(container, role, chef_id=container.business.chefs[0].id if role == "chef" else None)
    client.cookies.set(SESSION_COOKIE, cookie)
    availability = client.get("/queries/availability", params={"date": "2026-12-12", "zip": "95816"})
    assert availability.status_code == (403 if role == "chef" else 200), availability.text
    with container.uow() as uow:
        session = uow.sessions.by_token(cookie)
    assert session is not None
    body = create_booking_body(day="2026-12-17")
    without_csrf = client.post("/commands/create-booking", json=body, headers={"Idempotency-Key": f"s-{role}"})
    assert without_csrf.status_code == 403  # a cookie alone never changes anything
    with_csrf = client.post(
        "/commands/create-booking",
        json=body,
        headers={"Idempotency-Key": f"s-{role}", "X-CSRF-Token": session.csrf_token},
    )
    assert with_csrf.status_code == (403 if role == "chef" else 201), with_csrf.text


@pytest.mark.parametrize("role", PEOPLE_ROLES)
def test_a_session_that_owes_its_second_factor_reaches_nothing(  # owner/admin always; others once enrolled
    client: TestClient, container: Container, role: Role
) -> None:
    client.cookies.set(SESSION_COOKIE, start_session(container, role, mfa_passed=False))
    refused = client.get("/queries/availability", params={"date": "2026-12-12", "zip": "95816"})
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "mfa"


# ---------------------------------------------------------------- tokens that must not work

AVAILABILITY = "/queries/availability?date=2026-12-12&zip=95816"


def test_no_credentials_is_401_with_a_challenge(client: TestClient) -> None:
    for response in (
        client.get(AVAILABILITY),
        client.post("/commands/create-booking", json=create_booking_body(), headers={"Idempotency-Key": "k"}),
        client.get("/queries/schedule", params={"from": "2026-12-01", "to": "2026-12-02"}),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == "not_authenticated"
    for bad in ("Basic abc", "Bearer ", "Bearer not.a.jwt", "Bearer " + "A" * 5000):
        refused = client.get(AVAILABILITY, headers={"Authorization": bad})
        assert refused.status_code == 401, bad


def test_a_token_narrowed_to_one_scope_does_only_that(client: TestClient, container: Container) -> None:
    token = container.tokens.issue("narrow", frozenset({Permission.AVAILABILITY_READ})).token
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get(AVAILABILITY, headers=auth).status_code == 200
    refused = client.post(
        "/commands/create-booking", json=create_booking_body(), headers=auth | {"Idempotency-Key": "narrow"}
    )
    assert refused.status_code == 403 and "bookings:write" in refused.json()["error"]["message"]


def test_an_expired_token_is_refused(client: TestClient, container: Container, clock: FixedClock) -> None:
    auth = service_headers(container)
    assert client.get(AVAILABILITY, headers=auth).status_code == 200
    clock.current += timedelta(minutes=16)
    expired = client.get(AVAILABILITY, headers=auth)
    assert expired.status_code == 401 and expired.headers["www-authenticate"].startswith("Bearer")


def test_a_token_signed_with_another_key_is_refused(client: TestClient, container: Container) -> None:
    forged = TokenIssuer(secrets.token_bytes(32), container.clock).issue(
        "forged", permissions_of("owner"), role="owner"
    )
    refused = client.get(AVAILABILITY, headers={"Authorization": f"Bearer {forged.token}"})
    assert refused.status_code == 401


def test_a_token_never_grants_more_than_its_role(client: TestClient, container: Container) -> None:
    greedy = frozenset({Permission.AVAILABILITY_READ, Permission.USERS_MANAGE, Permission.SCHEDULE_READ})
    token = container.tokens.issue("greedy", greedy | {Permission.SCHEDULE_READ_OWN}).token  # role ai_service
    principal = principal_from_token(container, token)
    assert principal.role == "ai_service" and principal.kind == "service" and principal.id == "greedy"
    assert principal.permissions == {Permission.AVAILABILITY_READ}
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get(AVAILABILITY, headers=auth).status_code == 200
    schedule = client.get("/queries/schedule", params={"from": "2026-12-01", "to": "2026-12-02"}, headers=auth)
    assert schedule.status_code == 403
    # Whatever route needs users:manage (the staff admin pages), the token's claim alone does not reach it.
    for endpoint in endpoints(client.app.routes):  # type: ignore[attr-defined]
        if _needs(getattr(endpoint.route, "dependant", None), Permission.USERS_MANAGE):
            response = client.request(endpoint.method, _sample_path(endpoint.route, endpoint.path), headers=auth)
            assert response.status_code == 403, f"{endpoint.method} {endpoint.path}"


def _needs(dependant: Dependant | None, permission: Permission) -> bool:
    return dependant is not None and any(
        (isinstance(dep.call, Requires) and dep.call.permission == permission) or _needs(dep, permission)
        for dep in dependant.dependencies
    )
