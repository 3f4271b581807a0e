"""Single sign-on: the whole authorization code + PKCE flow against a loopback OpenID provider
(tests/oidc_provider.py), and every way it must refuse."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select, update

from api.app import create_app
from api.auth.oidc import SSO_STATE_COOKIE
from api.security import SESSION_COOKIE
from db.tables import auth_events, oidc_requests, staff_sessions
from domain.access import Role
from domain.clock import FixedClock
from hibachi.bootstrap import Container
from hibachi.settings import OidcProviderSettings, SettingsError, load_settings, parse_oidc_providers
from services.oidc import REQUESTS_TABLE, OidcService, safe_return_to, state_hash
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, LoopbackProvider, Misbehave, s256, serve

MFA_SECRET = "GTCAOJ6LC7HET32H5C7YGRDDASMPUDJC"
STAFF_PAGE = "/queries/availability?date=2026-12-20&zip=95816"  # needs availability:read (staff and up)


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackProvider]:
    with serve(LoopbackProvider()) as provider:
        yield provider


@pytest.fixture
def provider(idp: LoopbackProvider, clock: FixedClock) -> LoopbackProvider:
    """The loopback provider, well-behaved, on the tests' clock, its key back to k1."""
    idp.now = lambda: clock.now().timestamp()
    idp.misbehave = Misbehave()
    idp.email = "staff@example.com"
    idp.authorize_requests.clear()
    idp.token_requests.clear()
    return idp


@pytest.fixture
def oidc(provider: LoopbackProvider) -> Iterator[OidcService]:
    settings = OidcProviderSettings(
        name="test", issuer=provider.issuer, client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET)
    )
    with httpx.Client(timeout=5) as http:
        yield OidcService([settings], http=http)


@pytest.fixture
def client(container: Container, oidc: OidcService) -> Iterator[TestClient]:
    app = create_app(container)
    app.state.oidc = oidc
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client


def add_user(container: Container, email: str, role: Role = "staff", *, active: bool = True, mfa: bool = False) -> str:
    user_id = str(uuid.uuid4())
    with container.uow() as uow:
        uow.staff.add(user_id=user_id, email=email, role=role, password_hash=None)
        if not active:
            uow.staff.update(user_id, container.clock.now(), active=False)
        if mfa:
            uow.staff.update(user_id, container.clock.now(), mfa_secret=MFA_SECRET)
        uow.commit()
    return user_id


def begin(client: TestClient, next: str | None = None) -> str:
    """Our login route: the provider's authorization URL it redirects to."""
    response = client.get("/auth/oidc/test/login", params={"next": next} if next else {}, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def authorize(url: str) -> str:
    """The browser at the provider: it approves and sends us back (the callback URL)."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def sign_in(client: TestClient, next: str | None = None) -> Any:  # the test client's response
    return client.get(authorize(begin(client, next)), follow_redirects=False)


def events(container: Container, kind: str) -> list[dict[str, Any]]:
    with container.engine.connect() as conn:
        rows = conn.execute(select(auth_events).where(auth_events.c.kind == kind).order_by(auth_events.c.id)).all()
    return [{"user_id": row.user_id, "ip": row.ip, **row.detail} for row in rows]


def session_count(container: Container) -> int:
    with container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(staff_sessions)).scalar_one())


def assert_refused(container: Container, response: Any, reason: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "sso_refused"
    assert response.json()["error"]["reason"] == reason
    assert "hibachi_session" not in response.cookies
    assert session_count(container) == 0
    assert [e["reason"] for e in events(container, "oidc_failed")] == [reason]
    assert events(container, "oidc_login") == []


# ---------------------------------------------------------------------------- the happy path
def test_staff_signs_in_with_pkce_and_reaches_a_protected_route(
    container: Container, client: TestClient, provider: LoopbackProvider
) -> None:
    user_id = add_user(container, "staff@example.com")
    assert client.get(STAFF_PAGE).status_code == 401

    url = begin(client, next="/inbox?thread=7")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{provider.issuer}/authorize"
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == "https://testserver/auth/oidc/test/callback"
    assert query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url of a SHA-256, no padding
    assert len(query["state"]) >= 43 and len(query["nonce"]) >= 43

    # The state is stored hashed, never as sent; the verifier encrypted, and its S256 is the challenge.
    with container.engine.connect() as conn:
        row = conn.execute(select(oidc_requests)).one()
    assert row.state_hash == state_hash(query["state"])
    assert row.nonce == query["nonce"] and row.provider == "test" and row.return_to == "/inbox?thread=7"
    verifier = container.cipher.decrypt(
        row.code_verifier_enc, table=REQUESTS_TABLE, column="code_verifier_enc", row_id=row.state_hash.hex()
    )
    assert s256(verifier) == query["code_challenge"]
    assert verifier.encode() not in row.code_verifier_enc

    callback = authorize(url)
    assert callback.startswith("https://testserver/auth/oidc/test/callback?")
    response = client.get(callback, follow_redirects=False)
    assert response.status_code == 302, response.text
    assert response.headers["location"] == "/inbox?thread=7"
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("hibachi_session=") and "HttpOnly" in cookie and "Secure" in cookie
    assert "samesite=lax" in cookie.lower()

    # The code went back with the verifier and the client's credentials (client_secret_basic).
    (token_request,) = provider.token_requests
    assert token_request["code_verifier"] == verifier
    assert "client_secret" not in token_request

    assert client.get(STAFF_PAGE).status_code == 200
    with container.engine.connect() as conn:
        session = conn.execute(select(staff_sessions)).one()
        used_at = conn.execute(select(oidc_requests.c.used_at)).scalar_one()
    assert session.method == "oidc" and session.mfa_passed and str(session.user_id) == user_id
    assert used_at is not None
    (login,) = events(container, "oidc_login")
    assert login["user_id"] == user_id and login["provider"] == "test" and login["subject"] == "user-1"
    assert events(container, "login")[0]["method"] == "oidc"
    assert events(container, "oidc_failed") == []


def test_no_next_lands_on_the_account_page_and_an_outside_next_is_ignored(
    container: Container, client: TestClient, provider: LoopbackProvider
) -> None:
    add_user(container, "staff@example.com")
    assert sign_in(client).headers["location"] == "/account"
    for outside in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        assert sign_in(client, next=outside).headers["location"] == "/account"


def test_email_is_matched_whatever_its_case(
    container: Container, client: TestClient, provider: LoopbackProvider
) -> None:
    add_user(container, "staff@example.com")
    provider.email = "Staff@Example.COM"
    assert sign_in(client).status_code == 302


@pytest.mark.parametrize(
    ("role", "mfa", "step"),
    [
        ("admin", False, "/account/mfa/enrol"),
        ("owner", True, "/login/mfa"),
        ("staff", True, "/login/mfa"),
    ],
)
def test_sign_in_still_needs_the_second_factor(
    container: Container, client: TestClient, provider: LoopbackProvider, role: Role, mfa: bool, step: str
) -> None:
    add_user(container, "staff@example.com", role, mfa=mfa)
    response = sign_in(client, next="/admin/users")
    assert response.status_code == 302
    assert response.headers["location"] == f"{step}?next=%2Fadmin%2Fusers"
    with container.engine.connect() as conn:
        session = conn.execute(select(staff_sessions)).one()
    assert session.method == "oidc" and not session.mfa_passed
    assert events(container, "login")[0]["mfa_pending"] is True
    if role in ("owner", "admin"):
        refused = client.get(STAFF_PAGE)
        assert refused.status_code == 403
        assert refused.json()["error"]["field"] == "mfa"


def test_an_admin_signed_in_by_sso_reaches_the_pages_after_the_totp_step(
    container: Container, client: TestClient, provider: LoopbackProvider, clock: FixedClock
) -> None:
    add_user(container, "staff@example.com", "admin", mfa=True)
    assert sign_in(client, next="/inbox").headers["location"] == "/login/mfa?next=%2Finbox"
    assert client.get(STAFF_PAGE).status_code == 403
    with container.engine.connect() as conn:
        csrf = conn.execute(select(staff_sessions.c.csrf_token)).scalar_one()
    code = pyotp.TOTP(MFA_SECRET).at(clock.now())
    response = client.post(
        "/login/mfa", data={"code": code, "next": "/inbox", "csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code in (302, 303), response.text
    assert response.headers["location"] == "/inbox"
    assert client.get(STAFF_PAGE).status_code == 200


def test_the_discovery_document_and_keys_are_cached_and_a_new_key_id_refetches_the_keys(
    container: Container, client: TestClient, provider: LoopbackProvider, oidc: OidcService
) -> None:
    add_user(container, "staff@example.com")
    assert sign_in(client).status_code == 302
    provider.rotate_key("k2")
    try:
        assert sign_in(client).status_code == 302  # the cached set lacks k2: fetched again, once
    finally:
        provider.rotate_key("k1")
    assert len(events(container, "oidc_login")) == 2


# ---------------------------------------------------------------------------- refusals
def test_a_wrong_state_is_refused(container: Container, client: TestClient, provider: LoopbackProvider) -> None:
    add_user(container, "staff@example.com")
    callback = authorize(begin(client))
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    response = client.get("/auth/oidc/test/callback", params={"code": query["code"], "state": "x" + query["state"]})
    assert_refused(container, response, "state_not_this_browser")  # not the state this browser was given
    # ...and a state no sign-in started is unknown, even when the browser's cookie agrees with it
    client.cookies.clear()
    client.cookies.set(SSO_STATE_COOKIE, "x" + query["state"], domain="testserver.local", path="/auth/oidc")
    response = client.get("/auth/oidc/test/callback", params={"code": query["code"], "state": "x" + query["state"]})
    assert response.json()["error"]["reason"] == "state_unknown"
    assert provider.token_requests == []  # refused before the code was spent


def test_a_callback_opened_in_another_browser_is_refused(
    container: Container, client: TestClient, oidc: OidcService, provider: LoopbackProvider
) -> None:
    """Login CSRF: an attacker starts a sign-in as themselves and has the victim's browser open the
    callback; the victim must not end up logged in as the attacker."""
    add_user(container, "attacker@example.com")
    provider.email = "attacker@example.com"
    callback = authorize(begin(client))  # the attacker's browser, which stops before the callback
    app = create_app(container)
    app.state.oidc = oidc
    with TestClient(app, base_url="https://testserver") as victim:
        response = victim.get(callback, follow_redirects=False)
        assert response.status_code == 400 and response.json()["error"]["reason"] == "state_not_this_browser"
        assert SESSION_COOKIE not in response.cookies
    assert session_count(container) == 0


def test_a_missing_state_is_refused(container: Container, client: TestClient, provider: LoopbackProvider) -> None:
    add_user(container, "staff@example.com")
    response = client.get("/auth/oidc/test/callback", params={"code": "abc"})
    assert_refused(container, response, "state_missing")


def test_a_state_older_than_ten_minutes_is_refused(
    container: Container, client: TestClient, provider: LoopbackProvider, clock: FixedClock
) -> None:
    add_user(container, "staff@example.com")
    callback = authorize(begin(client))
    clock.current += timedelta(minutes=10, seconds=1)
    assert_refused(container, client.get(callback), "state_expired")


def test_a_replayed_callback_is_refused(container: Container, client: TestClient, provider: LoopbackProvider) -> None:
    add_user(container, "staff@example.com")
    callback = authorize(begin(client))
    assert client.get(callback, follow_redirects=False).status_code == 302
    client.cookies.clear()
    state = parse_qs(urlsplit(callback).query)["state"][0]
    # even with the browser's own state cookie
    client.cookies.set(SSO_STATE_COOKIE, state, domain="testserver.local", path="/auth/oidc")
    response = client.get(callback, follow_redirects=False)
    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "state_used"
    assert session_count(container) == 1  # only the first
    assert [e["reason"] for e in events(container, "oidc_failed")] == ["state_used"]


def test_a_replayed_code_under_a_fresh_state_is_refused_by_the_provider(
    container: Container, client: TestClient, provider: LoopbackProvider
) -> None:
    add_user(container, "staff@example.com")
    first = authorize(begin(client))
    code = parse_qs(urlsplit(first).query)["code"][0]
    assert client.get(first, follow_redirects=False).status_code == 302
    client.cookies.clear()
    fresh = parse_qs(urlsplit(authorize(begin(client))).query)["state"][0]
    response = client.get("/auth/oidc/test/callback", params={"state": fresh, "code": code})
    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "token_exchange_failed"
    assert "invalid_grant" in response.json()["error"]["message"]
    assert session_count(container) == 1


def test_a_wrong_verifier_is_refused(container: Container, client: TestClient, provider: LoopbackProvider) -> None:
    add_user(container, "staff@example.com")
    callback = authorize(begin(client))
    with container.engine.begin() as conn:
        key = conn.execute(select(oidc_requests.c.state_hash)).scalar_one()
        forged = container.cipher.encrypt("A" * 86, table=REQUESTS_TABLE, column="code_verifier_enc", row_id=key.hex())
        conn.execute(update(oidc_requests).values(code_verifier_enc=forged))
    response = client.get(callback)
    assert_refused(container, response, "token_exchange_failed")
    assert provider.token_requests[0]["code_verifier"] == "A" * 86


@pytest.mark.parametrize(
    ("misbehave", "reason"),
    [
        (Misbehave(expired=True), "id_token_expired"),
        (Misbehave(other_key=True), "id_token_signature"),
        (Misbehave(hs256_with_public_key=True), "id_token_signature"),
        (Misbehave(unsigned=True), "id_token_signature"),
        (Misbehave(audience="someone-else"), "wrong_audience"),
        (Misbehave(audience=[CLIENT_ID, "someone-else"]), "wrong_audience"),  # several audiences, no azp
        (Misbehave(azp="someone-else"), "wrong_audience"),
        (Misbehave(issuer="https://evil.example"), "wrong_issuer"),
        (Misbehave(nonce="not-the-nonce"), "wrong_nonce"),
        (Misbehave(drop_nonce=True), "id_token_incomplete"),
        (Misbehave(email_verified=False), "email_unverified"),
        (Misbehave(no_email=True), "email_missing"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_bad_id_token_is_refused(
    container: Container, client: TestClient, provider: LoopbackProvider, misbehave: Misbehave, reason: str
) -> None:
    add_user(container, "staff@example.com", "owner")
    provider.misbehave = misbehave
    assert_refused(container, sign_in(client), reason)


def test_an_es256_id_token_is_accepted(container: Container, client: TestClient, provider: LoopbackProvider) -> None:
    add_user(container, "staff@example.com")
    provider.misbehave = Misbehave(es256=True)
    assert sign_in(client).status_code == 302


def test_several_audiences_with_our_azp_are_accepted(
    container: Container, client: TestClient, provider: LoopbackProvider
) -> None:
    add_user(container, "staff@example.com")
    provider.misbehave = Misbehave(audience=[CLIENT_ID, "another-api"], azp=CLIENT_ID)
    assert sign_in(client).status_code == 302


def test_an_unknown_email_is_refused_and_no_account_is_made(
    container: Container, client: TestClient, provider: LoopbackProvider
) -> None:
    add_user(container, "someone@example.com")
    response = sign_in(client)
    assert_refused(container, response, "unknown_user")
    assert "does not create accounts" in response.json()["error"]["message"]
    with container.uow() as uow:
        assert uow.staff.by_email("staff@example.com") is None
        assert uow.staff.count() == 1


def test_a_deactivated_account_is_refused(container: Container, client: TestClient, provider: LoopbackProvider) -> None:
    user_id = add_user(container, "staff@example.com", active=False)
    assert_refused(container, sign_in(client), "user_inactive")
    assert events(container, "oidc_failed")[0]["user_id"] == user_id


def test_the_providers_refusal_is_recorded(
    container: Container, client: TestClient, provider: LoopbackProvider
) -> None:
    state = parse_qs(urlsplit(begin(client)).query)["state"][0]
    response = client.get("/auth/oidc/test/callback", params={"state": state, "error": "access_denied<script>"})
    assert_refused(container, response, "provider_error")
    assert "(access_deniedscript)" in response.json()["error"]["message"]


def test_a_browser_gets_a_page_naming_the_reason(
    container: Container, client: TestClient, provider: LoopbackProvider
) -> None:
    response = client.get("/auth/oidc/test/callback?state=nope&code=x", headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "Sign-in refused" in response.text and "state_not_this_browser" in response.text
    assert "Traceback" not in response.text


def test_an_unknown_provider_is_404(container: Container, client: TestClient) -> None:
    for path in ("/auth/oidc/nope/login", "/auth/oidc/nope/callback?state=a&code=b"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 404
        assert response.json()["error"]["message"] == "provider: no such provider"
    assert events(container, "oidc_failed") == []


def test_without_providers_configured_sso_is_404(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OIDC_PROVIDERS", raising=False)
    with TestClient(create_app(container), base_url="https://testserver") as plain:
        assert plain.get("/auth/oidc/google/login", follow_redirects=False).status_code == 404


def test_a_provider_that_does_not_answer_is_a_502_page(container: Container) -> None:
    settings = OidcProviderSettings(name="down", issuer="http://127.0.0.1:9", client_id="x")
    app = create_app(container)
    with httpx.Client(timeout=1) as http:
        app.state.oidc = OidcService([settings], http=http)
        with TestClient(app, base_url="https://testserver") as test_client:
            response = test_client.get("/auth/oidc/down/login", follow_redirects=False)
    assert response.status_code == 502
    assert response.json()["error"]["reason"] == "provider_unavailable"


# ---------------------------------------------------------------------------- settings and helpers
def test_providers_are_read_from_the_environment(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("OIDC_PROVIDERS", "google, okta")
    settings_env.setenv("OIDC_GOOGLE_ISSUER", "https://accounts.google.com")
    settings_env.setenv("OIDC_GOOGLE_CLIENT_ID", "g-client")
    settings_env.setenv("OIDC_GOOGLE_CLIENT_SECRET", "g-secret")
    settings_env.setenv("OIDC_OKTA_ISSUER", "https://example.okta.com/oauth2/default")
    settings_env.setenv("OIDC_OKTA_CLIENT_ID", "o-client")
    settings_env.setenv("OIDC_OKTA_SCOPES", "openid email")
    google, okta = load_settings().oidc()
    assert (google.name, google.issuer, google.client_id, google.label) == (
        "google",
        "https://accounts.google.com",
        "g-client",
        "Google",
    )
    assert google.client_secret is not None and google.client_secret.get_secret_value() == "g-secret"
    assert google.scopes == "openid email profile"
    assert okta.client_secret is None and okta.scopes == "openid email"

    settings_env.delenv("OIDC_OKTA_CLIENT_ID")
    with pytest.raises(SettingsError, match="setting OIDC_PROVIDERS: OIDC_OKTA_CLIENT_ID is required"):
        load_settings()


def test_no_providers_by_default_and_bad_values_are_named(settings_env: pytest.MonkeyPatch) -> None:
    assert load_settings().oidc() == ()
    env = {"OIDC_X_ISSUER": "http://idp.example", "OIDC_X_CLIENT_ID": "c"}
    with pytest.raises(ValueError, match="OIDC_X_ISSUER must be an https:// URL"):
        parse_oidc_providers("x", env)
    with pytest.raises(ValueError, match="must include openid"):
        parse_oidc_providers("x", {**env, "OIDC_X_ISSUER": "https://idp.example", "OIDC_X_SCOPES": "email"})
    with pytest.raises(ValueError, match="lower-case"):
        parse_oidc_providers("bad-name", env)


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("/inbox", "/inbox"),
        ("/a?b=c", "/a?b=c"),
        (None, None),
        ("", None),
        ("inbox", None),
        ("//evil.example", None),
        ("/\\evil.example", None),
        ("https://evil.example/", None),
        ("/a\r\nSet-Cookie: x=y", None),
    ],
)
def test_return_to_is_a_local_path_only(value: str | None, safe: str | None) -> None:
    assert safe_return_to(value) == safe


def test_the_login_page_offers_each_configured_provider(client: TestClient, oidc: OidcService) -> None:
    page = client.get("/login", params={"next": "/account"})
    assert page.status_code == 200
    for configured in oidc.providers:
        assert f'href="/auth/oidc/{configured.name}/login?next=%2Faccount"' in page.text
        assert f"Sign in with {configured.label or configured.name}" in page.text
