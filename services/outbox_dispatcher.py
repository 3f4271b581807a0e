"""The outbox dispatcher: claims due rows with FOR UPDATE SKIP LOCKED (so several workers never
take the same row), calls the row's target with the row id as the provider idempotency key,
and records the outcome. Failures retry with exponential backoff; after `max_attempts` the row
is dead-lettered with its last error for staff to see.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg

from db.engine import libpq_url
from db.outbox import WAKE_CHANNEL, OutboxMessage
from db.uow import UnitOfWork
from domain.clock import Clock

log = logging.getLogger(__name__)

# A target performs one outbox message; it gets the row id to use as the idempotency key.
Target = Callable[[OutboxMessage], Mapping[str, Any] | None]


class PermanentFailure(Exception):
    """The target says retrying cannot help (bad data, unknown target): dead-letter now."""


class HoldUntil(Exception):
    """The target may not act before `until` (a text in quiet hours): the row waits until then,
    keeping its attempts, with `reason` as its last_error for staff to see."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason


RETRY_BASE = timedelta(seconds=2)  # OUTBOX_RETRY_BASE_SECONDS
RETRY_MAX = timedelta(minutes=30)  # OUTBOX_RETRY_MAX_SECONDS


def backoff(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """base, 2*base, 4*base, ... capped."""
    delay: timedelta = base * (2 ** max(attempts - 1, 0))
    return min(delay, cap)


class OutboxDispatcher:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        targets: Mapping[str, Target],
        clock: Clock,
        *,
        base_delay: timedelta = RETRY_BASE,
        max_delay: timedelta = RETRY_MAX,
    ) -> None:
        self.uow_factory = uow_factory
        self.targets = targets
        self.clock = clock
        self.base_delay = base_delay
        self.max_delay = max_delay

    def dispatch_one(self) -> str | None:
        """Handle one due message in its own transaction; returns its new status, or None if none was due."""
        with self.uow_factory() as uow:
            message = uow.outbox.claim_next(self.clock.now())
            if message is None:
                return None
            target = self.targets.get(message.target)
            try:
                if target is None:
                    raise PermanentFailure(f"no target {message.target!r} is configured")
                result = target(message)
            except HoldUntil as hold:
                uow.outbox.hold(message, hold.until, hold.reason)
                status = "pending"
            except PermanentFailure as error:
                status = uow.outbox.mark_failed(message, self.clock.now(), f"permanent: {error}", retry_in=None)
            except Exception as error:  # any provider failure is retried; the row keeps the reason
                delay = backoff(message.attempts + 1, self.base_delay, self.max_delay)
                status = uow.outbox.mark_failed(message, self.clock.now(), f"{type(error).__name__}: {error}", delay)
                log.warning("outbox %s (%s) failed, %s: %s", message.id, message.target, status, error)
            else:
                uow.outbox.mark_done(message, self.clock.now(), dict(result) if result else None)
                status = "done"
            uow.commit()
            return status

    def dispatch_due(self, limit: int = 100) -> int:
        """Handle up to `limit` due messages; returns how many were handled."""
        handled = 0
        while handled < limit and self.dispatch_one() is not None:
            handled += 1
        return handled

    def run(self, stop: threading.Event, poll_seconds: float, *, wake: Callable[[float], object] | None = None) -> None:
        """Dispatch until `stop`; when idle, wait up to `poll_seconds` for `wake` (an OutboxWakeup:
        new rows committed) or, without one, just wait (retries fall due by time alone)."""
        while not stop.is_set():
            try:
                if self.dispatch_due() == 0:
                    if wake is None:
                        stop.wait(poll_seconds)
                    else:
                        wake(poll_seconds)
            except Exception:  # keep the worker alive through a database restart
                log.exception("outbox dispatcher loop failed; retrying")
                stop.wait(poll_seconds)


class OutboxWakeup:
    """A LISTEN on the outbox's channel (its own autocommit connection, opened again if it drops):
    `wait(timeout)` returns as soon as a transaction that queued messages commits, or at the timeout."""

    def __init__(self, database_url: str) -> None:
        self.url = libpq_url(database_url)
        self.conn: psycopg.Connection[Any] | None = None

    def __call__(self, timeout: float) -> None:
        self.wait(timeout)

    def wait(self, timeout: float) -> None:
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(self.url, autocommit=True)
                self.conn.execute(f"LISTEN {WAKE_CHANNEL}")
            for _ in self.conn.notifies(timeout=timeout, stop_after=1):
                break
        except psycopg.Error:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            time.sleep(min(timeout, 1.0))  # Postgres away: no busy loop while it comes back

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
