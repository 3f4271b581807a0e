"""The event store: append with an expected version per aggregate.

The unique `(aggregate_id, version)` makes a concurrent writer that read the same version fail
(`ConcurrencyConflict`); the bus retries the whole command on a fresh transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from db.tables import domain_events
from domain.errors import ConcurrencyConflict
from domain.events import DomainEvent


class EventStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        *,
        occurred_at: datetime,
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """Append `events` after `expected_version`; returns the new version."""
        if not events:
            return expected_version
        rows = [
            {
                "aggregate_type": event.aggregate_type,
                "aggregate_id": aggregate_id,
                "version": expected_version + i,
                "event_type": event.event_type,
                "payload": json.loads(json.dumps(event.payload(), default=str)),
                "metadata": metadata or {},
                "occurred_at": occurred_at,
            }
            for i, event in enumerate(events, start=1)
        ]
        try:
            # No savepoint: a conflict aborts the whole command anyway, and the bus retries it.
            self.conn.execute(insert(domain_events), rows)
        except IntegrityError as error:
            if "uq_domain_events_aggregate_version" in str(error.orig):
                raise ConcurrencyConflict(f"aggregate {aggregate_id} moved past version {expected_version}") from None
            raise
        return expected_version + len(events)

    def stream(self, aggregate_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            select(domain_events.c.version, domain_events.c.event_type, domain_events.c.payload)
            .where(domain_events.c.aggregate_id == aggregate_id)
            .order_by(domain_events.c.version)
        )
        return [dict(row._mapping) for row in rows]
