"""Housekeeping that runs beside the app: snoozed threads whose time has come reopen (every minute);
expired idempotency keys and login attempts too old to throttle anyone are purged, RingCentral's
webhook subscription is renewed when it nears its end, and the chefs' calendar push channels are
renewed a day before they expire and every calendar is synced (hourly: the safety net for a push
Google dropped), and the agent's checkpoints of conversations idle for a day are pruned to the latest
one (hourly: a checkpoint is written every turn, so they would otherwise grow without bound).

Every process that serves (`hibachi run`) or dispatches (`hibachi outbox-worker`) runs housekeeping, so
several machines may; a round runs only while it holds a session advisory lock, so one process does
each round and the others skip it (each step is safe to repeat, the lock just avoids the wasted work and
the races between two rounds reopening the same thread)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select, text

from db.tables import message_threads
from db.uow import UnitOfWork
from domain.clock import Clock
from domain.commands import ReopenThread
from integrations.ringcentral.subscription import renew_if_due
from services.identity import purge_login_attempts

if TYPE_CHECKING:
    from hibachi.bootstrap import Container

log = logging.getLogger(__name__)

WAKE_EVERY_SECONDS = 60.0
PURGE_EVERY_SECONDS = 3600.0
CHECKPOINTS_IDLE = timedelta(days=1)  # a conversation this quiet keeps only its latest checkpoint
HOUSEKEEPING_LOCK = "housekeeping"


@contextmanager
def only_one_process(engine: Engine, name: str) -> Iterator[bool]:
    """Yields whether this process holds the session advisory lock `name` (held for the block, on a
    connection of its own); another process holding it means False, at once, without waiting."""
    with engine.connect() as conn:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), {"k": name}).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), {"k": name})
                conn.commit()


def purge_expired_idempotency_keys(uow_factory: Callable[[], UnitOfWork], clock: Clock) -> int:
    with uow_factory() as uow:
        purged = uow.idempotency.purge_expired(clock.now())
        uow.commit()
    return purged


def wake_snoozed_threads(container: Container) -> int:
    """Reopen every snoozed thread whose snooze has ended (a ReopenThread command each, by "system",
    so the inbox sees it live); how many woke."""
    with container.engine.connect() as conn:
        due = list(
            conn.execute(
                select(message_threads.c.id).where(
                    message_threads.c.status == "snoozed", message_threads.c.snoozed_until <= container.clock.now()
                )
            ).scalars()
        )
    for thread_id in due:
        container.bus.handle(ReopenThread(str(thread_id), "system"))
    return len(due)


def tend_calendars(container: Container) -> None:
    if container.calendars is None:
        return
    try:  # Google being down must not stop the rest of housekeeping
        container.calendars.watch()
        container.calendars.sync_all()
    except Exception:
        log.exception("calendar channels or sync failed; retrying next hour")


def prune_idle_checkpoints(container: Container, idle_since: datetime, limit: int = 500) -> int:
    """Keep only the latest checkpoint of conversations whose last checkpoint is older than
    `idle_since` (at most `limit` threads a call); how many threads were pruned."""
    with container.engine.connect() as conn:
        threads = list(
            conn.execute(
                text(
                    "SELECT thread_id FROM agent.checkpoints WHERE checkpoint_ns = '' GROUP BY thread_id"
                    " HAVING count(*) > 1 AND max((checkpoint->>'ts')::timestamptz) < :idle_since LIMIT :limit"
                ),
                {"idle_since": idle_since, "limit": limit},
            ).scalars()
        )
    if threads:
        from graph.checkpoint import prune_history

        prune_history(container.agent().graph(), threads)
    return len(threads)


def run_housekeeping(
    container: Container,
    stop: threading.Event,
    every: float = WAKE_EVERY_SECONDS,
    purge_every: float = PURGE_EVERY_SECONDS,
) -> None:
    next_purge = 0.0
    waited = 0.0
    while not stop.is_set():
        try:
            with only_one_process(container.engine, HOUSEKEEPING_LOCK) as mine:
                if mine:
                    housekeeping_round(container, hourly=waited >= next_purge)
                    if waited >= next_purge:
                        next_purge = waited + purge_every
        except Exception:  # a database restart must not end housekeeping
            log.exception("housekeeping failed; retrying later")
        stop.wait(every)
        waited += every


def housekeeping_round(container: Container, *, hourly: bool) -> None:
    woke = wake_snoozed_threads(container)
    if woke:
        log.info("reopened %d snoozed threads", woke)
    if container.journeys is not None:  # due journey steps, every wake (timers live in Postgres)
        stepped = container.journeys.run_due()
        if stepped:
            log.info("took %d journey runs forward", stepped)
    if not hourly:
        return
    purged = purge_expired_idempotency_keys(container.uow, container.clock)
    attempts = purge_login_attempts(container.uow, container.clock)
    if purged or attempts:
        log.info("purged %d expired idempotency keys, %d old login attempts", purged, attempts)
    if container.ringcentral is not None:
        renewed = renew_if_due(container.uow, container.ringcentral.client, container.clock)
        if renewed is not None:
            log.info("RingCentral subscription %s renewed", renewed.subscription_id)
    tend_calendars(container)
    pruned = prune_idle_checkpoints(container, container.clock.now() - CHECKPOINTS_IDLE)
    if pruned:
        log.info("pruned the checkpoints of %d idle conversations", pruned)
