"""The event store: append with an expected version per aggregate.

The unique `(aggregate_id, version)` makes a concurrent writer that read the same version fail
(`ConcurrencyConflict`); the bus retries the whole command on a fresh transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, select

from db.sql import executemany, jsonb
from db.tables import domain_events
from domain.errors import ConcurrencyConflict
from domain.events import DomainEvent

APPEND = (
    "INSERT INTO events.domain_events"
    " (aggregate_type, aggregate_id, version, event_type, payload, metadata, occurred_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


class EventStore:
    """Appends are buffered and written in one statement when the unit of work commits (`flush`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pending: list[tuple[Any, ...]] = []

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        *,
        occurred_at: datetime,
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """Append `events` after `expected_version` (checked at `flush`); returns the new version."""
        self.pending.extend(
            (
                event.aggregate_type,
                aggregate_id,
                expected_version + i,
                event.event_type,
                jsonb(event.payload()),
                jsonb(metadata or {}),
                occurred_at,
            )
            for i, event in enumerate(events, start=1)
        )
        return expected_version + len(events)

    def flush(self) -> None:
        """Write the buffered events; ConcurrencyConflict if another writer took one of their versions."""
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        try:
            # No savepoint: a conflict aborts the whole command anyway, and the bus retries it.
            executemany(self.conn, APPEND, rows)
        except psycopg.errors.UniqueViolation as error:
            if error.diag.constraint_name == "uq_domain_events_aggregate_version":
                raise ConcurrencyConflict("an aggregate moved past the version this command read") from None
            raise

    def stream(self, aggregate_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            select(domain_events.c.version, domain_events.c.event_type, domain_events.c.payload)
            .where(domain_events.c.aggregate_id == aggregate_id)
            .order_by(domain_events.c.version)
        )
        return [dict(row._mapping) for row in rows]
