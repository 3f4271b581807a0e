"""Machines: service clients, the OAuth client-credentials grant, and `hibachi token create`."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from api.app import create_app
from db.engine import sqlalchemy_url
from db.pii import decode_key
from db.tables import auth_events, service_clients
from domain.access import Permission, permissions_of
from domain.clock import FixedClock, SystemClock
from domain.errors import DomainError
from hibachi.bootstrap import Container
from services import service_clients as clients
from services.tokens import ACCESS_TOKEN_SECONDS, TokenIssuer
from tests.test_migrations_and_cli import keys, run_cli, scratch_url  # noqa: F401 (a fixture)

AVAILABILITY = "/queries/availability?date=2026-12-12&zip=95816"


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def made(container: Container) -> clients.ClientCredentials:
    return clients.create_client(container, "agent-worker", ["bookings:write", "availability:read"])


def basic(client_id: str, secret: str) -> dict[str, str]:
    # RFC 6749 §2.3.1: each part form-encoded, then joined and base64-encoded.
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def events(container: Container, kind: str) -> list[Any]:
    with container.engine.connect() as conn:
        return list(conn.execute(select(auth_events).where(auth_events.c.kind == kind).order_by(auth_events.c.id)))


def test_client_secret_basic_gets_a_token_that_works(
    client: TestClient, container: Container, made: clients.ClientCredentials
) -> None:
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(made.client_id, made.client_secret)
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == ACCESS_TOKEN_SECONDS == 15 * 60
    assert body["scope"] == "availability:read bookings:write"
    claims = container.tokens.verify(body["access_token"])
    assert claims.subject == "service:agent-worker" and claims.role == "ai_service"
    assert claims.expires_at == int(container.clock.now().timestamp()) + 15 * 60

    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get(AVAILABILITY, headers=bearer).status_code == 200
    assert client.get("/queries/bookings/HB-NOPE", headers=bearer).status_code == 403  # not among its scopes

    [issued] = events(container, "token_issued")
    assert issued.actor == "service:agent-worker"
    assert issued.detail["scopes"] == ["availability:read", "bookings:write"]
    assert issued.detail["jti"] == claims.token_id
    assert issued.detail["client_id"] == made.client_id
    assert issued.ip == "testclient"  # the caller's address, in its column
    assert made.client_secret not in str(issued.detail)


def test_the_token_runs_out_after_15_minutes(
    client: TestClient, container: Container, clock: FixedClock, made: clients.ClientCredentials
) -> None:
    form = {"grant_type": "client_credentials", "client_id": made.client_id, "client_secret": made.client_secret}
    token = client.post("/oauth/token", data=form).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    clock.current += timedelta(minutes=14, seconds=59)
    assert client.get(AVAILABILITY, headers=bearer).status_code == 200
    clock.current += timedelta(seconds=2)
    expired = client.get(AVAILABILITY, headers=bearer)
    assert expired.status_code == 401 and "WWW-Authenticate" in expired.headers


def test_client_secret_post_with_a_narrower_scope(
    client: TestClient, container: Container, made: clients.ClientCredentials
) -> None:
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": made.client_id,
            "client_secret": made.client_secret,
            "scope": "availability:read",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "availability:read"
    assert container.tokens.verify(response.json()["access_token"]).scopes == {Permission.AVAILABILITY_READ}


def test_the_secret_is_stored_as_an_argon2id_hash(container: Container, made: clients.ClientCredentials) -> None:
    with container.engine.connect() as conn:
        stored = conn.execute(select(service_clients.c.secret_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and made.client_secret not in stored
    assert clients.authenticate(container, made.client_id, made.client_secret).name == "agent-worker"


def oauth_error(response: Any, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert set(response.json()) == {"error", "error_description"}
    assert response.headers["cache-control"] == "no-store"


def test_a_wrong_secret_or_unknown_client_is_invalid_client(
    client: TestClient, container: Container, made: clients.ClientCredentials
) -> None:
    grant = {"grant_type": "client_credentials"}
    for headers in (
        basic(made.client_id, made.client_secret + "x"),
        basic("00000000-0000-0000-0000-000000000000", made.client_secret),
        basic("agent-worker", made.client_secret),  # the name is not the client id
        basic(made.client_id, ""),
        basic(made.client_id, "x" * 10_000),
        {"Authorization": "Basic not-base64!!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Bearer something"},
    ):
        response = client.post("/oauth/token", data=grant, headers=headers)
        oauth_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"].startswith("Basic")
    wrong_post = grant | {"client_id": made.client_id, "client_secret": "nope"}
    oauth_error(client.post("/oauth/token", data=wrong_post), 401, "invalid_client")
    oauth_error(client.post("/oauth/token", data=grant), 401, "invalid_client")  # no client authentication
    assert events(container, "token_issued") == []


def test_a_deactivated_client_or_a_rotated_secret_gets_nothing(
    client: TestClient, container: Container, made: clients.ClientCredentials
) -> None:
    grant = {"grant_type": "client_credentials"}
    rotated = clients.rotate_secret(container, made.client_id)
    assert rotated.client_secret != made.client_secret
    oauth_error(
        client.post("/oauth/token", data=grant, headers=basic(made.client_id, made.client_secret)),
        401,
        "invalid_client",
    )
    assert client.post("/oauth/token", data=grant, headers=basic(made.client_id, rotated.client_secret)).is_success
    clients.deactivate(container, made.client_id)
    oauth_error(
        client.post("/oauth/token", data=grant, headers=basic(made.client_id, rotated.client_secret)),
        401,
        "invalid_client",
    )
    assert [e.kind for e in events(container, "service_secret_rotated")] == ["service_secret_rotated"]
    assert len(events(container, "service_client_deactivated")) == 1


def test_bad_requests_get_rfc_6749_errors(client: TestClient, made: clients.ClientCredentials) -> None:
    auth = basic(made.client_id, made.client_secret)
    oauth_error(
        client.post("/oauth/token", data={"grant_type": "password"}, headers=auth), 400, "unsupported_grant_type"
    )
    oauth_error(client.post("/oauth/token", data={"grant_type": "authorization_code"}), 400, "unsupported_grant_type")
    oauth_error(client.post("/oauth/token", data={}, headers=auth), 400, "invalid_request")
    oauth_error(
        client.post("/oauth/token", json={"grant_type": "client_credentials"}, headers=auth), 400, "invalid_request"
    )
    oauth_error(
        client.post(
            "/oauth/token",
            content=b"grant_type=client_credentials&grant_type=client_credentials",
            headers=auth | {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        400,
        "invalid_request",
    )
    oauth_error(
        client.post(
            "/oauth/token",
            content=b"\xff\xfe=\x00",
            headers=auth | {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        400,
        "invalid_request",
    )
    oauth_error(
        client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": made.client_id, "client_secret": made.client_secret},
            headers=auth,
        ),
        400,
        "invalid_request",  # two ways of authenticating at once
    )
    oauth_error(
        client.post(
            "/oauth/token",
            content=b"grant_type=client_credentials&scope=" + b"a" * 10_000,
            headers=auth | {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        400,
        "invalid_request",
    )
    oauth_error(
        client.post(
            "/oauth/token",
            content=b"&".join(b"f%d=1" % n for n in range(40)),
            headers=auth | {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        400,
        "invalid_request",
    )
    assert client.get("/oauth/token").status_code == 405
    lenient = client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&",  # an empty trailing field is no error
        headers=auth | {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert lenient.status_code == 200, lenient.text


@pytest.mark.parametrize("scope", ["customers:export", "bookings:read", "no:such", "availability:read users:manage"])
def test_a_scope_beyond_the_clients_is_invalid_scope(
    client: TestClient, container: Container, made: clients.ClientCredentials, scope: str
) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=basic(made.client_id, made.client_secret),
    )
    oauth_error(response, 400, "invalid_scope")
    assert events(container, "token_issued") == []


def test_a_client_is_made_within_its_role(container: Container) -> None:
    with pytest.raises(ValueError, match="customers:export"):
        clients.create_client(container, "too-much", ["customers:export"])
    with pytest.raises(ValueError, match="bogus"):
        clients.create_client(container, "bogus", ["bogus"])
    everything = clients.create_client(container, "all-of-it")
    got = clients.get_client(container, everything.client_id)
    assert got is not None and got.scopes == permissions_of("ai_service")
    with pytest.raises(DomainError, match="exists already"):
        clients.create_client(container, "all-of-it")
    with pytest.raises(DomainError):
        clients.create_client(container, "no spaces please")
    assert len(events(container, "service_client_created")) == 1


def test_token_create_prints_the_bare_token_last(tmp_path: Path, scratch_url: str) -> None:  # noqa: F811
    env = keys() | {"DATABASE_URL": scratch_url}
    result = run_cli(
        "token", "create", "--service", "local-script", "--scopes", "availability:read", env=env, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    token = lines[-1]
    assert " " not in token and token.count(".") == 2
    assert any("local-script" in line for line in lines[:-1])
    assert any("availability:read" in line for line in lines[:-1])

    # Signed with the settings' TOKEN_SIGNING_KEY: the running app accepts it.
    issuer = TokenIssuer(decode_key(env["TOKEN_SIGNING_KEY"], name="TOKEN_SIGNING_KEY"), SystemClock())
    claims = issuer.verify(token)
    assert claims.subject == "service:local-script" and claims.role == "ai_service"
    assert claims.scopes == {Permission.AVAILABILITY_READ}

    default = run_cli("token", "create", "--service", "local-script", env=env, tmp_path=tmp_path)
    assert default.returncode == 0, default.stderr
    assert issuer.verify(default.stdout.strip().splitlines()[-1]).scopes == permissions_of("ai_service")

    engine = create_engine(sqlalchemy_url(scratch_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(auth_events).where(auth_events.c.kind == "token_issued")).all()
    finally:
        engine.dispose()
    assert [row.actor for row in rows] == ["cli", "cli"]
    assert rows[0].detail["jti"] == claims.token_id and rows[0].detail["scopes"] == ["availability:read"]


def test_token_create_refuses_an_unknown_scope_with_one_line(tmp_path: Path, scratch_url: str) -> None:  # noqa: F811
    env = keys() | {"DATABASE_URL": scratch_url}
    for scope in ("bookings:nuke", "users:manage"):
        result = run_cli("token", "create", "--service", "x", "--scopes", scope, env=env, tmp_path=tmp_path)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and scope in result.stderr, result.stderr
        assert result.stdout.strip() == "" or "." not in result.stdout.strip().splitlines()[-1]


def test_service_create_prints_its_credentials_once(tmp_path: Path, scratch_url: str) -> None:  # noqa: F811
    env = keys() | {"DATABASE_URL": scratch_url}
    result = run_cli(
        "service", "create", "--name", "stripe-sync", "--scopes", "bookings:read", env=env, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    out = dict(line.split(": ", 1) for line in result.stdout.splitlines() if line.startswith("client_"))
    assert set(out) == {"client_id", "client_secret"}
    engine = create_engine(sqlalchemy_url(scratch_url))
    try:
        with engine.connect() as conn:
            row = conn.execute(select(service_clients)).one()
    finally:
        engine.dispose()
    assert str(row.id) == out["client_id"] and row.scopes == ["bookings:read"] and row.name == "stripe-sync"
    assert out["client_secret"] not in row.secret_hash


def test_service_rotate_and_deactivate_from_the_cli(tmp_path: Path, scratch_url: str) -> None:  # noqa: F811
    env = keys() | {"DATABASE_URL": scratch_url}
    made = run_cli("service", "create", "--name", "nightly", env=env, tmp_path=tmp_path)
    assert made.returncode == 0, made.stderr
    client_id = made.stdout.split("client_id: ")[1].split()[0]
    rotated = run_cli("service", "rotate", "--client-id", client_id, env=env, tmp_path=tmp_path)
    assert rotated.returncode == 0 and f"client_id: {client_id}" in rotated.stdout
    assert rotated.stdout.split("client_secret: ")[1].split()[0] != made.stdout.split("client_secret: ")[1].split()[0]
    gone = run_cli("service", "deactivate", "--client-id", client_id, env=env, tmp_path=tmp_path)
    assert gone.returncode == 0, gone.stderr
    unknown = run_cli("service", "rotate", "--client-id", "not-a-client", env=env, tmp_path=tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.strip() == "hibachi: client_id: no such service client"
    taken = run_cli("service", "create", "--name", "nightly", env=env, tmp_path=tmp_path)
    assert taken.returncode == 2 and len(taken.stderr.strip().splitlines()) == 1 and "exists" in taken.stderr
