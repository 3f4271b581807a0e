"""Plain SQL on the unit of work's connection, for the statements every command runs.

SQLAlchemy Core builds, caches and compiles a statement on every call; for the dozen statements
of a booking that was a third of the request's CPU. These run as fixed SQL text through the
psycopg connection underneath the same transaction (psycopg prepares them after a few uses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, LiteralString, cast

import psycopg
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy import Connection

Params = Sequence[Any] | Mapping[str, Any] | None


def driver(conn: Connection) -> psycopg.Connection[Any]:
    return cast(psycopg.Connection[Any], conn.connection.driver_connection)


def execute(conn: Connection, query: LiteralString, params: Params = None) -> psycopg.Cursor[Any]:
    """Run `query` in the unit of work's transaction; rows come back as named tuples."""
    cursor = driver(conn).cursor(row_factory=namedtuple_row)
    cursor.execute(query, params)
    return cursor


def executemany(conn: Connection, query: LiteralString, rows: Sequence[Sequence[Any] | Mapping[str, Any]]) -> None:
    with driver(conn).cursor() as cursor:
        cursor.executemany(query, rows)


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value)
