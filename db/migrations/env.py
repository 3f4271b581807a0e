"""Alembic environment: the URL comes from the Config (db.migrate), never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from db.engine import sqlalchemy_url
from db.tables import metadata

config = context.config


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Only our schemas: LangGraph's checkpoint tables and anything else are not ours to diff.
    if type_ == "schema":
        return name in ("core", "events", "integra", "read", "identity")
    return True


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "db.migrate sets sqlalchemy.url"
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            include_schemas=True,
            include_name=include_name,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
