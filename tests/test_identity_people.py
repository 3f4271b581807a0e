"""People: local accounts, password login with throttling, sessions, CSRF, TOTP MFA, the CLI.

The browser tests drive the real pages over https://testserver (so Secure cookies flow) with
`Accept: text/html`, on the real database; time moves with the fixed clock.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from api.app import create_app
from api.security import SESSION_COOKIE, Principal, Requires
from db.engine import sqlalchemy_url
from db.tables import auth_events, login_attempts, staff_sessions, staff_users
from domain.access import Permission
from domain.clock import FixedClock
from domain.errors import DomainError, Forbidden, NotAuthenticated, TooManyAttempts
from domain.passwords import (
    LOCKOUT,
    MIN_LENGTH,
    account_lock_until,
    ip_throttle_until,
    password_problem,
    wait_for,
)
from hibachi.bootstrap import Container
from hibachi.settings import KEY_SETTINGS, PROJECT_ROOT, fresh_keys
from services import identity

PASSWORD = "grill onion volcano 42"
HTML = {"Accept": "text/html"}


# ---------------------------------------------------------------- helpers


@pytest.fixture
def app(container: Container) -> FastAPI:
    app = create_app(container)

    async def probe(principal: Annotated[Principal, Depends(Requires(Permission.USERS_MANAGE))]) -> dict[str, str]:
        return {"user": principal.id}

    app.add_api_route("/probe/users", probe, methods=["GET"])
    return app


def browser(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="https://testserver", headers=HTML, follow_redirects=False)


@pytest.fixture
def web(app: FastAPI) -> Iterator[TestClient]:
    with browser(app) as client:
        yield client


def make_user(container: Container, email: str, role: str = "staff", **kwargs: Any) -> identity.CreatedUser:
    return identity.create_user(container, email=email, role=role, password=PASSWORD, **kwargs)


def csrf_in(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD, next: str | None = None) -> Any:
    form = client.get("/login", params={"next": next} if next else None)
    assert form.status_code == 200
    data = {"email": email, "password": password, "csrf_token": csrf_in(form.text), "next": next or ""}
    return client.post("/login", data=data)


def events(container: Container, user_id: str | None = None) -> list[str]:
    query = select(auth_events.c.kind).order_by(auth_events.c.id)
    if user_id:
        query = query.where(auth_events.c.user_id == user_id)
    with container.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def error_of(page: str) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page, re.S)
    assert found, page
    return found.group(1)


def enrol_admin(container: Container, client: TestClient, clock: FixedClock, email: str) -> tuple[str, list[str]]:
    """An admin made, logged in with the password and enrolled; returns the TOTP secret and recovery codes."""
    made = make_user(container, email, "admin")
    assert made.enrolment_code
    assert login(client, email).headers["location"] == "/account/mfa/enrol"
    page = client.get("/account/mfa/enrol")
    started = client.post(
        "/account/mfa/enrol",
        data={"csrf_token": csrf_in(page.text), "action": "start", "enrolment_code": made.enrolment_code},
    )
    secret = re.search(r"<code>([A-Z2-7]+)</code>", started.text)
    assert secret
    done = client.post(
        "/account/mfa/enrol",
        data={
            "csrf_token": csrf_in(started.text),
            "action": "confirm",
            "code": pyotp.TOTP(secret.group(1)).at(clock.now()),
        },
    )
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li>([a-z2-7]{5}-[a-z2-7]{5})</li>", done.text)
    return secret.group(1), codes


# ---------------------------------------------------------------- password rules (pure)


def test_password_policy() -> None:
    short = password_problem("grill onion", email="dana@example.com")
    assert short and f"at least {MIN_LENGTH} characters" in short
    common = identity.common_passwords()
    assert "qwerty123456" in common
    problem = password_problem("QWERTY123456", email="dana@example.com", common=common)
    assert problem and "common" in problem
    problem = password_problem("dana.lee-is-the-best", email="Dana.Lee@example.com", common=common)
    assert problem and "email" in problem
    assert password_problem("x" * 257, common=common)
    assert password_problem(PASSWORD, email="dana@example.com", common=common) is None


def test_create_user_refuses_weak_passwords_and_stores_argon2id(container: Container) -> None:
    with pytest.raises(DomainError, match="at least 12 characters") as short:
        identity.create_user(container, email="a@example.com", role="staff", password="short pass")
    assert short.value.field == "password"
    with pytest.raises(DomainError, match="common"):
        identity.create_user(container, email="a@example.com", role="staff", password="1q2w3e4r5t6y")
    made = make_user(container, "  Dana.Lee@Example.COM ")
    assert made.email == "dana.lee@example.com" and made.enrolment_code is None
    with container.uow() as uow:
        user = uow.staff.get(made.user_id)
    assert user and user.password_hash and user.password_hash.startswith("$argon2id$")
    with pytest.raises(DomainError, match="exists"):
        make_user(container, "dana.lee@example.com")
    assert "user_created" in events(container, made.user_id)


def test_throttle_rules() -> None:
    t0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    four = [t0 + timedelta(minutes=i) for i in range(4)]
    assert account_lock_until(four) is None
    five = [*four, t0 + timedelta(minutes=14)]
    assert account_lock_until(five) == t0 + timedelta(minutes=14) + LOCKOUT
    spread = [t0 + timedelta(minutes=4 * i) for i in range(5)]  # 16 minutes from first to fifth
    assert account_lock_until(spread) is None
    assert ip_throttle_until([t0] * 19) is None
    until = ip_throttle_until([t0] * 20)
    assert until == t0 + LOCKOUT
    assert wait_for(until, t0 + timedelta(minutes=10)) == timedelta(minutes=5)
    assert wait_for(until, t0 + LOCKOUT) is None


# ---------------------------------------------------------------- login and throttling


def test_login_sets_a_secure_session_cookie_and_follows_local_next_only(container: Container, web: TestClient) -> None:
    made = make_user(container, "dana@example.com")
    response = login(web, "Dana@Example.com", next="/account?tab=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/account?tab=1"
    cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "Secure" in cookie and "samesite=lax" in cookie.lower()
    page = web.get("/account")
    assert page.status_code == 200 and "dana@example.com" in page.text
    assert "Open sessions</dt><dd>1" in page.text
    assert events(container, made.user_id)[-1] == "login"
    with browser(web.app) as other:  # type: ignore[arg-type]
        for evil in ("https://evil.example/x", "//evil.example", "/\\evil.example"):
            assert login(other, "dana@example.com", next=evil).headers["location"] == "/account"


def test_the_login_form_needs_its_csrf_token(container: Container, web: TestClient) -> None:
    make_user(container, "dana@example.com")
    web.get("/login")
    refused = web.post("/login", data={"email": "dana@example.com", "password": PASSWORD, "csrf_token": "forged"})
    assert refused.status_code == 403 and SESSION_COOKIE not in refused.cookies
    with browser(web.app) as fresh:  # type: ignore[arg-type]
        # A token copied from another browser's form is no good without that browser's cookie.
        token = csrf_in(web.get("/login").text)
        data = {"email": "dana@example.com", "password": PASSWORD, "csrf_token": token}
        assert fresh.post("/login", data=data).status_code == 403


def test_unknown_email_and_wrong_password_read_the_same_and_cost_the_same(
    container: Container, web: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(container, "dana@example.com")
    verified: list[str | bytes] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verified.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(identity, "HASHER", CountingHasher())
    wrong = login(web, "dana@example.com", "not the password at all")
    unknown = login(web, "nobody@example.com", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert error_of(wrong.text) == error_of(unknown.text) == "Wrong email or password."
    assert len(verified) == 2  # the unknown email still paid for one argon2 verify
    assert events(container).count("login_failed") == 2


def test_five_failures_lock_the_account_for_15_minutes(
    container: Container, web: TestClient, clock: FixedClock
) -> None:
    made = make_user(container, "dana@example.com")
    for _ in range(4):
        assert login(web, "dana@example.com", "wrong password!!").status_code == 401
        clock.advance(timedelta(minutes=1))
    locked = login(web, "dana@example.com", "wrong password!!")
    assert locked.status_code == 429
    assert "locked for 15 minutes" in error_of(locked.text)
    assert locked.headers["retry-after"] == "900"
    clock.advance(timedelta(minutes=14))
    still = login(web, "dana@example.com")  # even the right password waits out the lock
    assert still.status_code == 429 and "1 minute." in error_of(still.text)
    with container.engine.connect() as conn:
        row = conn.execute(select(staff_users).where(staff_users.c.id == made.user_id)).one()
    assert row.failed_logins == 5 and row.locked_until is not None
    clock.advance(timedelta(minutes=1))
    assert login(web, "dana@example.com").status_code == 303
    with container.engine.connect() as conn:
        row = conn.execute(select(staff_users).where(staff_users.c.id == made.user_id)).one()
    assert row.failed_logins == 0 and row.locked_until is None
    kinds = events(container, made.user_id)
    assert kinds.count("login_failed") == 5
    assert "account_locked" in kinds and "login_throttled" in kinds and kinds[-1] == "login"
    # An unknown email locks the same way: the lock message tells nothing about the account.
    for _ in range(5):
        last = login(web, "ghost@example.com", "wrong password!!")
    assert last.status_code == 429 and "locked for 15 minutes" in error_of(last.text)


def test_twenty_failures_from_one_address_throttle_it(container: Container, web: TestClient, clock: FixedClock) -> None:
    make_user(container, "dana@example.com")
    for i in range(20):  # four tries each at five made-up accounts: no account lock, but the address
        response = login(web, f"guess{i % 5}@example.com", "wrong password!!")
        assert response.status_code == 401, i
    throttled = login(web, "dana@example.com")
    assert throttled.status_code == 429
    assert "from your network" in error_of(throttled.text) and "15 minutes" in error_of(throttled.text)
    assert int(throttled.headers["retry-after"]) == 900
    # Another address is not held back (the service takes the client's address).
    result = identity.password_login(container, "dana@example.com", PASSWORD, "203.0.113.7")
    assert result.session.mfa_passed
    clock.advance(timedelta(minutes=15))
    assert login(web, "dana@example.com").status_code == 303
    assert "login_throttled" in events(container)
    clock.advance(timedelta(days=1, minutes=1))
    # kept a day, then housekeeping may drop them
    assert identity.purge_login_attempts(container.uow, container.clock) == 22


# ---------------------------------------------------------------- sessions, CSRF, logout


def test_logout_needs_the_csrf_token_and_ends_the_session_server_side(container: Container, web: TestClient) -> None:
    make_user(container, "dana@example.com")
    login(web, "dana@example.com")
    cookie = web.cookies[SESSION_COOKIE]
    assert web.post("/logout").status_code == 403
    assert web.post("/logout", data={"csrf_token": "nope"}).status_code == 403
    assert web.get("/account").status_code == 200  # still alive
    token = csrf_in(web.get("/account").text)
    out = web.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    with browser(web.app) as thief:  # type: ignore[arg-type]
        thief.cookies.set(SESSION_COOKIE, cookie, domain="testserver")
        page = thief.get("/account")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Faccount"
        assert thief.get("/account", headers={"Accept": "application/json"}).status_code == 401
    assert events(container)[-1] == "logout"


def test_sessions_end_after_30_idle_minutes_and_after_12_hours(
    container: Container, web: TestClient, clock: FixedClock
) -> None:
    make_user(container, "dana@example.com")
    login(web, "dana@example.com")
    clock.advance(timedelta(minutes=29))
    assert web.get("/account").status_code == 200
    clock.advance(timedelta(minutes=30))
    assert web.get("/account").status_code == 303  # idle
    login(web, "dana@example.com")
    for _ in range(28):  # a request every 25 minutes keeps it from idling ...
        clock.advance(timedelta(minutes=25))
        assert web.get("/account").status_code == 200
    clock.advance(timedelta(minutes=20))  # 11 h 60 min after login ...
    assert web.get("/account").status_code == 303  # ... it is over, however active
    with container.engine.connect() as conn:
        reasons = list(conn.execute(select(staff_sessions.c.ended_reason).order_by(staff_sessions.c.created_at)))
    assert [r.ended_reason for r in reasons] == ["idle", "absolute"]


def test_log_out_everywhere_ends_every_session(container: Container, app: FastAPI) -> None:
    made = make_user(container, "dana@example.com")
    with browser(app) as laptop, browser(app) as phone:
        login(laptop, "dana@example.com")
        login(phone, "dana@example.com")
        assert "Open sessions</dt><dd>2" in phone.get("/account").text
        token = csrf_in(laptop.get("/account").text)
        assert laptop.post("/logout/everywhere", data={"csrf_token": token}).status_code == 303
        assert laptop.get("/account").status_code == 303
        assert phone.get("/account").status_code == 303
    assert "logout_everywhere" in events(container, made.user_id)


def test_a_role_change_or_deactivation_ends_sessions(container: Container, web: TestClient) -> None:
    made = make_user(container, "dana@example.com")
    login(web, "dana@example.com")
    code = identity.change_role(container, email="dana@example.com", role="admin")
    assert code  # an admin who has not enrolled gets an enrolment code
    assert web.get("/account").status_code == 303
    login(web, "dana@example.com")
    identity.deactivate(container, email="dana@example.com")
    assert web.get("/account").status_code == 303
    refused = login(web, "dana@example.com")
    assert refused.status_code == 401 and error_of(refused.text) == "Wrong email or password."
    kinds = events(container, made.user_id)
    assert "role_changed" in kinds and "user_deactivated" in kinds


def test_only_an_owner_makes_owners(container: Container) -> None:
    owner = make_user(container, "owner@example.com", "owner")
    admin = make_user(container, "admin@example.com", "admin")
    with container.uow() as uow:
        admin_user = uow.staff.get(admin.user_id)
        owner_user = uow.staff.get(owner.user_id)
    assert admin_user and owner_user
    with pytest.raises(Forbidden):
        identity.create_user(container, email="x@example.com", role="owner", password=PASSWORD, actor=admin_user)
    made = identity.create_user(container, email="y@example.com", role="staff", password=PASSWORD, actor=admin_user)
    assert made.role == "staff"
    with pytest.raises(Forbidden):
        identity.change_role(container, email="owner@example.com", role="staff", actor=admin_user)
    with pytest.raises(DomainError, match="only owner"):
        identity.deactivate(container, email="owner@example.com", actor=owner_user)


# ---------------------------------------------------------------- MFA


def test_an_admin_with_only_a_password_reaches_nothing_and_cannot_enrol_without_the_code(
    container: Container, web: TestClient, clock: FixedClock
) -> None:
    made = make_user(container, "admin@example.com", "admin")
    assert made.enrolment_code and made.enrolment_code_expires_at == clock.now() + timedelta(days=7)
    response = login(web, "admin@example.com", next="/account")
    assert response.headers["location"] == "/account/mfa/enrol?next=%2Faccount"
    refused = web.get("/probe/users", headers={"Accept": "application/json"})
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "mfa"
    assert web.get("/account").headers["location"].startswith("/login/mfa")
    assert web.get("/login/mfa").headers["location"] == "/account/mfa/enrol"

    page = web.get("/account/mfa/enrol")
    assert "Enrolment code" in page.text
    token = csrf_in(page.text)
    no_code = web.post("/account/mfa/enrol", data={"csrf_token": token, "action": "start"})
    assert no_code.status_code == 422 and "<svg" not in no_code.text
    wrong = web.post(
        "/account/mfa/enrol", data={"csrf_token": token, "action": "start", "enrolment_code": "AAAA-BBBB-CCCC-DDDD"}
    )
    assert wrong.status_code == 422 and "enrolment code is not right" in error_of(wrong.text)
    no_csrf = web.post("/account/mfa/enrol", data={"action": "start", "enrolment_code": made.enrolment_code})
    assert no_csrf.status_code == 403

    started = web.post(
        "/account/mfa/enrol",
        data={"csrf_token": token, "action": "start", "enrolment_code": made.enrolment_code.lower()},
    )
    assert started.status_code == 200
    assert "<svg" in started.text and "<path" in started.text
    secret = re.search(r"<code>([A-Z2-7]+)</code>", started.text)
    assert secret
    assert web.get("/account/mfa/enrol").text.count(secret.group(1)) == 1  # a reload shows the same secret
    bad = web.post("/account/mfa/enrol", data={"csrf_token": token, "action": "confirm", "code": "000000"})
    assert bad.status_code == 422
    assert web.get("/probe/users", headers={"Accept": "application/json"}).status_code == 403

    totp = pyotp.TOTP(secret.group(1))
    done = web.post("/account/mfa/enrol", data={"csrf_token": token, "action": "confirm", "code": totp.at(clock.now())})
    assert done.status_code == 200 and "shown only" in done.text
    assert len(re.findall(r"<li>[a-z2-7]{5}-[a-z2-7]{5}</li>", done.text)) == 10
    assert web.get("/probe/users", headers={"Accept": "application/json"}).json() == {"user": made.user_id}
    assert web.get("/account").status_code == 200
    with container.engine.connect() as conn:
        row = conn.execute(select(staff_users).where(staff_users.c.id == made.user_id)).one()
    assert row.mfa_secret_enc and row.mfa_enrol_code_hash is None and row.mfa_pending_enc is None
    assert secret.group(1).encode() not in row.mfa_secret_enc  # encrypted at rest
    kinds = events(container, made.user_id)
    assert {"user_created", "login", "mfa_failed", "mfa_enrol_started", "mfa_enrolled"} <= set(kinds)


def test_the_enrolment_code_expires_after_7_days(container: Container, web: TestClient, clock: FixedClock) -> None:
    made = make_user(container, "admin@example.com", "admin")
    clock.advance(timedelta(days=7))
    login(web, "admin@example.com")
    token = csrf_in(web.get("/account/mfa/enrol").text)
    late = web.post(
        "/account/mfa/enrol", data={"csrf_token": token, "action": "start", "enrolment_code": made.enrolment_code}
    )
    assert late.status_code == 422 and "expired" in error_of(late.text)


def test_an_enrolled_admin_logs_in_with_totp_or_a_recovery_code_once(
    container: Container, app: FastAPI, clock: FixedClock
) -> None:
    with browser(app) as first:
        secret, codes = enrol_admin(container, first, clock, "admin@example.com")
    assert len(codes) == 10
    clock.advance(timedelta(minutes=2))
    with browser(app) as second:
        assert login(second, "admin@example.com", next="/account").headers["location"] == "/login/mfa?next=%2Faccount"
        assert second.get("/probe/users", headers={"Accept": "application/json"}).status_code == 403
        # Enrolling again needs the second factor first: the password alone cannot replace it.
        assert second.get("/account/mfa/enrol").headers["location"].startswith("/login/mfa")
        page = second.get("/login/mfa", params={"next": "/account"})
        token = csrf_in(page.text)
        used = second.post("/login/mfa", data={"csrf_token": token, "code": codes[0].upper(), "next": "/account"})
        assert used.status_code == 303 and used.headers["location"] == "/account"
        assert second.get("/probe/users", headers={"Accept": "application/json"}).status_code == 200
        assert "9 recovery codes left" in second.get("/account").text
    with browser(app) as third:
        login(third, "admin@example.com")
        token = csrf_in(third.get("/login/mfa").text)
        again = third.post("/login/mfa", data={"csrf_token": token, "code": codes[0]})
        assert again.status_code == 422  # a recovery code works once
        code = pyotp.TOTP(secret).at(clock.now())
        assert third.post("/login/mfa", data={"csrf_token": token, "code": code}).status_code == 303
        assert third.get("/probe/users", headers={"Accept": "application/json"}).status_code == 200
    with browser(app) as fourth:
        login(fourth, "admin@example.com")
        token = csrf_in(fourth.get("/login/mfa").text)
        replay = fourth.post("/login/mfa", data={"csrf_token": token, "code": code})
        assert replay.status_code == 422  # the same TOTP code is not accepted twice
    kinds = events(container)
    assert kinds.count("mfa_passed") == 2 and kinds.count("mfa_failed") == 2


def test_wrong_second_factor_codes_lock_the_account(container: Container, app: FastAPI, clock: FixedClock) -> None:
    with browser(app) as first:
        enrol_admin(container, first, clock, "admin@example.com")
    with browser(app) as thief:  # knows the password, not the phone
        login(thief, "admin@example.com")
        token = csrf_in(thief.get("/login/mfa").text)
        statuses = [
            thief.post("/login/mfa", data={"csrf_token": token, "code": f"{n:06d}"}).status_code for n in range(6)
        ]
    assert statuses[:4] == [422] * 4 and statuses[4:] == [429, 429]
    assert "account_locked" in events(container)


def test_a_staff_member_needs_no_second_factor_until_enrolled(
    container: Container, web: TestClient, clock: FixedClock
) -> None:
    make_user(container, "dana@example.com")
    assert login(web, "dana@example.com").headers["location"] == "/account"
    page = web.get("/account/mfa/enrol")
    assert "Enrolment code" not in page.text
    started = web.post("/account/mfa/enrol", data={"csrf_token": csrf_in(page.text), "action": "start"})
    secret = re.search(r"<code>([A-Z2-7]+)</code>", started.text)
    assert secret
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    web.post("/account/mfa/enrol", data={"csrf_token": csrf_in(started.text), "action": "confirm", "code": code})
    clock.advance(timedelta(minutes=1))
    with browser(web.app) as again:  # type: ignore[arg-type]
        assert login(again, "dana@example.com").headers["location"] == "/login/mfa"
        assert again.get("/account").headers["location"].startswith("/login/mfa")


def test_services_refuse_what_the_pages_rely_on(container: Container, clock: FixedClock) -> None:
    made = make_user(container, "admin@example.com", "admin")
    result = identity.password_login(container, "admin@example.com", PASSWORD, "198.51.100.1")
    assert result.mfa_pending
    with pytest.raises(DomainError, match="enrol first"):
        identity.verify_second_factor(container, result.session, "123456", "198.51.100.1")
    identity.logout(container, result.session)
    with pytest.raises(NotAuthenticated):
        identity.begin_enrolment(container, result.session, None, enrolment_code=made.enrolment_code)
    for _ in range(4):
        with pytest.raises(identity.LoginFailed):
            identity.password_login(container, "admin@example.com", "not it at all!!", "198.51.100.1")
    with pytest.raises(TooManyAttempts) as locked:
        identity.password_login(container, "admin@example.com", "not it at all!!", "198.51.100.1")
    assert locked.value.retry_after_seconds == 900


# ---------------------------------------------------------------- the command line


def test_cli_user_create_prints_the_id_and_an_owner_enrolment_code(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in KEY_SETTINGS}
    env |= fresh_keys("k1") | {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data")}

    def hibachi(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hibachi.cli", *args],
            input=stdin,
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    made = hibachi(
        "user", "create", "--email", "Owner@Example.com", "--role", "owner", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert made.returncode == 0, made.stderr
    user_id = re.search(r"^user_id: (\S+)$", made.stdout, re.M)
    code = re.search(r"^enrolment code: ([A-Z2-7-]+)$", made.stdout, re.M)
    assert user_id and code and "/account/mfa/enrol" in made.stdout
    weak = hibachi("user", "create", "--email", "x@example.com", "--role", "staff", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "hibachi: password: use at least 12 characters" in weak.stderr
    chef = hibachi("user", "create", "--email", "c@example.com", "--role", "chef", "--chef", "Nobody", stdin=PASSWORD)
    assert chef.returncode == 2 and "--chef: no chef named 'Nobody'" in chef.stderr
    promoted = hibachi("user", "set-role", "--email", "owner@example.com", "--role", "admin")
    assert promoted.returncode == 2 and "only owner" in promoted.stderr
    gone = hibachi("user", "deactivate", "--email", "nobody@example.com")
    assert gone.returncode == 2 and "no account" in gone.stderr
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT role, password_hash, mfa_enrol_code_hash FROM identity.staff_users WHERE id = :id"),
                {"id": user_id.group(1)},
            ).one()
            kinds = list(conn.execute(select(auth_events.c.kind, auth_events.c.actor)))
            attempts = conn.execute(select(login_attempts)).all()
    finally:
        engine.dispose()
    assert row.role == "owner" and row.password_hash.startswith("$argon2id$") and row.mfa_enrol_code_hash
    assert ("user_created", "cli") in [(k.kind, k.actor) for k in kinds]
    assert attempts == []


# ---------------------------------------------------------------- hardening from the second review


def test_non_ascii_csrf_tokens_and_codes_are_refused_not_500(container: Container, web: TestClient) -> None:
    make_user(container, "dana@example.com")
    form = web.get("/login")
    refused = web.post("/login", data={"email": "dana@example.com", "password": PASSWORD, "csrf_token": "é" * 40})
    assert refused.status_code in (400, 403, 422) and form.status_code == 200
    assert login(web, "dana@example.com").headers["location"] == "/account"
    for token in ("é", "\u0661\u0662"):
        assert web.post("/logout", data={"csrf_token": token}).status_code == 403
    api = web.post(
        "/commands/create-booking",
        json={},
        headers={b"X-CSRF-Token": "\u00e9\u00e9".encode("latin-1"), b"Idempotency-Key": b"k"},
    )
    assert api.status_code == 403


def test_full_width_digits_are_read_as_the_code_and_other_scripts_are_just_wrong(
    container: Container, web: TestClient, clock: FixedClock
) -> None:
    secret, _ = enrol_admin(container, web, clock, "ada@example.com")
    clock.advance(timedelta(minutes=1))
    with browser(web.app) as again:  # type: ignore[arg-type]
        login(again, "ada@example.com")
        page = again.get("/login/mfa")
        arabic = again.post("/login/mfa", data={"csrf_token": csrf_in(page.text), "code": "\u0661\u0662\u0663"})
        assert arabic.status_code == 422  # a wrong code, not a crash
        code = pyotp.TOTP(secret).at(clock.now())
        full_width = "".join(chr(ord(d) - ord("0") + 0xFF10) for d in code)
        passed = again.post("/login/mfa", data={"csrf_token": csrf_in(arabic.text), "code": full_width})
        assert passed.status_code == 303, passed.text


def test_a_promotion_to_admin_drops_a_factor_enrolled_as_staff_and_needs_the_enrolment_code(
    container: Container, web: TestClient, clock: FixedClock
) -> None:
    made = make_user(container, "sam@example.com")
    login(web, "sam@example.com")  # whoever holds the password could enrol their own authenticator as staff
    page = web.get("/account/mfa/enrol")
    started = web.post("/account/mfa/enrol", data={"csrf_token": csrf_in(page.text), "action": "start"})
    secret = re.search(r"<code>([A-Z2-7]+)</code>", started.text)
    assert secret
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    web.post("/account/mfa/enrol", data={"csrf_token": csrf_in(started.text), "action": "confirm", "code": code})
    enrolment_code = identity.change_role(container, email="sam@example.com", role="admin")
    assert enrolment_code  # the old factor is gone: the admin enrols again, with the code
    with container.uow() as uow:
        promoted = uow.staff.get(made.user_id)
    assert promoted is not None and not promoted.mfa_enrolled
    clock.advance(timedelta(minutes=1))
    with browser(web.app) as again:  # type: ignore[arg-type]
        assert login(again, "sam@example.com").headers["location"] == "/account/mfa/enrol"
        assert again.get("/probe/users").status_code == 403


def test_replacing_an_enrolled_factor_needs_a_code_from_it(
    container: Container, web: TestClient, clock: FixedClock
) -> None:
    secret, _ = enrol_admin(container, web, clock, "ada@example.com")
    page = web.get("/account/mfa/enrol")
    assert "current_code" in page.text
    without = web.post("/account/mfa/enrol", data={"csrf_token": csrf_in(page.text), "action": "start"})
    assert without.status_code == 422 and "<code>" not in without.text
    clock.advance(timedelta(minutes=1))
    current = pyotp.TOTP(secret).at(clock.now())
    started = web.post(
        "/account/mfa/enrol",
        data={"csrf_token": csrf_in(without.text), "action": "start", "current_code": current},
    )
    assert started.status_code == 200 and re.search(r"<code>([A-Z2-7]+)</code>", started.text)
    assert "mfa_failed" in events(container)
