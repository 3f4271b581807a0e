"""Housekeeping that runs beside the app, hourly: expired idempotency keys and login attempts too
old to throttle anyone are purged."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from db.uow import UnitOfWork
from domain.clock import Clock
from services.identity import purge_login_attempts

log = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 3600.0


def purge_expired_idempotency_keys(uow_factory: Callable[[], UnitOfWork], clock: Clock) -> int:
    with uow_factory() as uow:
        purged = uow.idempotency.purge_expired(clock.now())
        uow.commit()
    return purged


def run_housekeeping(
    uow_factory: Callable[[], UnitOfWork], clock: Clock, stop: threading.Event, every: float = PURGE_EVERY_SECONDS
) -> None:
    while not stop.is_set():
        try:
            purged = purge_expired_idempotency_keys(uow_factory, clock)
            attempts = purge_login_attempts(uow_factory, clock)
            if purged or attempts:
                log.info("purged %d expired idempotency keys, %d old login attempts", purged, attempts)
        except Exception:  # a database restart must not end housekeeping
            log.exception("housekeeping failed; retrying later")
        stop.wait(every)
