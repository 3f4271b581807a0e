"""The outbox dispatcher: claims due rows with FOR UPDATE SKIP LOCKED (so several workers never
take the same row), calls the row's target with the row id as the provider idempotency key,
and records the outcome. Failures retry with exponential backoff; after `max_attempts` the row
is dead-lettered with its last error for staff to see.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from db.outbox import OutboxMessage
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
        base_delay: timedelta = timedelta(seconds=2),
        max_delay: timedelta = timedelta(minutes=30),
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

    def run(self, stop: threading.Event, poll_seconds: float) -> None:
        while not stop.is_set():
            try:
                if self.dispatch_due() == 0:
                    stop.wait(poll_seconds)
            except Exception:  # keep the worker alive through a database restart
                log.exception("outbox dispatcher loop failed; retrying")
                stop.wait(poll_seconds)
