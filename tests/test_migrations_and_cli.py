"""Migrations match the table definitions and go both ways; the CLI stops with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, select, text

from db.embedded import drop_database, ensure_database
from db.engine import sqlalchemy_url
from db.migrate import downgrade, upgrade
from db.pii import decode_key
from db.tables import chefs, metadata
from domain.access import permissions_of
from domain.clock import SystemClock
from hibachi.settings import KEY_SETTINGS, PROJECT_ROOT, fresh_keys
from services.tokens import TokenIssuer


@pytest.fixture
def scratch_url(admin_url: str) -> Iterator[str]:
    name = f"hibachi_scratch_{uuid.uuid4().hex[:8]}"
    url = ensure_database(admin_url, name)
    yield url
    drop_database(admin_url, name)


def test_migrations_round_trip_and_match_the_tables(scratch_url: str) -> None:
    upgrade(scratch_url)
    downgrade(scratch_url, "base")
    upgrade(scratch_url)
    engine = create_engine(sqlalchemy_url(scratch_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_schemas": True,
                    "include_name": lambda name, type_, parents: (
                        type_ != "schema"
                        or name in ("core", "events", "integra", "read", "identity", "audit", "automation")
                    ),
                },
            )
            assert compare_metadata(context, metadata) == []
            schemas = set(conn.execute(text("SELECT nspname FROM pg_namespace")).scalars())
    finally:
        engine.dispose()
    assert {"core", "events", "integra", "read", "identity", "audit", "automation"} <= schemas


def run_cli(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in KEY_SETTINGS}
    return subprocess.run(
        [sys.executable, "-m", "hibachi.cli", *args],
        env=base | {"DATA_DIR": str(tmp_path / "data")} | env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def keys() -> dict[str, str]:
    return fresh_keys("k1")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PII_KEYS": ""}, "hibachi: setting PII_KEYS: no keys given"),
        ({"BLIND_INDEX_KEY": "short"}, "hibachi: setting BLIND_INDEX_KEY: not valid base64"),
        ({"PII_ACTIVE_KEY_ID": "k9"}, "hibachi: setting PII_ACTIVE_KEY_ID: 'k9' is not one of PII_KEYS"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "hibachi: setting DATABASE_URL: must be a postgresql:// URL"),
        ({"PORT": "eighty"}, "hibachi: setting PORT:"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    result = run_cli("migrate", env=keys() | env, tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(expected), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_key_setting_is_named(tmp_path: Path) -> None:
    env = keys()
    del env["PII_KEYS"]
    result = run_cli("migrate", env=env, tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "hibachi: setting PII_KEYS: Field required"


def test_a_bad_business_file_is_refused_with_the_field_path(tmp_path: Path, scratch_url: str) -> None:
    bad = tmp_path / "business.yaml"
    bad.write_text(
        (PROJECT_ROOT / "config" / "demo-business.yaml").read_text().replace("adult_cents: 6000", "adult_cents: lots")
    )
    result = run_cli(
        "load-business", env=keys() | {"BUSINESS_FILE": str(bad), "DATABASE_URL": scratch_url}, tmp_path=tmp_path
    )
    assert result.returncode == 2
    assert "pricing.adult_cents" in result.stderr and "valid integer" in result.stderr


def test_load_business_migrates_and_loads_the_chefs(tmp_path: Path, scratch_url: str) -> None:
    result = run_cli("load-business", env=keys() | {"DATABASE_URL": scratch_url}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    engine = create_engine(sqlalchemy_url(scratch_url))
    try:
        with engine.connect() as conn:
            names = conn.execute(select(chefs.c.name).where(chefs.c.active).order_by(chefs.c.ordinal)).scalars().all()
    finally:
        engine.dispose()
    assert names == ["Kenji Sato", "Maria Lopez", "Tony Nguyen"]


def test_local_keys_are_generated_once_when_none_are_set(tmp_path: Path, scratch_url: str) -> None:
    first = run_cli("migrate", env={"DATABASE_URL": scratch_url}, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    keyfile = tmp_path / "data" / "keys.env"
    assert "generated local keys" in first.stdout
    content = keyfile.read_text()
    assert oct(keyfile.stat().st_mode & 0o777) == "0o600"
    assert {line.partition("=")[0] for line in content.splitlines() if "=" in line} == set(KEY_SETTINGS)
    second = run_cli("migrate", env={"DATABASE_URL": scratch_url}, tmp_path=tmp_path)
    assert second.returncode == 0 and "generated" not in second.stdout
    assert keyfile.read_text() == content

    # A key setting added since the file was made (an older checkout's keys.env) is appended, the rest kept.
    older = "".join(line + "\n" for line in content.splitlines() if not line.startswith("TOKEN_SIGNING_KEY="))
    keyfile.write_text(older)
    third = run_cli("migrate", env={"DATABASE_URL": scratch_url}, tmp_path=tmp_path)
    assert third.returncode == 0 and "TOKEN_SIGNING_KEY" in third.stdout
    updated = keyfile.read_text()
    assert updated.startswith(older) and "TOKEN_SIGNING_KEY=" in updated


def test_several_api_processes_serve_and_stop_together(tmp_path: Path, scratch_url: str) -> None:
    import socket
    import time

    import httpx
    import psutil

    env = keys() | {"DATABASE_URL": scratch_url}
    assert run_cli("load-business", env=env, tmp_path=tmp_path).returncode == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "api.serve", "--port", str(port), "--workers", "2", "--log-level", "warning"],
        env={k: v for k, v in os.environ.items()} | env,
        cwd=PROJECT_ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        workers = [p for p in psutil.Process(server.pid).children() if "spawn_main" in " ".join(p.cmdline())]
        assert len(workers) == 2
        url = f"http://127.0.0.1:{port}/queries/quote"
        params: dict[str, str | int] = {"adults": 10, "zip": "95816"}
        assert httpx.get(url, params=params).status_code == 401  # no token, no quote
        issuer = TokenIssuer(decode_key(env["TOKEN_SIGNING_KEY"], name="TOKEN_SIGNING_KEY"), SystemClock())
        token = issuer.issue("cli-test", permissions_of("ai_service")).token
        quote = httpx.get(url, params=params, headers={"Authorization": f"Bearer {token}"})
        assert quote.json()["total_due"] == "$600.00"
    finally:
        server.terminate()
        assert server.wait(20) == 0
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)


def test_run_without_plaid_keys_takes_a_bank_credit_from_its_fake_plaid(tmp_path: Path, scratch_url: str) -> None:
    import queue
    import re
    import socket
    import threading
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = {k: v for k, v in os.environ.items() if k not in KEY_SETTINGS and not k.startswith(("PLAID_", "STRIPE_"))}
    server = subprocess.Popen(
        [sys.executable, "-m", "hibachi.cli", "run"],
        env=base | keys() | {"DATABASE_URL": scratch_url, "PORT": str(port), "DATA_DIR": str(tmp_path / "data")},
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert server.stdout is not None

    def pump() -> None:
        for line in server.stdout or []:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        fake_url = None
        deadline = time.monotonic() + 90
        while fake_url is None and time.monotonic() < deadline:
            found = re.search(r"fake Plaid at (http://\S+)", lines.get(timeout=90))
            fake_url = found.group(1) if found else None
        assert fake_url, "run printed no fake Plaid address"
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        credit = {"amount_cents": 12345, "payer": "Dana Lee", "memo": "hibachi deposit"}
        assert httpx.post(f"{fake_url}/fake/credit", json=credit, timeout=5).status_code == 200
        engine = create_engine(sqlalchemy_url(scratch_url))
        try:
            stored = processed = 0
            while time.monotonic() < deadline and not (stored and processed):
                with engine.connect() as conn:
                    stored = conn.execute(
                        text("SELECT count(*) FROM integra.bank_transactions WHERE amount_cents = 12345")
                    ).scalar_one()
                    processed = conn.execute(
                        text("SELECT count(*) FROM integra.webhook_events WHERE processed_at IS NOT NULL")
                    ).scalar_one()
                time.sleep(0.2)
            # The signed webhook reached the app, was verified against the fake's key, and synced.
            assert (stored, processed) == (1, 1)
        finally:
            engine.dispose()
    finally:
        server.terminate()
        server.wait(20)
