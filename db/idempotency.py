"""Idempotency keys: the first successful response of a command, replayed for the same key.

The key row is claimed inside the command's own transaction, so a concurrent duplicate waits on
the unique key and then reads the committed response; a command that fails rolls its claim back
and may be retried with the same key. Keys live `ttl` (24 h by default) and are purged after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete

from db.sql import execute, jsonb
from db.tables import idempotency_keys

DEFAULT_TTL = timedelta(hours=24)


class IdempotencyKeyReused(Exception):
    """The key was first used with a different request body."""

    def __init__(self, command: str, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used for a different {command} request")
        self.command = command
        self.key = key


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


class IdempotencyStore:
    def __init__(self, conn: Connection, ttl: timedelta = DEFAULT_TTL) -> None:
        self.conn = conn
        self.ttl = ttl

    def claim(self, command: str, key: str, request_hash: str, now: datetime) -> StoredResponse | None:
        """None when this transaction now owns the key; the stored response when it was used before."""
        claimed = execute(
            self.conn,
            "INSERT INTO events.idempotency_keys"
            " (command, key, request_hash, response_status, response_body, expires_at)"
            " VALUES (%s, %s, %s, 0, '{}', %s) ON CONFLICT DO NOTHING RETURNING key",
            (command, key, request_hash, now + self.ttl),
        ).fetchone()
        if claimed:
            return None
        row = execute(
            self.conn,
            "SELECT request_hash, response_status, response_body, expires_at FROM events.idempotency_keys"
            " WHERE command = %s AND key = %s FOR UPDATE",
            (command, key),
        ).fetchone()
        assert row is not None  # the conflicting insert committed before ours could proceed
        if row.expires_at <= now:
            execute(
                self.conn,
                "UPDATE events.idempotency_keys SET request_hash = %s, response_status = 0, response_body = '{}',"
                " expires_at = %s WHERE command = %s AND key = %s",
                (request_hash, now + self.ttl, command, key),
            )
            return None
        if row.request_hash != request_hash:
            raise IdempotencyKeyReused(command, key)
        return StoredResponse(row.response_status, row.response_body)

    def save(self, command: str, key: str, response: StoredResponse) -> None:
        execute(
            self.conn,
            "UPDATE events.idempotency_keys SET response_status = %s, response_body = %s"
            " WHERE command = %s AND key = %s",
            (response.status, jsonb(response.body), command, key),
        )

    def purge_expired(self, now: datetime) -> int:
        result = self.conn.execute(delete(idempotency_keys).where(idempotency_keys.c.expires_at <= now))
        return result.rowcount or 0
