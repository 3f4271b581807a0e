"""The journey engine: runs the journeys of automation/journeys.py, durably.

- Starting: `start_runs` is called with the events a unit of work publishes, in the same
  transaction: each journey whose trigger matches gets a run for that booking (one per journey and
  booking, so a retried command never starts two), due at once.
- Running: `JourneyRunner.run_due()` claims due runs with `FOR UPDATE SKIP LOCKED` (several workers
  never take the same run) and, in one transaction per run: checks the exit conditions, then takes
  steps until one waits (its due time moves on) or the journey ends. Every step's effect (an outbox
  row for a text or email, a staff task, a handoff, a command) is written in that transaction with
  the step's log row, whose key is (run, step): a worker killed mid-step left nothing, and the step
  is taken once when the run is claimed again.
- Texts go through the SMS sender (services/sms.py): consent and quiet hours apply at send time;
  emails through the email outbox target.
- Timers are the runs' `due_at` in Postgres: they survive restarts. Housekeeping calls `run_due`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agent import wording
from automation.journeys import Journey, RelativeTime, Step
from db.sql import execute
from db.uow import UnitOfWork
from domain.booking import ACTIVE_STATUSES
from domain.clock import Clock
from domain.commands import CancelBooking, HandOffThread, RecordReply
from domain.events import DomainEvent
from services.context import ServiceContext

log = logging.getLogger(__name__)
ACTOR = "journey"


def start_runs(uow: UnitOfWork, journeys: Iterable[Journey], events: Iterable[DomainEvent], at: datetime) -> int:
    """Start the runs these events trigger (in the publishing transaction); how many started."""
    started = 0
    for event in events:
        # A booking's event starts a run for the booking; a conversation's (a quote) one for the thread.
        booking_id = getattr(event, "booking_id", None)
        thread_id = None if booking_id else getattr(event, "thread_id", None)
        if booking_id is None and thread_id is None:
            continue
        payload = {k: str(v) for k, v in vars(event).items()}
        for journey in journeys:
            if journey.event != type(event).__name__:
                continue
            if any(payload.get(name) not in wanted for name, wanted in journey.where.items()):
                continue
            row = execute(
                uow.conn,
                "INSERT INTO automation.journey_runs (journey, booking_id, thread_id, due_at, started_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
                (journey.name, booking_id, thread_id, at, at, at),
            ).fetchone()
            started += row is not None
    return started


class JourneyRunner:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        context: ServiceContext,
        journeys: Iterable[Journey],
        handlers: Any,
    ) -> None:
        self.uow_factory = uow_factory
        self.context = context
        self.journeys = {j.name: j for j in journeys}
        self.handlers = handlers  # services.handlers (passed in: it imports this module's caller)

    @property
    def clock(self) -> Clock:
        return self.context.clock

    def run_due(self, limit: int = 100) -> int:
        """Take due runs forward, one transaction each; how many were handled."""
        handled = 0
        while handled < limit and self.run_one():
            handled += 1
        return handled

    def run_one(self) -> bool:
        now = self.clock.now()
        failed: tuple[str, str] | None = None
        with self.uow_factory() as uow:
            run = execute(
                uow.conn,
                "SELECT id, journey, booking_id, thread_id, step_index, due_at, started_at FROM automation.journey_runs"
                " WHERE status = 'active' AND due_at <= %s ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                (now,),
            ).fetchone()
            if run is None:
                return False
            journey = self.journeys.get(run.journey)
            try:
                if journey is None:  # a journey file removed since: the run cannot go on
                    self._finish(uow, str(run.id), "stopped", "its journey is no longer defined", now)
                else:
                    self._advance(uow, journey, run, now)
                uow.commit()
            except Exception as error:  # this run's step went wrong: nothing of it stays, the others go on
                log.exception("journey run %s (%s) failed", run.id, run.journey)
                failed = (str(run.id), f"failed at step {run.step_index}: {type(error).__name__}")
        if failed is not None:
            # Marked failed (for staff, on the booking page) rather than retried every minute: a step
            # that broke once is broken (a bad template, a refused command) until someone looks.
            with self.uow_factory() as uow:
                self._finish(uow, failed[0], "failed", failed[1], now)
                uow.commit()
        return True

    # ------------------------------------------------------------------ one run
    def _advance(self, uow: UnitOfWork, journey: Journey, run: Any, now: datetime) -> None:
        """Steps from the run's step; waits count from when it fell due (`base`), not from a late
        worker's now, so a schedule never drifts."""
        run_id, index, base = str(run.id), run.step_index, run.due_at
        facts = self._facts(uow, run, now)
        if facts is None:
            self._finish(uow, run_id, "stopped", "its booking or customer is gone", now)
            return
        for exit_condition in journey.exits:
            if self._holds(exit_condition, facts):
                self._finish(uow, run_id, "exited", f"exit: {exit_condition}", now)
                return
        while index < len(journey.steps):
            step = journey.steps[index]
            if step.kind in ("wait", "wait_until"):
                due = self._due(step, facts, base)
                self._log(uow, run_id, index, step, f"until {due.isoformat()}", now)
                index, base = index + 1, due
                if due > now:
                    execute(
                        uow.conn,
                        "UPDATE automation.journey_runs SET step_index = %s, due_at = %s, updated_at = %s,"
                        " outcome = %s WHERE id = %s",
                        (index, due, now, f"waiting until {due.isoformat()}", run_id),
                    )
                    return
                continue
            if step.kind == "if":
                if not self._holds(str(step.value), facts):
                    self._log(uow, run_id, index, step, f"{step.value}: no", now)
                    self._finish(uow, run_id, "stopped", f"{step.value} did not hold", now)
                    return
                self._log(uow, run_id, index, step, f"{step.value}: yes", now)
                index += 1
                continue
            outcome = self._act(uow, step, facts, run_id, now)
            self._log(uow, run_id, index, step, outcome, now)
            index += 1
        self._finish(uow, run_id, "finished", "every step taken", now)

    def _finish(self, uow: UnitOfWork, run_id: str, status: str, outcome: str, now: datetime) -> None:
        execute(
            uow.conn,
            "UPDATE automation.journey_runs SET status = %s, outcome = %s, updated_at = %s WHERE id = %s",
            (status, outcome, now, run_id),
        )

    def _log(self, uow: UnitOfWork, run_id: str, index: int, step: Step, outcome: str, now: datetime) -> None:
        execute(
            uow.conn,
            "INSERT INTO automation.journey_steps (run_id, step_index, kind, outcome, at) VALUES (%s, %s, %s, %s, %s)",
            (run_id, index, step.kind, outcome, now),
        )

    def _due(self, step: Step, facts: dict[str, Any], base: datetime) -> datetime:
        if step.kind == "wait":
            due: datetime = base + step.value
            return due
        relative: RelativeTime = step.value
        when: datetime = facts["event_start"] + relative.offset
        if relative.at is not None:
            when = when.replace(hour=relative.at.hour, minute=relative.at.minute, second=0, microsecond=0)
        return when

    # ------------------------------------------------------------------ what is true now
    def _facts(self, uow: UnitOfWork, run: Any, now: datetime) -> dict[str, Any] | None:
        """What the conditions and actions read: the booking (None for a conversation's run), the
        customer, whether they booked since the run started, their texting consent."""
        row = None
        if run.booking_id is not None:
            row = execute(
                uow.conn,
                "SELECT id, reference, customer_id, status, event_date, slot, total_due_cents, deposit_due_cents,"
                " deposit_paid_cents, chef_id FROM core.bookings WHERE id = %s",
                (str(run.booking_id),),
            ).fetchone()
            if row is None:
                return None
            customer_id = str(row.customer_id)
        else:
            thread = uow.threads.get(str(run.thread_id))
            if thread is None or thread.customer_id is None:
                return None  # a quote to someone who never gave their details: no one to follow up
            customer_id = thread.customer_id
        customer = uow.customers.get(customer_id)
        booked_since = execute(  # by the event's time: the app's clock, as the run's start is
            uow.conn,
            "SELECT 1 FROM events.domain_events WHERE event_type = 'BookingCreated'"
            " AND payload->>'customer_id' = %s AND occurred_at >= %s LIMIT 1",
            (customer_id, run.started_at),
        ).fetchone()
        zone = ZoneInfo(self.context.business.timezone)
        return {
            "booking": row,
            "customer": customer,
            "event_start": datetime.combine(row.event_date, row.slot, tzinfo=zone) if row else None,
            "now": now,
            "booked_since": booked_since is not None,
            "sms_consent": bool(customer and customer.phone and uow.consents.sms_state(customer.phone) is True),
        }

    @staticmethod
    def _holds(condition: str, facts: dict[str, Any]) -> bool:
        b = facts["booking"]
        active = b is not None and b.status in ACTIVE_STATUSES
        truth: dict[str, bool] = {
            "deposit_paid": b is not None and b.deposit_paid_cents >= b.deposit_due_cents,
            "deposit_unpaid": active and b.deposit_paid_cents < b.deposit_due_cents,
            "balance_due": active and b.deposit_paid_cents < b.total_due_cents,
            "booking_active": active,
            "booking_cancelled": b is not None and b.status == "cancelled",
            "event_passed": b is not None and facts["now"] >= facts["event_start"],
            "sms_consent": facts["sms_consent"],
            "email_on_file": bool(facts["customer"] and facts["customer"].email),
            "no_booking": not facts["booked_since"],
        }
        return truth[condition]

    # ------------------------------------------------------------------ doing
    def _act(self, uow: UnitOfWork, step: Step, facts: dict[str, Any], run_id: str, now: datetime) -> str:
        b, customer = facts["booking"], facts["customer"]
        h = self.handlers
        if step.kind == "send_sms":
            if customer is None or not customer.phone:
                return "no phone: not texted"
            thread = h.customer_sms_thread(uow, self.context, customer)
            text = wording.journey_text(str(step.value), b, customer.first_name, self.context.business)
            h.record_reply(RecordReply(thread.id, text, "system"), uow, self.context)
            return f"text queued ({step.value})"
        if step.kind in ("send_email", "staff_task", "command") and b is None:
            return f"{step.kind} needs a booking: not done"  # a conversation's run (a quote follow-up)
        if step.kind == "send_email":
            if customer is None or not customer.email:
                return "no email: not emailed"
            payload = {"booking_id": str(b.id), "reference": b.reference, "template": str(step.value)}
            uow.outbox.add_many([(h.NOTIFY_REMINDER, payload)], aggregate_id=str(b.id))
            return f"email queued ({step.value})"
        if step.kind == "staff_task":
            execute(
                uow.conn,
                "INSERT INTO automation.staff_tasks (booking_id, run_id, text, created_at) VALUES (%s, %s, %s, %s)",
                (str(b.id), run_id, str(step.value), now),
            )
            return "staff task created"
        if step.kind == "hand_to_staff":
            thread_id = h.latest_thread_of(uow, customer.id) if customer else None
            if thread_id is None:
                return "no conversation to hand over"
            h.hand_off_thread(HandOffThread(thread_id, str(step.value), by=ACTOR), uow, self.context)
            return f"conversation handed to staff ({step.value})"
        if step.kind == "command" and step.value == "release_hold":
            if b.status not in ACTIVE_STATUSES:
                return "nothing to release"
            h.cancel_booking(
                CancelBooking(b.reference, reason="deposit not paid: hold released", source="staff"), uow, self.context
            )
            return "hold released (booking cancelled)"
        raise ValueError(f"unknown step {step.kind}:{step.value}")  # the checker refuses these first
