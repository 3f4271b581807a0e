"""The journey engine driven by a fake clock: the shipped deposit reminder through its whole life and
its exit, a worker dying mid-step sends nothing twice, an opted-out customer receives nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from automation.journeys import load_journeys
from domain.clock import FixedClock
from domain.commands import MarkDepositPaid, UpdateConsent
from hibachi.bootstrap import Container, bootstrap
from services import handlers
from tests.conftest import START, reset
from tests.factories import create_booking_cmd

PHONE = "+19165550123"


@pytest.fixture
def world(database_url: str, business: Any, cipher: Any, blind: Any) -> Iterator[tuple[Container, FixedClock]]:
    clock = FixedClock(START)
    container = bootstrap(
        database_url=database_url,
        business=business,
        cipher=cipher,
        blind=blind,
        clock=clock,
        journeys=load_journeys(),
    )
    reset(container)
    yield container, clock
    container.engine.dispose()


def runs(container: Container) -> dict[str, Any]:
    with container.engine.connect() as conn:
        return {r.journey: r for r in conn.execute(text("SELECT * FROM automation.journey_runs"))}


def rows(container: Container, target: str) -> list[Any]:
    with container.engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT payload, status, last_error FROM events.outbox WHERE target = :t ORDER BY created_at"),
                {"t": target},
            )
        )


def texts(container: Container) -> list[str]:
    with container.uow() as uow:
        threads = [
            str(r.id) for r in uow.conn.execute(text("SELECT id FROM core.message_threads WHERE channel = 'sms'"))
        ]
        return [m.body for t in threads for m in uow.threads.transcript(t) if m.author == "system"]


def step(container: Container, clock: FixedClock, hours: float) -> int:
    clock.advance(timedelta(hours=hours))
    assert container.journeys is not None
    return container.journeys.run_due()


def test_the_deposit_reminder_from_booking_to_released_hold(world: tuple[Container, FixedClock]) -> None:
    container, clock = world
    booked = container.bus.handle(create_booking_cmd(consent_sms=True)).body
    started = runs(container)
    assert set(started) == {"deposit-reminder", "pre-event", "post-event"}  # balance-reminder starts on payment
    step(container, clock, 0)
    assert runs(container)["deposit-reminder"].due_at == START + timedelta(hours=24) and texts(container) == []
    step(container, clock, 23.9)
    assert texts(container) == []  # not yet
    step(container, clock, 0.1)
    assert len(texts(container)) == 1 and "deposit holds" in texts(container)[0]
    assert [r.payload["template"] for r in rows(container, handlers.NOTIFY_REMINDER)] == ["deposit_reminder"]
    step(container, clock, 24)
    assert len(texts(container)) == 2 and "last call" in texts(container)[1]
    step(container, clock, 24)
    run = runs(container)["deposit-reminder"]
    assert (run.status, run.outcome) == ("finished", "every step taken")
    with container.engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM core.bookings WHERE reference = :r"), {"r": booked["reference"]}
        ).scalar()
        log = [r.outcome for r in conn.execute(text("SELECT outcome FROM automation.journey_steps ORDER BY at"))]
        mode = conn.execute(text("SELECT mode FROM core.message_threads WHERE channel = 'sms'")).scalar()
    assert status == "cancelled" and mode == "human"
    assert "hold released (booking cancelled)" in log and "conversation handed to staff (deposit_unpaid)" in log
    # The other journeys saw the cancellation and ended on their next wake.
    step(container, clock, 24 * 30)
    assert runs(container)["pre-event"].status == "exited"


def test_paying_the_deposit_ends_the_reminders_and_starts_the_balance_reminder(
    world: tuple[Container, FixedClock],
) -> None:
    container, clock = world
    booked = container.bus.handle(create_booking_cmd(consent_sms=True)).body
    step(container, clock, 24)
    assert len(texts(container)) == 1
    container.bus.handle(MarkDepositPaid(booked["reference"], 10000, by="staff"))
    step(container, clock, 24)
    deposit = runs(container)["deposit-reminder"]
    assert (deposit.status, deposit.outcome) == ("exited", "exit: deposit_paid") and len(texts(container)) == 1
    assert runs(container)["balance-reminder"].status == "active"
    # 48 hours before the party (Dec 12, 6pm local): the balance reminder.
    clock.current = START.replace(day=10, hour=17, minute=59)  # START's zone is Sacramento's
    container.journeys.run_due()  # type: ignore[union-attr]
    assert not any("balance of" in t for t in texts(container))
    step(container, clock, 1 / 60)
    assert any("balance of $710.00" in t for t in texts(container))


def test_a_worker_dying_mid_step_sends_nothing_twice(
    world: tuple[Container, FixedClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    container, clock = world
    container.bus.handle(create_booking_cmd(consent_sms=True))
    step(container, clock, 0)
    real = handlers.record_reply

    def dies_after_writing(*args: Any) -> Any:
        real(*args)  # the text and its outbox row are written...
        raise SystemExit("killed")  # ...and the worker dies before the commit

    monkeypatch.setattr(handlers, "record_reply", dies_after_writing)
    with pytest.raises(SystemExit):
        step(container, clock, 24)
    assert texts(container) == [] and rows(container, handlers.SEND_SMS) == []
    monkeypatch.setattr(handlers, "record_reply", real)
    step(container, clock, 0)  # the restarted worker claims the run again
    step(container, clock, 0)
    assert len(texts(container)) == 1 and len(rows(container, handlers.SEND_SMS)) == 1


def test_an_opted_out_customer_receives_nothing(world: tuple[Container, FixedClock]) -> None:
    container, clock = world
    container.bus.handle(create_booking_cmd(consent_sms=True))
    container.bus.handle(UpdateConsent(channel="sms", granted=False, source="sms", phone=PHONE))
    step(container, clock, 0)
    step(container, clock, 24)
    container.dispatcher.dispatch_due()
    sent = rows(container, handlers.SEND_SMS)
    assert sent and all(r.status == "dead" and "opted_out" in r.last_error for r in sent)


def test_staff_see_a_bookings_runs_and_stop_one(world: tuple[Container, FixedClock]) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.security import SESSION_COOKIE
    from tests.test_admin_pages import login

    container, clock = world
    reference = container.bus.handle(create_booking_cmd(consent_sms=True)).body["reference"]
    step(container, clock, 0)
    member = login(container)
    with TestClient(create_app(container), base_url="https://testserver", follow_redirects=False) as client:
        client.cookies.set(SESSION_COOKIE, member.cookie)
        page = client.get(f"/admin/bookings/{reference}")
        assert page.status_code == 200 and "deposit-reminder" in page.text and "waiting until" in page.text
        run_id = str(runs(container)["deposit-reminder"].id)
        where = f"/admin/bookings/{reference}/journeys/{run_id}/stop"
        assert where in page.text
        stopped = client.post(where, data={"csrf_token": member.csrf})
        assert stopped.status_code == 303
        assert (
            client.post(
                f"/admin/bookings/{reference}/journeys/not-a-uuid/stop", data={"csrf_token": member.csrf}
            ).status_code
            == 422
        )
    run = runs(container)["deposit-reminder"]
    assert run.status == "stopped" and run.outcome.startswith("stopped by staff")
    step(container, clock, 72)
    assert texts(container) == []  # a stopped run takes no more steps
    with container.engine.connect() as conn:
        audited = conn.execute(text("SELECT count(*) FROM audit.entries WHERE action = 'StopJourneyRun'")).scalar()
    assert audited == 1


def at_local(clock: FixedClock, day: int, hour: int, minute: int = 0) -> None:
    clock.current = START.replace(day=day, hour=hour, minute=minute)  # START is in the business's zone


def test_pre_event_and_post_event_journeys_through_their_lives(world: tuple[Container, FixedClock]) -> None:
    container, clock = world
    booked = container.bus.handle(create_booking_cmd(consent_sms=True)).body  # Saturday Dec 12, 6pm
    container.bus.handle(MarkDepositPaid(booked["reference"], 10000, by="staff"))
    runner = container.journeys
    assert runner is not None
    runner.run_due()
    at_local(clock, 9, 17, 59)  # 72 h before, less a minute
    runner.run_due()
    assert not any("protein" in t for t in texts(container))
    at_local(clock, 9, 18)
    runner.run_due()
    assert any("protein choices" in t for t in texts(container))
    emails = [r.payload["template"] for r in rows(container, handlers.NOTIFY_REMINDER)]
    assert "menu_and_allergies" in emails
    at_local(clock, 11, 18)  # the day before: the chef's arrival
    runner.run_due()
    assert any("arrives about 30 minutes before 6pm" in t for t in texts(container))
    assert runs(container)["pre-event"].status == "finished"
    at_local(clock, 13, 9, 59)  # the next day, before 10:00
    runner.run_due()
    assert not any("thank you" in t.lower() for t in texts(container))
    at_local(clock, 13, 10)
    runner.run_due()
    assert any("thank you for having" in t.lower() for t in texts(container))
    assert runs(container)["post-event"].status == "finished"


def test_a_cancelled_party_gets_no_pre_event_texts(world: tuple[Container, FixedClock]) -> None:
    from domain.commands import CancelBooking

    container, clock = world
    booked = container.bus.handle(create_booking_cmd(consent_sms=True)).body
    container.bus.handle(MarkDepositPaid(booked["reference"], 10000, by="staff"))
    container.bus.handle(CancelBooking(booked["reference"], reason="changed plans"))
    at_local(clock, 13, 10)
    container.journeys.run_due()  # type: ignore[union-attr]
    assert texts(container) == []
    assert {r.status for r in runs(container).values()} == {"exited"}


def test_the_quote_follow_up_texts_once_a_day_later_unless_they_booked(
    world: tuple[Container, FixedClock], agent: Any
) -> None:
    from services.conversations import receive_sms

    container, clock = world
    container.bus.handle(UpdateConsent(channel="sms", granted=True, source="sms", phone=PHONE))
    asked = receive_sms(container, PHONE, "how much for 10 adults in 95816?", "rc-q-1", graph=agent)
    assert asked.reply and "$" in asked.reply  # the agent quoted: that is the QuoteGiven
    receive_sms(container, PHONE, "and for 12 adults?", "rc-q-2", graph=agent)  # a second quote: one run
    (run,) = runs(container).values()
    assert run.journey == "quote-follow-up" and str(run.thread_id) == asked.thread_id
    step(container, clock, 0)
    step(container, clock, 23.9)
    assert texts(container) == []
    step(container, clock, 0.1)
    (follow_up,) = texts(container)
    assert "following up on your hibachi quote" in follow_up
    assert runs(container)["quote-follow-up"].status == "finished"


def test_no_quote_follow_up_after_a_booking_or_without_consent(world: tuple[Container, FixedClock]) -> None:
    from domain.commands import ReceiveMessage, RecordQuote

    container, clock = world
    booked_phone, silent_phone = PHONE, "+19165550177"
    container.bus.handle(UpdateConsent(channel="sms", granted=True, source="sms", phone=booked_phone))
    container.bus.handle(UpdateConsent(channel="sms", granted=False, source="sms", phone=silent_phone))
    for phone in (booked_phone, silent_phone):
        thread_id = container.bus.handle(ReceiveMessage("sms", phone, "price?", "sms-test", phone)).body["thread_id"]
        container.bus.handle(RecordQuote(thread_id, 60000))
    step(container, clock, 0)
    container.bus.handle(create_booking_cmd(phone=booked_phone, consent_sms=True))  # they booked
    step(container, clock, 24)
    with container.engine.connect() as conn:
        outcomes = set(
            conn.execute(
                text("SELECT outcome FROM automation.journey_runs WHERE journey = 'quote-follow-up'")
            ).scalars()
        )
    assert outcomes == {"no_booking did not hold", "sms_consent did not hold"}
    assert not any("quote" in t for t in texts(container))


def test_two_workers_take_each_step_once(world: tuple[Container, FixedClock]) -> None:
    import threading

    container, clock = world
    for i in range(8):
        container.bus.handle(
            create_booking_cmd(
                email=f"guest{i}@example.com", phone=f"+1916555{i:04d}", consent_sms=True, day=f"2026-12-{12 + i}"
            )
        )
    runner = container.journeys
    assert runner is not None
    runner.run_due()
    clock.advance(timedelta(hours=24))
    workers = [threading.Thread(target=runner.run_due) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    reminders = [r for r in rows(container, handlers.NOTIFY_REMINDER) if r.payload["template"] == "deposit_reminder"]
    assert len(rows(container, handlers.SEND_SMS)) == 8 and len(reminders) == 8


def test_a_broken_step_fails_its_run_and_the_others_go_on(
    world: tuple[Container, FixedClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    container, clock = world
    container.bus.handle(create_booking_cmd(consent_sms=True))
    container.bus.handle(create_booking_cmd(email="kim@example.com", phone="+19165550999", day="2026-12-13"))
    step(container, clock, 0)
    real = handlers.record_reply
    calls: list[int] = []

    def first_one_breaks(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("template broke")
        return real(*args)

    monkeypatch.setattr(handlers, "record_reply", first_one_breaks)
    step(container, clock, 24)
    with container.engine.connect() as conn:
        states = sorted(
            (r.status, r.outcome)
            for r in conn.execute(
                text("SELECT status, outcome FROM automation.journey_runs WHERE journey = 'deposit-reminder'")
            )
        )
    assert states[0] == ("active", states[0][1]) and states[1] == ("failed", "failed at step 1: RuntimeError")
    assert len(texts(container)) == 1  # the other booking's reminder went
