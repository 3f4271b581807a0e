"""The outbox dispatcher: delivery, backoff, dead letters, and no double sends across workers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from db.outbox import OutboxMessage
from db.tables import outbox
from domain.clock import FixedClock
from hibachi.bootstrap import Container
from services.outbox_dispatcher import OutboxDispatcher, PermanentFailure, Target, backoff
from tests.factories import create_booking_cmd


def dispatcher(container: Container, targets: Mapping[str, Target], **kwargs: Any) -> OutboxDispatcher:
    return OutboxDispatcher(container.uow, targets, container.clock, **kwargs)


def outbox_rows(container: Container) -> dict[str, Any]:
    with container.engine.connect() as conn:
        return {row.target: row for row in conn.execute(select(outbox))}


def test_messages_are_delivered_once_with_their_row_id(container: Container) -> None:
    container.bus.handle(create_booking_cmd())
    seen: list[tuple[str, str, str]] = []

    def record(message: OutboxMessage) -> Mapping[str, Any]:
        seen.append((message.target, message.id, message.payload["reference"]))
        return {"url": f"https://pay.example/{message.id}"}

    worker = dispatcher(
        container,
        {
            "payments.create_deposit_link": record,
            "notify.booking_confirmation": record,
            "calendar.booking_event": record,
        },
    )
    assert worker.dispatch_due() == 3
    assert worker.dispatch_due() == 0
    rows = outbox_rows(container)
    assert {r.status for r in rows.values()} == {"done"}
    assert sorted(t for t, _, _ in seen) == sorted(rows)
    link = rows["payments.create_deposit_link"]
    assert link.result == {"url": f"https://pay.example/{link.id}"}
    assert link.attempts == 1 and link.dispatched_at is not None


def test_failures_back_off_exponentially_then_dead_letter(container: Container, clock: FixedClock) -> None:
    container.bus.handle(create_booking_cmd())
    calls = Counter[str]()

    def flaky(message: OutboxMessage) -> None:
        calls[message.target] += 1
        raise ConnectionError("provider timed out")

    def ok(message: OutboxMessage) -> None:
        return None

    worker = dispatcher(
        container,
        {"payments.create_deposit_link": flaky, "notify.booking_confirmation": ok},
        base_delay=timedelta(seconds=10),
    )
    worker.dispatch_due()
    first = outbox_rows(container)["payments.create_deposit_link"]
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.available_at - container.clock.now() == timedelta(seconds=10)
    assert "ConnectionError: provider timed out" in first.last_error

    assert worker.dispatch_due() == 0  # not due yet
    clock.advance(timedelta(seconds=10))
    worker.dispatch_due()
    second = outbox_rows(container)["payments.create_deposit_link"]
    assert second.available_at - container.clock.now() == timedelta(seconds=20)

    for _ in range(10):
        clock.advance(timedelta(hours=1))
        worker.dispatch_due()
    dead = outbox_rows(container)["payments.create_deposit_link"]
    assert (dead.status, dead.attempts) == ("dead", container.outbox_max_attempts)
    assert calls["payments.create_deposit_link"] == container.outbox_max_attempts


def test_permanent_failures_and_unknown_targets_dead_letter_at_once(container: Container) -> None:
    container.bus.handle(create_booking_cmd())

    def refuse(message: OutboxMessage) -> None:
        raise PermanentFailure("amount must be positive")

    worker = dispatcher(container, {"payments.create_deposit_link": refuse})
    worker.dispatch_due()
    rows = outbox_rows(container)
    assert (rows["payments.create_deposit_link"].status, rows["payments.create_deposit_link"].attempts) == ("dead", 1)
    assert rows["notify.booking_confirmation"].status == "dead"
    assert "no target 'notify.booking_confirmation'" in rows["notify.booking_confirmation"].last_error


def test_backoff_is_capped() -> None:
    assert backoff(1, timedelta(seconds=2), timedelta(minutes=1)) == timedelta(seconds=2)
    assert backoff(4, timedelta(seconds=2), timedelta(minutes=1)) == timedelta(seconds=16)
    assert backoff(30, timedelta(seconds=2), timedelta(minutes=1)) == timedelta(minutes=1)


def test_concurrent_workers_never_take_the_same_message(container: Container) -> None:
    for i in range(15):
        container.bus.handle(create_booking_cmd(day=f"2026-12-{10 + i}", email=f"w{i}@example.com", phone=None))
    delivered = Counter[str]()
    lock = threading.Lock()

    def slow(message: OutboxMessage) -> None:
        time.sleep(0.01)  # hold the row lock long enough for the other workers to collide
        with lock:
            delivered[message.id] += 1

    targets = {
        "payments.create_deposit_link": slow,
        "notify.booking_confirmation": slow,
        "calendar.booking_event": slow,
    }
    workers = [dispatcher(container, targets) for _ in range(4)]
    threads = [threading.Thread(target=w.dispatch_due) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(delivered) == 45
    assert set(delivered.values()) == {1}
    assert {r.status for r in outbox_rows(container).values()} == {"done"}


def test_an_idle_dispatcher_is_woken_when_new_rows_commit(container: Container) -> None:
    from services.outbox_dispatcher import OutboxWakeup

    arrived = threading.Event()

    def provider(message: OutboxMessage) -> Mapping[str, Any]:
        arrived.set()
        return {"ok": True}

    dispatcher = OutboxDispatcher(container.uow, {"bench.wake": provider}, container.clock)
    wake = OutboxWakeup(container.engine.url.render_as_string(hide_password=False))
    stop = threading.Event()
    worker = threading.Thread(target=dispatcher.run, args=(stop, 30.0), kwargs={"wake": wake}, daemon=True)
    worker.start()
    try:
        time.sleep(0.3)  # idle now: waiting up to 30 s
        started = time.monotonic()
        with container.uow() as uow:
            uow.outbox.add_many([("bench.wake", {"n": 1})])
            uow.commit()
        assert arrived.wait(5), "the commit did not wake the dispatcher"
        assert time.monotonic() - started < 2  # woken, not polled
        # A rolled-back transaction notifies nobody: nothing to wake for.
        arrived.clear()
        with container.uow() as uow:
            uow.outbox.add_many([("bench.wake", {"n": 2})])
        assert not arrived.wait(0.5)
    finally:
        stop.set()
        with container.uow() as uow:  # one more commit wakes it so it sees the stop
            uow.outbox.add_many([("bench.wake", {"n": 3})])
            uow.commit()
        worker.join(5)
        wake.close()
