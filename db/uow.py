"""The unit of work: one transaction per command. Repositories, the event store, the outbox and
the projections all write through its connection; only `commit()` here ends the transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine

from db.consents import ConsentLedger
from db.event_store import EventStore
from db.idempotency import IdempotencyStore
from db.identity import SessionRepository, StaffUserRepository
from db.outbox import Outbox
from db.pii import BlindIndex, FieldCipher
from db.projections import project
from db.repositories import BookingRepository, ChefRepository, CustomerRepository
from db.threads import ThreadRepository
from domain.business import Business
from domain.events import DomainEvent


class UnitOfWork:
    def __init__(
        self,
        engine: Engine,
        cipher: FieldCipher,
        blind: BlindIndex,
        business: Business,
        *,
        outbox_max_attempts: int,
        on_publish: Callable[[UnitOfWork, Sequence[DomainEvent], datetime], object] | None = None,
    ) -> None:
        self.engine = engine
        self.business = business
        self.cipher = cipher
        self.blind = blind
        self.outbox_max_attempts = outbox_max_attempts
        self.on_publish = on_publish
        self.published: list[DomainEvent] = []

    def __enter__(self) -> UnitOfWork:
        self.conn: Connection = self.engine.connect()
        self.tx = self.conn.begin()
        self.customers = CustomerRepository(self.conn, self.cipher, self.blind)
        self.consents = ConsentLedger(self.conn, self.cipher, self.blind)
        self.bookings = BookingRepository(self.conn, self.cipher)
        self.chefs = ChefRepository(self.conn, self.business)
        self.threads = ThreadRepository(self.conn, self.cipher, self.blind)
        self.events = EventStore(self.conn)
        self.outbox = Outbox(self.conn, self.outbox_max_attempts)
        self.idempotency = IdempotencyStore(self.conn)
        self.staff = StaffUserRepository(self.conn, self.cipher, self.blind)
        self.sessions = SessionRepository(self.conn)
        self.published = []
        return self

    def publish(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        *,
        at: datetime,
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """Append the aggregate's new events and update the read models, in this transaction."""
        version = self.events.append(aggregate_id, expected_version, events, occurred_at=at, metadata=metadata)
        for event in events:
            project(self.conn, event, at)
        self.published.extend(events)
        if self.on_publish is not None:  # the journeys these events start (automation/runner.py)
            self.on_publish(self, events, at)
        return version

    def commit(self) -> None:
        self.events.flush()
        self.tx.commit()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self.tx.is_active:
                self.tx.rollback()
        finally:
            self.conn.close()
