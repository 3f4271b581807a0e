"""Running one conversation case: every turn goes through the channel path the web widget and the
SMS webhook use (`services.conversations.handle_inbound`: stored message, thread lock, human-mode
check, the graph with its Postgres checkpointer, the reply stored), on the case's clock.

Around each turn the runner reads the database: the thread's mode, the customer's SMS opt-out, the
bookings, the messages the business sent, and the question the agent's checkpoint says it asked.
The outcome is graded from those reads, never from the agent's words.

A turn "confirms" when the agent's previous reply asked for confirmation (the checkpoint's pending
question is the summary, or the reschedule / cancel confirmation) and the customer's message reads as
a yes to the rules engine, the deterministic reference reading whichever engine the agent runs.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from agent.engines import RULES
from agent.schema import Context as UnderstandingContext
from db.tables import booking_upgrades
from domain.contact import normalize_phone
from domain.errors import DomainError
from graph.context import Context
from services.conversations import handle_inbound

from .cases import ConversationCase, substitute
from .policy import TurnObservation, quote_cents, violations
from .results import CaseResult, Message, TurnRecord
from .world import World

CONFIRM_QUESTIONS = ("confirm", "manage_confirm")
ACTIVE = ("deposit_pending", "deposit_paid")


@dataclass(frozen=True)
class BookingRow:
    id: str
    reference: str
    status: str
    day: date
    slot: clock_time
    money: tuple[int, ...]


def _bookings(world: World) -> dict[str, BookingRow]:
    with world.container.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, reference, status, event_date, slot, food_cents, upgrades_cents, travel_fee_cents,"
                " total_due_cents, deposit_due_cents, deposit_paid_cents FROM core.bookings"
            )
        ).all()
    return {
        str(r.id): BookingRow(
            str(r.id),
            r.reference,
            r.status,
            r.event_date,
            r.slot,
            (
                r.food_cents,
                r.upgrades_cents,
                r.travel_fee_cents,
                r.total_due_cents,
                r.deposit_due_cents,
                r.deposit_paid_cents,
            ),
        )
        for r in rows
    }


def booking_fields(world: World, booking_id: str) -> dict[str, Any]:
    """A booking as a case grades it (cases.ExpectedBooking), read from the database and decrypted."""
    container = world.container
    with container.uow() as uow:
        row = uow.conn.execute(
            text(
                "SELECT id, reference, status, event_date, slot, zip, zone_id, address_enc, adults, kids,"
                " total_due_cents, deposit_due_cents, customer_id FROM core.bookings WHERE id = :id"
            ),
            {"id": booking_id},
        ).one()
        upgrades = {
            r.code: r.guests
            for r in uow.conn.execute(booking_upgrades.select().where(booking_upgrades.c.booking_id == booking_id))
        }
        customer = uow.customers.get(str(row.customer_id))
    address = container.cipher.decrypt(row.address_enc, table="core.bookings", column="address_enc", row_id=str(row.id))
    return {
        "reference": row.reference,
        "status": row.status,
        "date": row.event_date.isoformat(),
        "slot": row.slot.strftime("%H:%M"),
        "zip": row.zip,
        "zone": row.zone_id,
        "address": address,
        "party_adults": row.adults,
        "party_kids": row.kids,
        "upgrades": upgrades,
        "total_due_cents": row.total_due_cents,
        "deposit_due_cents": row.deposit_due_cents,
        "first_name": customer.first_name if customer else None,
        "last_name": customer.last_name if customer else None,
        "email": customer.email if customer else None,
        "phone": customer.phone if customer else None,
        "consent_sms": customer.consent_sms if customer else None,
    }


def _same(field: str, expected: Any, actual: Any) -> bool:
    if field == "phone" and isinstance(expected, str):
        try:
            expected = normalize_phone(expected)
        except DomainError:
            return False
    if field in ("first_name", "last_name", "email", "address", "reference", "zone") and isinstance(expected, str):
        return isinstance(actual, str) and expected.strip().casefold() == actual.strip().casefold()
    if field == "upgrades" and isinstance(expected, dict):
        return {k: v for k, v in expected.items() if v} == (actual or {})
    return bool(expected == actual)


class _Observer:
    """Reads the database around each turn of one case."""

    def __init__(self, world: World, case: ConversationCase) -> None:
        self.world = world
        self.case = case
        self.thread_id: str | None = None
        self.last_seq = 0
        self.bookings = _bookings(world)
        self.fixtures = set(self.bookings)

    def mode(self) -> str:
        if self.thread_id is None:
            return "none"
        with self.world.container.uow() as uow:
            thread = uow.threads.get(self.thread_id)
        return thread.mode if thread else "none"

    def opted_out(self) -> bool:
        phone = self.case.customer.phone
        return bool(phone) and self.world.container.queries.sms_opted_out(phone or "")

    def pending(self) -> str | None:
        if self.thread_id is None:
            return None
        compiled = self.world.container.agent().graph()
        context = Context(self.world.container, self.thread_id, self.case.channel)
        values = compiled.get_state({"configurable": {"thread_id": context.thread_id}}).values
        pending = values.get("pending")
        return str(pending) if pending else None

    def sent_since_last(self) -> list[Message]:
        assert self.thread_id is not None
        with self.world.container.uow() as uow:
            messages = uow.threads.transcript(self.thread_id)
        new = [m for m in messages if m.seq > self.last_seq]
        if messages:
            self.last_seq = max(m.seq for m in messages)
        return [Message(m.author, m.body) for m in new if m.direction == "out"]


def confirms(text_: str, pending: str | None, world: World) -> str | None:
    """The confirmation question this message said yes to ("confirm": a new booking's summary,
    "manage_confirm": a reschedule or cancel), or None."""
    if pending not in CONFIRM_QUESTIONS:
        return None
    context = UnderstandingContext(now=world.container.clock.now(), timezone=world.business.timezone, pending="confirm")
    return pending if RULES.understand(text_, context).confirm is True else None


class Conversation:
    """One run of one conversation case, a customer turn at a time: `turn(text)` sends a message
    through the channel path and records what it observed; `finish()` grades the case. The replay
    (`run_conversation`) and the simulated customer (evals.simulate) both drive it."""

    def __init__(self, world: World, case: ConversationCase, path: Path, run: int) -> None:
        self.world, self.case = world, case
        self.result = CaseResult(case.id, "conversation", str(path), case.categories, run, passed=False)
        self.references = world.begin(case)  # raises when a fixture is refused: the case cannot run
        self.observer = _Observer(world, case)
        self.contact = case.customer.phone if case.channel == "sms" else f"eval-{case.id}-{run}-{uuid.uuid4().hex[:8]}"
        self.observations: list[TurnObservation] = []

    def turn(self, said: str) -> TurnRecord:
        world, case, observer = self.world, self.case, self.observer
        index = len(self.observations) + 1
        mode_before, opted_before, pending = observer.mode(), observer.opted_out(), observer.pending()
        started = time.perf_counter()
        inbound = handle_inbound(
            world.container,
            channel=case.channel,
            contact=self.contact or "",
            text=said,
            provider="evals" if case.channel == "sms" else None,
            provider_message_id=uuid.uuid4().hex if case.channel == "sms" else None,
            email=case.customer.email,
        )
        elapsed = (time.perf_counter() - started) * 1000
        observer.thread_id = inbound.thread_id
        replies = observer.sent_since_last()
        after = _bookings(world)
        observation = TurnObservation(
            index=index,
            text=said,
            replies=replies,
            mode_before=mode_before,
            opted_out_before=opted_before,
            opted_out_after=observer.opted_out(),
            confirmed=confirms(said, pending, world),
            created=[row.reference for key, row in after.items() if key not in observer.bookings],
            moved=[
                row.reference
                for key, row in after.items()
                if key in observer.bookings
                and (row.day, row.slot) != (observer.bookings[key].day, observer.bookings[key].slot)
            ],
            cancelled=[
                row.reference
                for key, row in after.items()
                if key in observer.bookings
                and row.status == "cancelled"
                and observer.bookings[key].status != "cancelled"
            ],
            allowed_cents=quote_cents(world.queries.quotes) | {c for row in after.values() for c in row.money},
        )
        observer.bookings = after
        self.observations.append(observation)
        record = TurnRecord(said, replies, elapsed)
        self.result.turns.append(record)
        return record

    def fail(self, error: Exception) -> CaseResult:
        """The case could not run to its end: what was observed is still checked, and every field it
        grades counts as a miss (an error never improves slot accuracy)."""
        result = self.result
        result.error = f"turn {len(result.turns) + 1}: {type(error).__name__}: {error}"
        result.violations = violations(self.observations, self.world.business, self.case.channel)
        count_unmatched(result, self.case.expect.booking_fields)
        return result

    def finish(self) -> CaseResult:
        result = self.result
        result.violations = violations(self.observations, self.world.business, self.case.channel)
        _grade(self.world, self.case, self.observer, self.observations, self.references, result)
        result.passed = not (result.error or result.violations or result.failures) and all(
            not t.problems for t in result.turns
        )
        return result


def run_conversation(world: World, case: ConversationCase, path: Path, run: int) -> CaseResult:
    try:
        conversation = Conversation(world, case, path, run)
    except Exception as error:  # a fixture the command path refused: the case cannot run
        result = CaseResult(case.id, "conversation", str(path), case.categories, run, passed=False)
        result.error = f"fixtures: {type(error).__name__}: {error}"
        count_unmatched(result, case.expect.booking_fields)
        return result
    references = conversation.references
    try:
        for turn in case.turns:
            record = conversation.turn(substitute(turn.user, references))
            record.problems = _turn_problems(
                turn.expect_reply_contains, turn.expect_reply_not_contains, record, references
            )
    except Exception as error:
        return conversation.fail(error)
    return conversation.finish()


def count_unmatched(result: CaseResult, expected: dict[str, Any]) -> None:
    result.expected = result.expected or {"booking": expected}
    result.graded += len(expected)


def _turn_problems(
    contains: list[str], not_contains: list[str], record: TurnRecord, references: dict[str, str]
) -> list[str]:
    reply = record.reply.casefold()
    problems = []
    for wanted in contains:
        wanted = substitute(wanted, references)
        if wanted.casefold() not in reply:
            problems.append(f"reply lacks {wanted!r}")
    for unwanted in not_contains:
        unwanted = substitute(unwanted, references)
        if unwanted.casefold() in reply:
            problems.append(f"reply contains {unwanted!r}")
    return problems


def _grade(
    world: World,
    case: ConversationCase,
    observer: _Observer,
    observations: list[TurnObservation],
    references: dict[str, str],
    result: CaseResult,
) -> None:
    expect = case.expect
    final = observer.bookings
    new = [row for key, row in final.items() if key not in observer.fixtures]
    mode = observer.mode()
    opted_out = observer.opted_out()
    outcome = _observed_outcome(case, observations, new, final, references, mode, opted_out)
    expected_booking = expect.booking_fields
    result.expected = {"outcome": expect.outcome, **({"booking": expected_booking} if expected_booking else {})}
    result.actual = {"outcome": outcome, "thread_mode": mode, "new_bookings": [r.reference for r in new]}
    if outcome != expect.outcome:
        result.failures.append(f"outcome {outcome}, expected {expect.outcome}")

    graded_booking: BookingRow | None = None
    if expect.outcome == "booked" and len(new) == 1:
        graded_booking = new[0]
    elif expect.outcome in ("rescheduled", "cancelled"):
        reference = references.get(f"#{case.existing_index()}")
        graded_booking = next((row for row in final.values() if row.reference == reference), None)
    elif expected_booking and len(new) == 1:
        graded_booking = new[0]
    if expected_booking:
        actual = booking_fields(world, graded_booking.id) if graded_booking else {}
        result.actual["booking"] = {name: actual.get(name) for name in expected_booking}
        for name, wanted in expected_booking.items():
            result.graded += 1
            if graded_booking is None:  # no booking: every field is a miss, `upgrades: {}` included
                result.failures.append(f"booking.{name}: expected {wanted!r}, no booking to grade")
            elif _same(name, substitute(wanted, references) if isinstance(wanted, str) else wanted, actual.get(name)):
                result.matched += 1
            else:
                result.failures.append(f"booking.{name}: expected {wanted!r}, got {actual.get(name)!r}")
    replies = [m.body.casefold() for t in result.turns for m in t.replies]
    for wanted in expect.said:
        wanted = substitute(wanted, references)
        if not any(wanted.casefold() in reply for reply in replies):
            result.failures.append(f"never said {wanted!r}")


def _observed_outcome(
    case: ConversationCase,
    observations: list[TurnObservation],
    new: list[BookingRow],
    final: dict[str, BookingRow],
    references: dict[str, str],
    mode: str,
    opted_out: bool,
) -> str:
    """What happened, by the definitions of EVALS.md; `other` when none of them holds."""
    if new:
        created_in = next((o for o in observations if new[0].reference in o.created), None)
        if len(new) == 1 and created_in is not None and created_in.confirmed == "confirm":
            return "booked"
        return "other"
    existing = references.get(f"#{case.existing_index()}") if case.fixtures.bookings else None
    row = next((r for r in final.values() if r.reference == existing), None)
    if row is not None:
        if row.status == "cancelled":
            return "cancelled"
        if any(existing in o.moved for o in observations) and row.status in ACTIVE:
            return "rescheduled"
    if opted_out:
        stop_turn = max((o.index for o in observations if o.opted_out_after and not o.opted_out_before), default=0)
        later = [m for o in observations if o.index > stop_turn for m in o.replies]
        at_stop = next((o for o in observations if o.index == stop_turn), None)
        if at_stop is not None and len(at_stop.replies) == 1 and not later:  # the one confirmation
            return "opted_out"
        return "other"
    if mode == "human":
        return "handoff"
    return "no_booking"
