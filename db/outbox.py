"""The outbox table: rows written in the command's transaction, claimed by the dispatcher with
`FOR UPDATE SKIP LOCKED` so any number of workers share the work without sending anything twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from db.sql import execute, executemany, jsonb
from db.tables import outbox

WAKE_CHANNEL = "hibachi_outbox"  # NOTIFY at the commit of new rows (services/outbox_dispatcher.py listens)


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    target: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


class Outbox:
    def __init__(self, conn: Connection, max_attempts: int) -> None:
        self.conn = conn
        self.max_attempts = max_attempts

    def add_many(self, messages: list[tuple[str, dict[str, Any]]], *, aggregate_id: str | None = None) -> None:
        """Queue (target, payload) messages, in one statement; idle dispatchers are woken at commit."""
        executemany(
            self.conn,
            "INSERT INTO events.outbox (target, payload, aggregate_id, max_attempts) VALUES (%s, %s, %s, %s)",
            [(target, jsonb(payload), aggregate_id, self.max_attempts) for target, payload in messages],
        )
        self.wake()

    def wake(self) -> None:
        """Wake idle dispatchers when this transaction commits (several in one fold into one)."""
        execute(self.conn, "SELECT pg_notify(%s, '')", (WAKE_CHANNEL,))

    def claim_next(self, now: datetime) -> OutboxMessage | None:
        row = self.conn.execute(
            select(outbox.c.id, outbox.c.target, outbox.c.payload, outbox.c.attempts, outbox.c.max_attempts)
            .where(outbox.c.status == "pending", outbox.c.available_at <= now)
            .order_by(outbox.c.available_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        return OutboxMessage(**row._mapping) if row else None

    def mark_done(self, message: OutboxMessage, now: datetime, result: dict[str, Any] | None) -> None:
        self.conn.execute(
            update(outbox)
            .where(outbox.c.id == message.id)
            .values(
                status="done",
                attempts=message.attempts + 1,
                dispatched_at=now,
                result=result,
                last_error=None,
            )
        )

    def mark_failed(self, message: OutboxMessage, now: datetime, error: str, retry_in: timedelta | None) -> str:
        """Schedule a retry after `retry_in`, or dead-letter when attempts run out (or no retry)."""
        attempts = message.attempts + 1
        dead = retry_in is None or attempts >= message.max_attempts
        self.conn.execute(
            update(outbox)
            .where(outbox.c.id == message.id)
            .values(
                status="dead" if dead else "pending",
                attempts=attempts,
                last_error=error[:2000],
                available_at=now if dead or retry_in is None else now + retry_in,
            )
        )
        return "dead" if dead else "pending"

    def hold(self, message: OutboxMessage, until: datetime, reason: str) -> None:
        """Put the message back until `until`, its attempts untouched (nothing was tried)."""
        self.conn.execute(
            update(outbox)
            .where(outbox.c.id == message.id)
            .values(status="pending", available_at=until, last_error=reason[:2000])
        )

    def requeue_dead(self, message_id: str, now: datetime) -> str | None:
        """A dead-lettered message back to pending, due now, its attempts counted afresh (its last
        error kept until the next attempt replaces it). The target, or None when it is not dead."""
        row = execute(
            self.conn,
            "UPDATE events.outbox SET status = 'pending', attempts = 0, available_at = %s"
            " WHERE id = %s AND status = 'dead' RETURNING target",
            (now, message_id),
        ).fetchone()
        if row is None:
            return None
        self.wake()
        return str(row.target)
