"""One handler per command, in one table (`HANDLERS`). A handler validates against the business
rules, changes aggregates, publishes their events and writes outbox rows, all through the unit of
work it is given; the bus owns the transaction and commits."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from db.envelope import OwnerErased
from db.repositories import CustomerRecord
from db.sql import execute
from db.threads import ThreadRecord
from db.uow import UnitOfWork
from domain import availability
from domain.availability import ALTERNATIVE_SEARCH_DAYS
from domain.booking import Booking
from domain.commands import (
    AddThreadNote,
    AssignThread,
    CancelBooking,
    ConfirmMatch,
    ConsentEvidence,
    CreateBooking,
    CustomerDetails,
    EraseCustomer,
    ExpirePaymentLink,
    ExportCustomerData,
    HandBackThread,
    HandOffThread,
    IgnoreCredit,
    MarkDepositPaid,
    ReceiveMessage,
    RecordBankPayment,
    RecordDepositPayment,
    RecordQuote,
    RecordRefund,
    RecordReply,
    RejectMatch,
    ReopenThread,
    RescheduleBooking,
    ResendPaymentLink,
    ResolveThread,
    RetryDelivery,
    SendStaffReply,
    SnoozeThread,
    StopJourneyRun,
    SuggestMatches,
    UpdateConsent,
)
from domain.contact import normalize_email, normalize_phone
from domain.errors import ConcurrencyConflict, DomainError, NotFound, SlotUnavailable
from domain.events import (
    CustomerErased,
    DepositRefunded,
    DomainEvent,
    LeadCreated,
    MessageReceived,
    QuoteGiven,
    ReplyRecorded,
    ThreadAssigned,
    ThreadCustomerLinked,
    ThreadHandedBack,
    ThreadHandedOff,
    ThreadNoteAdded,
    ThreadReopened,
    ThreadResolved,
    ThreadSlotsCorrected,
    ThreadSnoozed,
    ThreadStarted,
)
from domain.matching import normalize_payer
from domain.money import format_usd
from domain.pricing import Party, quote
from domain.text import unstorable
from domain.zones import normalize_zip, zone_for_zip
from services import privacy
from services.consent import record_consent
from services.context import ServiceContext, fields_under
from services.sms import SEND_SMS, enqueue_notice, enqueue_thread_message, may_text_notice

SOURCES = ("web", "sms", "staff", "api", "agent")
CONSENT_CHANNELS = ("sms", "email")
MAX_NAME = 100
MAX_ADDRESS = 500
MAX_NOTES = 2000

# Outbox targets written by these handlers (the dispatcher's target table maps them to adapters).
DEPOSIT_LINK = "payments.create_deposit_link"
REFUND_DEPOSIT = "payments.refund_deposit"
NOTIFY_CONFIRMED = "notify.booking_confirmation"
NOTIFY_RESCHEDULED = "notify.booking_rescheduled"
NOTIFY_CANCELLED = "notify.booking_cancelled"
NOTIFY_PAYMENT_LINK = "notify.payment_link"  # text the customer the booking's (new) deposit link
NOTIFY_RECEIPT = "notify.payment_receipt"  # email the customer a receipt for money received
NOTIFY_REMINDER = "notify.booking_reminder"  # email a reminder before the party (scheduled by journeys)
# The chef's calendar event of a booking, made to match the booking as it is when sent (create, move,
# delete): one target for all three, so rows retried or run out of order converge (services/chef_calendars.py).
CALENDAR_EVENT = "calendar.booking_event"


def _text(value: str | None, *, field: str, max_len: int, required: bool = True) -> str | None:
    cleaned = (value or "").strip()
    if not cleaned:
        if required:
            raise DomainError("is required", field=field)
        return None
    if len(cleaned) > max_len:
        raise DomainError(f"must be at most {max_len} characters", field=field)
    problem = unstorable(cleaned)
    if problem:  # the API refuses these at its edge; a provider's webhook text comes here unchecked
        raise DomainError(problem, field=field)
    return cleaned


def _source(value: str) -> str:
    if value not in SOURCES:
        raise DomainError(f"must be one of {', '.join(SOURCES)}", field="source")
    return value


def _slot_unavailable(
    uow: UnitOfWork, ctx: ServiceContext, zone_id: str, day: date, slot: time, *, exclude: str | None = None
) -> SlotUnavailable:
    today = availability.local_today(ctx.clock.now(), ctx.business.timezone)
    window = timedelta(days=ALTERNATIVE_SEARCH_DAYS + 1)
    wide = uow.chefs.schedules(day - window, day + window, exclude_booking=exclude)
    options = availability.alternatives(ctx.business, wide, zone_id, today, day, slot)
    return SlotUnavailable(f"no chef is free on {day.isoformat()} at {slot.strftime('%H:%M')}", alternatives=options)


def _free_chef(
    uow: UnitOfWork,
    ctx: ServiceContext,
    zone_id: str,
    day: date,
    slot: time,
    *,
    exclude: str | None = None,
    prefer: str | None = None,
) -> str:
    """Pick a free chef and lock their day(s) for this transaction; SlotUnavailable if none is free.

    Only the chosen chef is locked, then re-read under the lock: if a concurrent command just gave
    them this time, the next free chef is tried. Everyone prefers chefs in the same order, so the
    locks are taken in the same order too.
    """
    rules = ctx.business.calendar
    days = availability.days_to_lock(rules, day, slot)
    refused: set[str] = set()
    while True:
        schedules = uow.chefs.schedules(days[0], days[-1], exclude_booking=exclude)
        free = [c.chef_id for c in availability.free_chefs(rules, schedules, zone_id, day, slot)]
        free = [chef_id for chef_id in free if chef_id not in refused]
        if not free:
            raise _slot_unavailable(uow, ctx, zone_id, day, slot, exclude=exclude)
        choice = prefer if prefer in free else free[0]
        uow.chefs.lock_days(choice, days)
        (mine,) = uow.chefs.schedules(days[0], days[-1], exclude_booking=exclude, chef_id=choice)
        if availability.chef_is_free(rules, mine, zone_id, day, slot):
            return choice
        refused.add(choice)


def _find_or_create_customer(
    uow: UnitOfWork, ctx: ServiceContext, details: CustomerDetails, source: str
) -> tuple[CustomerRecord, bool]:
    """The customer with these contact details, and whether they were created just now (then their
    row is already in its final state: consent given here and the version after their events)."""
    first = _text(details.first_name, field="customer.first_name", max_len=MAX_NAME)
    last = _text(details.last_name, field="customer.last_name", max_len=MAX_NAME)
    email = normalize_email(details.email, field="customer.email") if details.email else None
    phone = normalize_phone(details.phone, field="customer.phone") if details.phone else None
    if email is None and phone is None:
        raise DomainError("an email or a phone number is required", field="customer.email")
    # Insert first: most bookings come from new customers, and a known contact only makes the
    # insert do nothing (the unique blind indexes), after which the customer is looked up.
    created = uow.customers.insert_if_absent(
        first_name=first or "",
        last_name=last or "",
        email=email,
        phone=phone,
        version=2 if details.consent_sms else 1,  # LeadCreated (+ ConsentUpdated, cached by record_consent)
    )
    if created is not None:
        return created, True
    record = uow.customers.find(email=email, phone=phone)
    if record is None:  # the conflicting row is another transaction's, rolled back since: try again
        raise ConcurrencyConflict("a customer with this contact was being created concurrently")
    uow.customers.add_missing_details(record, first_name=first, last_name=last, email=email, phone=phone)
    return record, False


def _publish_customer(uow: UnitOfWork, ctx: ServiceContext, record: CustomerRecord, events: list[DomainEvent]) -> None:
    if not events:
        return
    at = ctx.clock.now()
    version = uow.publish(record.id, record.version, events, at=at)
    uow.customers.bump_version(record, version, at)


def create_booking(cmd: CreateBooking, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    business = ctx.business
    source = _source(cmd.source)
    req = cmd.booking
    with fields_under("booking."):
        zone = zone_for_zip(business, req.zip, field="zip")
        zip_code = normalize_zip(req.zip)
        slot = availability.parse_slot(business.calendar, req.slot)
        today = availability.local_today(ctx.clock.now(), business.timezone)
        availability.check_lead_time(business.calendar, today, req.date)
        party = Party(req.adults, req.kids)
        availability.check_party(business.party, party)
        price = quote(business.pricing, zone, party, req.upgrades)
        address = _text(req.address, field="address", max_len=MAX_ADDRESS)
        notes = _text(req.notes, field="notes", max_len=MAX_NOTES, required=False)

    customer, new_customer = _find_or_create_customer(uow, ctx, cmd.customer, source)
    chef_id = _free_chef(uow, ctx, zone.id, req.date, slot)

    booking = Booking.create(
        id=ctx.new_id(),
        # A clash with an existing reference (1 in ~24M) fails the unique index; the bus retries.
        reference=ctx.new_reference(),
        customer_id=customer.id,
        chef_id=chef_id,
        day=req.date,
        slot=slot,
        zone_id=zone.id,
        zip=zip_code,
        adults=party.adults,
        kids=party.kids,
        quote=price,
        source=source,
    )
    booking.version = len(booking.pending_events)
    at = ctx.clock.now()
    uow.bookings.add(booking, address=address or "", notes=notes, source=source, unit_prices=business.pricing.upgrades)
    uow.publish(booking.id, 0, booking.pending_events, at=at)

    customer_events: list[DomainEvent] = [LeadCreated(customer_id=customer.id, source=source)] if new_customer else []
    if cmd.customer.consent_sms and (new_customer or uow.consents.current(customer.id, "sms") is not True):
        customer_events.append(
            record_consent(
                uow, ctx, customer, channel="sms", granted=True, source=source, evidence=cmd.consent_evidence
            )
        )
    if new_customer:
        uow.publish(customer.id, 0, customer_events, at=at)
    else:
        _publish_customer(uow, ctx, customer, customer_events)

    message = {"booking_id": booking.id, "reference": booking.reference}
    uow.outbox.add_many(
        [
            (DEPOSIT_LINK, message | {"amount_cents": booking.deposit_due_cents, "requested_at": at.isoformat()}),
            (NOTIFY_CONFIRMED, message),
            (CALENDAR_EVENT, message),
        ],
        aggregate_id=booking.id,
    )
    if cmd.thread_id:
        _link_thread(uow, ctx, cmd.thread_id, customer.id)
    return booking_view(booking, chef_name=business.chef_name(chef_id))


def _link_thread(uow: UnitOfWork, ctx: ServiceContext, thread_id: str, customer_id: str) -> None:
    """The conversation a booking was made in belongs to its customer from now on (staff find it
    by their name, it shows in their 360). A thread that is unknown here (a LangGraph Studio run)
    or already has a customer is left alone."""
    try:
        thread = uow.threads.lock(str(uuid.UUID(thread_id)))
    except ValueError:
        return
    if thread is None or thread.customer_id is not None:
        return
    thread.customer_id = customer_id
    _publish_thread(uow, ctx, thread, [ThreadCustomerLinked(thread.id, customer_id)])


def reschedule_booking(cmd: RescheduleBooking, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    business = ctx.business
    source = _source(cmd.source)
    booking = _load(uow, cmd.reference)
    slot = availability.parse_slot(business.calendar, cmd.slot)
    today = availability.local_today(ctx.clock.now(), business.timezone)
    availability.check_lead_time(business.calendar, today, cmd.date)
    if booking.active and (cmd.date, slot) != (booking.date, booking.slot):
        chef_id = _free_chef(uow, ctx, booking.zone_id, cmd.date, slot, exclude=booking.id, prefer=booking.chef_id)
    else:
        chef_id = booking.chef_id  # the aggregate refuses these below with the precise reason
    expected, previous_chef = booking.version, booking.chef_id
    booking.reschedule(day=cmd.date, slot=slot, chef_id=chef_id, rules=business.cancellation, source=source)
    booking.version = expected + len(booking.pending_events)
    at = ctx.clock.now()
    uow.bookings.save(booking, expected, at)
    uow.publish(booking.id, expected, booking.pending_events, at=at)
    message = {"booking_id": booking.id, "reference": booking.reference}
    uow.outbox.add_many(
        [(NOTIFY_RESCHEDULED, message), (CALENDAR_EVENT, message | {"previous_chef_id": previous_chef})],
        aggregate_id=booking.id,
    )
    return booking_view(booking, chef_name=business.chef_name(chef_id))


def cancel_booking(cmd: CancelBooking, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    business = ctx.business
    source = _source(cmd.source)
    _text(cmd.reason, field="reason", max_len=MAX_NOTES, required=False)
    booking = _load(uow, cmd.reference)
    today = availability.local_today(ctx.clock.now(), business.timezone)
    expected = booking.version
    event = booking.cancel(today=today, rules=business.cancellation, source=source)
    booking.version = expected + len(booking.pending_events)
    at = ctx.clock.now()
    uow.bookings.save(booking, expected, at)
    uow.publish(booking.id, expected, booking.pending_events, at=at)
    message: dict[str, Any] = {"booking_id": booking.id, "reference": booking.reference}
    messages = [(NOTIFY_CANCELLED, message | {"refund_cents": event.refund_cents}), (CALENDAR_EVENT, message)]
    if event.refund_cents:
        messages.append((REFUND_DEPOSIT, message | {"amount_cents": event.refund_cents}))
    uow.outbox.add_many(messages, aggregate_id=booking.id)
    view = booking_view(booking, chef_name=business.chef_name(booking.chef_id))
    view["deposit_refundable"] = event.deposit_refundable
    view["refund_cents"] = event.refund_cents
    return view


def update_consent(cmd: UpdateConsent, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    """Record an opt-in or opt-out. A phone or email we have never seen is recorded too, as a new
    contact-only customer: carriers and the TCPA expect a STOP from any number to be honoured."""
    source = _source(cmd.source)
    if cmd.channel not in CONSENT_CHANNELS:
        raise DomainError(f"must be one of {', '.join(CONSENT_CHANNELS)}", field="channel")
    events: list[DomainEvent] = []
    if cmd.customer_id:
        record = uow.customers.get(cmd.customer_id)
        if record is None:
            raise NotFound("no such customer", field="customer_id")
        if uow.customers.erased(record.id):
            raise OwnerErased("was erased on request: there is no one to ask for consent", field="customer_id")
    else:
        email = normalize_email(cmd.email) if cmd.email else None
        phone = normalize_phone(cmd.phone) if cmd.phone else None
        if email is None and phone is None:
            raise DomainError("give customer_id, phone or email", field="customer_id")
        record = uow.customers.find(email=email, phone=phone)
        if record is None:
            record = uow.customers.insert_if_absent(first_name="", last_name="", email=email, phone=phone)
            if record is None:  # created concurrently: the bus runs the command again
                raise ConcurrencyConflict("a customer with this contact was being created concurrently")
            events.append(LeadCreated(customer_id=record.id, source=source))
    evidence = ConsentEvidence(cmd.source_message_id, cmd.ip, cmd.page)
    events.append(
        record_consent(uow, ctx, record, channel=cmd.channel, granted=cmd.granted, source=source, evidence=evidence)
    )
    _publish_customer(uow, ctx, record, events)
    return {"customer_id": record.id, "channel": cmd.channel, "granted": cmd.granted}


def _load(uow: UnitOfWork, reference: str) -> Booking:
    booking = uow.bookings.by_reference(reference.strip().upper())
    if booking is None:
        raise NotFound(f"no booking {reference!r}", field="reference")
    return booking


def booking_view(booking: Booking, *, chef_name: str) -> dict[str, Any]:
    """The command result a client gets back: no personal data, so it can be replayed and logged."""
    return {
        "booking_id": booking.id,
        "reference": booking.reference,
        "status": booking.status,
        "date": booking.date.isoformat(),
        "slot": booking.slot.strftime("%H:%M"),
        "zone": booking.zone_id,
        "chef_name": chef_name,
        "party": {"adults": booking.adults, "kids": booking.kids},
        "upgrades": dict(booking.upgrades),
        "total_due_cents": booking.total_due_cents,
        "deposit_due_cents": booking.deposit_due_cents,
        "total_due": format_usd(booking.total_due_cents),
        "deposit_due": format_usd(booking.deposit_due_cents),
        "customer_id": booking.customer_id,
        "version": booking.version,
    }


# ---------------------------------------------------------------- channels (conversation threads)
CHANNELS = ("web", "sms")
REPLY_AUTHORS = ("ai", "staff", "system")
MAX_MESSAGE = 2000
NOTIFY_STAFF_HANDOFF = "notify.staff_handoff"
__all__ = ["SEND_SMS"]  # the thread-text target lives with the SMS sender; named here with the others


def _session_id(value: str) -> str:
    cleaned = value.strip()
    if not 8 <= len(cleaned) <= 128 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in cleaned):
        raise DomainError("must be 8 to 128 letters, digits, '-' or '_'", field="session_id")
    return cleaned


def _publish_thread(uow: UnitOfWork, ctx: ServiceContext, thread: ThreadRecord, events: list[DomainEvent]) -> None:
    thread.version = uow.publish(thread.id, thread.version, events, at=ctx.clock.now())
    uow.threads.save(thread)


def _locked_thread(uow: UnitOfWork, thread_id: str) -> ThreadRecord:
    try:
        thread = uow.threads.lock(str(uuid.UUID(thread_id)))
    except ValueError:  # not an id: no such thread
        thread = None
    if thread is None:
        raise NotFound("no such thread", field="thread_id")
    return thread


def receive_message(cmd: ReceiveMessage, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    if cmd.channel not in CHANNELS:
        raise DomainError(f"must be one of {', '.join(CHANNELS)}", field="channel")
    body = _text(cmd.body, field="text", max_len=MAX_MESSAGE) or ""
    if cmd.provider_message_id and cmd.provider:
        first = uow.threads.by_provider_id(cmd.provider, cmd.provider_message_id)
        if first is not None:  # a retried webhook or a resent widget message: nothing new
            thread = uow.threads.get(first.thread_id)
            return _received(first.thread_id, first.id, first.seq, thread.mode if thread else "ai", duplicate=True)
    phone = normalize_phone(cmd.contact, field="phone") if cmd.channel == "sms" else None
    contact = phone or _session_id(cmd.contact)
    email = normalize_email(cmd.email) if cmd.email else None
    customer = uow.customers.find(email=email, phone=phone) if (email or phone) else None
    customer_id = customer.id if customer else None
    thread, opened = uow.threads.open_or_lock(cmd.channel, contact, customer_id)
    if thread.customer_id is None and customer_id:
        thread.customer_id = customer_id
    at = ctx.clock.now()
    events: list[DomainEvent] = [ThreadStarted(thread.id, cmd.channel, thread.customer_id)] if opened else []
    if thread.status in ("snoozed", "resolved"):  # the customer writing again reopens the thread
        thread.status, thread.snoozed_until = _active_status(thread), None
        events.append(ThreadReopened(thread.id, thread.status, "customer"))
    message = uow.threads.add_message(
        thread.id,
        direction="in",
        author="customer",
        body=body,
        provider=cmd.provider,
        provider_message_id=cmd.provider_message_id,
        at=at,
    )
    events.append(MessageReceived(thread.id, message.id, cmd.channel, cmd.provider, thread.mode, thread.customer_id))
    _publish_thread(uow, ctx, thread, events)
    return _received(thread.id, message.id, message.seq, thread.mode, duplicate=False)


def customer_sms_thread(uow: UnitOfWork, ctx: ServiceContext, customer: CustomerRecord) -> ThreadRecord:
    """The customer's SMS thread, opened (and announced) when they have none: where a text the
    business starts (a journey's reminder) is kept like any other message."""
    if not customer.phone:
        raise DomainError("has no phone to text", field="customer_id")
    thread, opened = uow.threads.open_or_lock("sms", customer.phone, customer.id)
    if opened:
        _publish_thread(uow, ctx, thread, [ThreadStarted(thread.id, "sms", customer.id)])
    return thread


def latest_thread_of(uow: UnitOfWork, customer_id: str) -> str | None:
    """The customer's most recently active conversation (for a handoff to staff)."""
    row = execute(
        uow.conn,
        "SELECT thread_id FROM read.inbox_threads WHERE customer_id = %s"
        " ORDER BY last_message_at DESC NULLS LAST LIMIT 1",
        (customer_id,),
    ).fetchone()
    return str(row.thread_id) if row else None


def _active_status(thread: ThreadRecord) -> str:
    """A live thread's status: open when staff have it (human mode), pending when the agent does."""
    return "open" if thread.mode == "human" else "pending"


def _received(thread_id: str, message_id: str, seq: int, mode: str, *, duplicate: bool) -> dict[str, Any]:
    return {"thread_id": thread_id, "message_id": message_id, "seq": seq, "mode": mode, "duplicate": duplicate}


def record_reply(cmd: RecordReply, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    if cmd.author not in REPLY_AUTHORS:
        raise DomainError(f"must be one of {', '.join(REPLY_AUTHORS)}", field="author")
    body = _text(cmd.body, field="body", max_len=MAX_MESSAGE) or ""
    thread = _locked_thread(uow, cmd.thread_id)  # the row lock orders this after any takeover
    at = ctx.clock.now()
    if cmd.author == "ai" and thread.mode == "human":
        # Staff took the thread while the agent was thinking: their takeover wins, nothing is sent.
        if cmd.in_reply_to:
            uow.threads.mark_handled([cmd.in_reply_to], at)
        return {"stored": False, "thread_id": thread.id, "mode": thread.mode}
    message = uow.threads.add_message(
        thread.id, direction="out", author=cmd.author, body=body, in_reply_to=cmd.in_reply_to, at=at
    )
    if cmd.in_reply_to:
        uow.threads.mark_handled([cmd.in_reply_to], at)
    _publish_thread(uow, ctx, thread, [ReplyRecorded(thread.id, message.id, cmd.author, cmd.in_reply_to)])
    if thread.channel == "sms":
        enqueue_thread_message(uow, thread, message)
    return {"stored": True, "thread_id": thread.id, "message_id": message.id, "mode": thread.mode}


def hand_off_thread(cmd: HandOffThread, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    reason = _text(cmd.reason, field="reason", max_len=32) or ""
    # "agent" (the agent asked for a person: the inbox alert) or staff: "staff", or who on staff
    # (a user id or an audit actor such as "user:<id>").
    _text(cmd.by, field="by", max_len=80)
    thread = _locked_thread(uow, cmd.thread_id)
    if thread.mode == "human":
        return {"thread_id": thread.id, "mode": "human", "changed": False, "reason": thread.handoff_reason}
    thread.mode, thread.handoff_reason, thread.status, thread.snoozed_until = "human", reason, "open", None
    _publish_thread(uow, ctx, thread, [ThreadHandedOff(thread.id, reason, cmd.by)])
    uow.outbox.add_many(
        [(NOTIFY_STAFF_HANDOFF, {"thread_id": thread.id, "reason": reason, "by": cmd.by})], aggregate_id=thread.id
    )
    return {"thread_id": thread.id, "mode": "human", "changed": True, "reason": reason}


def hand_back_thread(cmd: HandBackThread, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    thread = _locked_thread(uow, cmd.thread_id)
    corrected = _slot_names(cmd.corrected)
    events: list[DomainEvent] = [ThreadSlotsCorrected(thread.id, corrected, cmd.by)] if corrected else []
    if thread.mode == "ai":
        if events:
            _publish_thread(uow, ctx, thread, events)
        return {"thread_id": thread.id, "mode": "ai", "changed": False, "corrected": corrected}
    thread.mode, thread.handoff_reason = "ai", None
    if thread.status == "open":
        thread.status = "pending"
    # What the customer said while staff had the thread was theirs to answer: not the agent's turn.
    uow.threads.mark_handled([m.id for m in uow.threads.waiting(thread.id)], ctx.clock.now())
    _publish_thread(uow, ctx, thread, [*events, ThreadHandedBack(thread.id, cmd.by)])
    return {"thread_id": thread.id, "mode": "ai", "changed": True, "corrected": corrected}


def _slot_names(names: tuple[str, ...]) -> list[str]:
    from agent.schema import Slots  # the agent's slot names; pydantic only, no graph

    unknown = sorted(set(names) - set(Slots.model_fields))
    if unknown:
        raise DomainError(f"unknown slots: {', '.join(unknown)}", field="corrected")
    return sorted(set(names))


# ---------------------------------------------------------------- the staff inbox
MAX_NOTE = 4000
MAX_SNOOZE = timedelta(days=365)  # a snooze is a reminder, not an archive


def _thread_state(thread: ThreadRecord, **extra: Any) -> dict[str, Any]:
    return {
        "thread_id": thread.id,
        "mode": thread.mode,
        "status": thread.status,
        "assignee_id": thread.assignee_id,
        "snoozed_until": thread.snoozed_until.isoformat() if thread.snoozed_until else None,
        **extra,
    }


def _staff_user(uow: UnitOfWork, user_id: str, *, field: str) -> str:
    try:
        user = uow.staff.get(str(uuid.UUID(user_id)))
    except ValueError:  # not an id at all
        user = None
    if user is None or not user.active:
        raise NotFound("no such staff user", field=field)
    return user.id


def assign_thread(cmd: AssignThread, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    assignee = _staff_user(uow, cmd.assignee_id, field="assignee_id") if cmd.assignee_id else None
    thread = _locked_thread(uow, cmd.thread_id)
    if thread.assignee_id == assignee:
        return _thread_state(thread, changed=False)
    thread.assignee_id = assignee
    _publish_thread(uow, ctx, thread, [ThreadAssigned(thread.id, assignee, cmd.by)])
    return _thread_state(thread, changed=True)


def snooze_thread(cmd: SnoozeThread, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    if cmd.until.tzinfo is None:
        raise DomainError("must include a time zone", field="until")
    if cmd.until <= ctx.clock.now():
        raise DomainError("must be in the future", field="until")
    if cmd.until > ctx.clock.now() + MAX_SNOOZE:
        raise DomainError(f"must be within {MAX_SNOOZE.days} days", field="until")
    thread = _locked_thread(uow, cmd.thread_id)
    thread.status, thread.snoozed_until = "snoozed", cmd.until
    _publish_thread(uow, ctx, thread, [ThreadSnoozed(thread.id, cmd.until.isoformat(), cmd.by)])
    return _thread_state(thread, changed=True)


def resolve_thread(cmd: ResolveThread, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    thread = _locked_thread(uow, cmd.thread_id)
    if thread.status == "resolved":
        return _thread_state(thread, changed=False)
    thread.status, thread.snoozed_until = "resolved", None
    _publish_thread(uow, ctx, thread, [ThreadResolved(thread.id, cmd.by)])
    return _thread_state(thread, changed=True)


def reopen_thread(cmd: ReopenThread, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    thread = _locked_thread(uow, cmd.thread_id)
    if thread.status not in ("snoozed", "resolved"):
        return _thread_state(thread, changed=False)
    thread.status, thread.snoozed_until = _active_status(thread), None
    _publish_thread(uow, ctx, thread, [ThreadReopened(thread.id, thread.status, cmd.by)])
    return _thread_state(thread, changed=True)


def add_thread_note(cmd: AddThreadNote, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    body = _text(cmd.body, field="body", max_len=MAX_NOTE) or ""
    author = _staff_user(uow, cmd.by, field="by")
    thread = _locked_thread(uow, cmd.thread_id)
    note = uow.threads.add_note(thread.id, author_id=author, body=body, at=ctx.clock.now())
    _publish_thread(uow, ctx, thread, [ThreadNoteAdded(thread.id, note.id, author)])
    return {"thread_id": thread.id, "note_id": note.id}


def send_staff_reply(cmd: SendStaffReply, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    """Staff speak only on a thread they have taken over: in ai mode the agent is answering, and two
    voices at once would talk over each other."""
    body = _text(cmd.body, field="body", max_len=MAX_MESSAGE) or ""
    staff_id = _staff_user(uow, cmd.by, field="by")
    thread = _locked_thread(uow, cmd.thread_id)
    if thread.mode != "human":
        raise DomainError("take the thread over before replying", field="thread_id")
    if thread.channel == "sms":
        phone = uow.threads.contact(thread.id)
        if phone and uow.consents.sms_state(phone) is False:
            raise DomainError("this number opted out of texts (STOP); only START reopens it", field="thread_id")
    author = "ai" if cmd.as_ai else "staff"
    at = ctx.clock.now()
    message = uow.threads.add_message(thread.id, direction="out", author=author, body=body, staff_id=staff_id, at=at)
    _publish_thread(uow, ctx, thread, [ReplyRecorded(thread.id, message.id, author, None, staff_id)])
    if thread.channel == "sms":
        enqueue_thread_message(uow, thread, message)
    return {"stored": True, "thread_id": thread.id, "message_id": message.id, "author": author, "mode": thread.mode}


# ---------------------------------------------------------------- payments (staff actions)


def _record_payment(uow: UnitOfWork, booking: Booking, *, amount_cents: int, by: str, at: datetime) -> None:
    """Money in for the booking, however it came (staff, Stripe, a bank credit): the event, and the
    receipt to the customer through the outbox."""
    expected = booking.version
    booking.mark_deposit_paid(amount_cents=amount_cents, by=by)
    booking.version = expected + len(booking.pending_events)
    uow.bookings.save(booking, expected, at)
    uow.publish(booking.id, expected, booking.pending_events, at=at)
    receipt = {"booking_id": booking.id, "reference": booking.reference, "amount_cents": amount_cents}
    uow.outbox.add_many([(NOTIFY_RECEIPT, receipt)], aggregate_id=booking.id)


def mark_deposit_paid(cmd: MarkDepositPaid, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    booking = _load(uow, cmd.reference)
    _record_payment(uow, booking, amount_cents=cmd.amount_cents, by=cmd.by, at=ctx.clock.now())
    view = booking_view(booking, chef_name=ctx.business.chef_name(booking.chef_id))
    view["deposit_paid_cents"] = booking.deposit_paid_cents
    return view


def resend_payment_link(cmd: ResendPaymentLink, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    booking = _load(uow, cmd.reference)
    customer = uow.customers.get(booking.customer_id)
    sms = may_text_notice(uow, customer.phone if customer else None)
    expected = booking.version
    event = booking.resend_payment_link(by=cmd.by, sms=sms)
    booking.version = expected + len(booking.pending_events)
    at = ctx.clock.now()
    uow.bookings.save(booking, expected, at)
    uow.publish(booking.id, expected, booking.pending_events, at=at)
    message: dict[str, Any] = {"booking_id": booking.id, "reference": booking.reference}
    link = {"amount_cents": event.amount_cents, "resend": True, "requested_at": at.isoformat()}
    messages = [(DEPOSIT_LINK, message | link)]
    uow.outbox.add_many(messages, aggregate_id=booking.id)
    if sms:
        enqueue_notice(uow, NOTIFY_PAYMENT_LINK, message, aggregate_id=booking.id)
    return {"reference": booking.reference, "amount_cents": event.amount_cents, "sms": sms}


# ---------------------------------------------------------------- payment provider webhooks
# Providers redeliver and reorder events: each handler first records the event id (a repeat does
# nothing), and each effect is written so that any order of deliveries ends in the same state.


def _first_delivery(uow: UnitOfWork, ctx: ServiceContext, provider: str, event_id: str, event_type: str) -> bool:
    row = execute(
        uow.conn,
        "INSERT INTO integra.webhook_events (provider, event_id, event_type, received_at, processed_at)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING event_id",
        (provider, event_id[:255], event_type[:64], ctx.clock.now(), ctx.clock.now()),
    ).fetchone()
    return row is not None


def record_deposit_payment(cmd: RecordDepositPayment, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    result: dict[str, Any] = {"event_id": cmd.event_id, "reference": cmd.reference, "duplicate": True}
    if not _first_delivery(uow, ctx, cmd.provider, cmd.event_id, cmd.event_type):
        return result
    booking = uow.bookings.by_reference(cmd.reference.strip().upper())
    at = ctx.clock.now()
    # Paid wins over expired whatever order the two arrive in: expiry only touches an open link.
    execute(
        uow.conn,
        "UPDATE integra.payment_links SET status = 'paid' WHERE provider = %s AND provider_id = %s",
        (cmd.provider, cmd.session_id),
    )
    first = execute(
        uow.conn,
        "INSERT INTO integra.payment_events (provider, provider_id, booking_id, kind, amount_cents, occurred_at)"
        " VALUES (%s, %s, %s, 'deposit', %s, %s) ON CONFLICT DO NOTHING RETURNING id",
        (cmd.provider, cmd.provider_id, booking.id if booking else None, cmd.amount_cents, at),
    ).fetchone()
    result |= {"duplicate": first is None, "booking_updated": False}
    if first is None or booking is None or cmd.amount_cents <= 0:
        return result  # the payment was already counted (another event reported it), or is not ours
    if not booking.active or booking.deposit_paid_cents + cmd.amount_cents > booking.total_due_cents:
        # Money for a cancelled booking, or a second link paid as well: recorded for staff to refund,
        # never refused (the customer has paid; refusing would only make the provider retry).
        result["needs_staff"] = True
        return result
    _record_payment(uow, booking, amount_cents=cmd.amount_cents, by=cmd.provider, at=at)
    result |= {"booking_updated": True, "status": booking.status, "deposit_paid_cents": booking.deposit_paid_cents}
    return result


def expire_payment_link(cmd: ExpirePaymentLink, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    if not _first_delivery(uow, ctx, cmd.provider, cmd.event_id, cmd.event_type):
        return {"event_id": cmd.event_id, "duplicate": True}
    row = execute(
        uow.conn,
        "UPDATE integra.payment_links SET status = 'expired' WHERE provider = %s AND provider_id = %s"
        " AND status = 'open' RETURNING id",
        (cmd.provider, cmd.session_id),
    ).fetchone()
    return {"event_id": cmd.event_id, "duplicate": False, "expired": row is not None}


def record_refund(cmd: RecordRefund, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    result: dict[str, Any] = {"event_id": cmd.event_id, "duplicate": True, "refunded_cents": 0}
    if not _first_delivery(uow, ctx, cmd.provider, cmd.event_id, cmd.event_type):
        return result
    paid = execute(
        uow.conn,
        "SELECT p.booking_id, b.reference FROM integra.payment_events p JOIN core.bookings b ON b.id = p.booking_id"
        " WHERE p.provider = %s AND p.provider_id = %s AND p.kind = 'deposit'",
        (cmd.provider, cmd.payment_id),
    ).fetchone()
    booking_id, reference = (paid.booking_id, paid.reference) if paid else (None, None)
    # Refunds of one payment are recorded as the growth of its running total, so a late, smaller
    # total (an earlier partial refund delivered last) or a replay adds nothing.
    already = execute(
        uow.conn,
        "SELECT coalesce(sum(amount_cents), 0) FROM integra.payment_events WHERE provider = %s AND kind = 'refund'"
        " AND provider_id LIKE %s",
        (cmd.provider, cmd.provider_id.rpartition("/refunded/")[0] + "/refunded/%"),
    ).fetchone()
    amount = cmd.refunded_total_cents - (int(already[0]) if already else 0)
    result["duplicate"] = False
    if amount <= 0:
        return result
    at = ctx.clock.now()
    inserted = execute(
        uow.conn,
        "INSERT INTO integra.payment_events (provider, provider_id, booking_id, kind, amount_cents, occurred_at)"
        " VALUES (%s, %s, %s, 'refund', %s, %s) ON CONFLICT DO NOTHING RETURNING id",
        (cmd.provider, cmd.provider_id, booking_id, amount, at),
    ).fetchone()
    if inserted is None:
        return result
    result["refunded_cents"] = amount
    booking = uow.bookings.by_reference(reference) if reference else None
    if booking is not None:
        expected = booking.version
        event = DepositRefunded(booking.id, booking.reference, amount, cmd.provider)
        booking.version = expected + 1
        uow.bookings.save(booking, expected, at)
        uow.publish(booking.id, expected, [event], at=at)
        result["reference"] = booking.reference
    return result


# ---------------------------------------------------------------- bank credits (services/matching.py)
BANK_TX = "integra.bank_transactions"


def _credit_row(uow: UnitOfWork, transaction_id: str) -> Any:
    row = execute(
        uow.conn,
        "SELECT id, provider, provider_id, amount_cents, posted_on, payer_enc, match_status, booking_id, removed_at"
        " FROM integra.bank_transactions WHERE id = %s FOR UPDATE",
        (_uuid(transaction_id, field="transaction_id"),),
    ).fetchone()
    if row is None or row.removed_at is not None:
        raise NotFound(f"no bank credit {transaction_id!r}", field="transaction_id")
    if row.amount_cents <= 0:
        raise DomainError("is not a credit", field="transaction_id")
    return row


def _uuid(value: str, *, field: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound(f"no bank credit {value!r}", field=field) from None


def _record_credit(
    uow: UnitOfWork, ctx: ServiceContext, transaction_id: str, reference: str, by: str
) -> dict[str, Any]:
    """Record a bank credit as a payment on the booking, once: a credit already matched is not paid
    again (a retried or repeated command returns what it did)."""
    row = _credit_row(uow, transaction_id)
    booking = _load(uow, reference)
    if row.match_status == "matched":
        if str(row.booking_id) == booking.id:
            return {"transaction_id": str(row.id), "reference": booking.reference, "status": "matched", "repeat": True}
        raise DomainError("is already matched to another booking", field="transaction_id")
    if row.match_status != "unmatched":
        raise DomainError(f"is {row.match_status}", field="transaction_id")
    at = ctx.clock.now()
    _record_payment(uow, booking, amount_cents=row.amount_cents, by=by, at=at)
    execute(
        uow.conn,
        "INSERT INTO integra.payment_events (provider, provider_id, booking_id, kind, amount_cents, occurred_at)"
        " VALUES ('bank_match', %s, %s, 'bank_credit', %s, %s) ON CONFLICT DO NOTHING",
        (str(row.id), booking.id, row.amount_cents, at),
    )
    execute(
        uow.conn,
        "UPDATE integra.bank_transactions SET match_status = 'matched', booking_id = %s, updated_at = %s WHERE id = %s",
        (booking.id, at, row.id),
    )
    execute(
        uow.conn,
        "UPDATE integra.match_suggestions SET status = 'confirmed' WHERE transaction_id = %s AND booking_id = %s",
        (row.id, booking.id),
    )
    return {
        "transaction_id": str(row.id),
        "reference": booking.reference,
        "status": "matched",
        "amount_cents": row.amount_cents,
        "deposit_paid_cents": booking.deposit_paid_cents,
        "booking_status": booking.status,
    }


def record_bank_payment(cmd: RecordBankPayment, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    return _record_credit(uow, ctx, cmd.transaction_id, cmd.reference, cmd.by)


def confirm_match(cmd: ConfirmMatch, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    result = _record_credit(uow, ctx, cmd.transaction_id, cmd.reference, f"staff:{cmd.by}")
    row = _credit_row(uow, cmd.transaction_id)
    payer = (
        uow.cipher.decrypt(row.payer_enc, table=BANK_TX, column="payer_enc", row_id=str(row.id))
        if row.payer_enc
        else ""
    )
    normal = normalize_payer(payer)
    if normal and not result.get("repeat"):
        booking = _load(uow, cmd.reference)
        execute(
            uow.conn,
            "INSERT INTO integra.payer_aliases (payer_bidx, customer_id) VALUES (%s, %s)"
            " ON CONFLICT (payer_bidx, customer_id) DO UPDATE SET confirmed = payer_aliases.confirmed + 1",
            (uow.blind.of("payer", normal), booking.customer_id),
        )
        result["alias_learnt"] = True
    return result


def _suggestion_booking(uow: UnitOfWork, transaction_id: str, reference: str) -> str:
    booking = _load(uow, reference)
    return booking.id


def reject_match(cmd: RejectMatch, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    row = _credit_row(uow, cmd.transaction_id)
    booking_id = _suggestion_booking(uow, cmd.transaction_id, cmd.reference)
    done = execute(
        uow.conn,
        "UPDATE integra.match_suggestions SET status = 'rejected' WHERE transaction_id = %s AND booking_id = %s"
        " AND status <> 'confirmed'",
        (row.id, booking_id),
    )
    if done.rowcount == 0:
        raise NotFound(f"no suggestion of {cmd.reference} for this credit", field="reference")
    return {"transaction_id": str(row.id), "reference": cmd.reference.strip().upper(), "status": "rejected"}


def ignore_credit(cmd: IgnoreCredit, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    row = _credit_row(uow, cmd.transaction_id)
    if row.match_status == "matched":
        raise DomainError("is matched to a booking", field="transaction_id")
    execute(
        uow.conn,
        "UPDATE integra.bank_transactions SET match_status = 'ignored', updated_at = %s WHERE id = %s",
        (ctx.clock.now(), row.id),
    )
    return {"transaction_id": str(row.id), "status": "ignored"}


def suggest_matches(cmd: SuggestMatches, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    row = _credit_row(uow, cmd.transaction_id)
    if row.match_status != "unmatched":
        return {"transaction_id": str(row.id), "status": row.match_status, "suggestions": 0}
    rejected = {
        str(r.booking_id)
        for r in execute(
            uow.conn,
            "SELECT booking_id FROM integra.match_suggestions WHERE transaction_id = %s AND status = 'rejected'",
            (row.id,),
        )
    }
    execute(
        uow.conn,
        "DELETE FROM integra.match_suggestions WHERE transaction_id = %s AND status = 'suggested'",
        (row.id,),
    )
    rank = 0
    for suggestion in cmd.suggestions:
        booking = _load(uow, suggestion.reference)
        if booking.id in rejected:
            continue
        rank += 1
        execute(
            uow.conn,
            "INSERT INTO integra.match_suggestions (transaction_id, booking_id, score, rank, evidence)"
            " VALUES (%s, %s, %s, %s, CAST(%s AS jsonb))",
            (row.id, booking.id, max(0, min(1000, suggestion.score)), rank, suggestion.evidence_json),
        )
    return {"transaction_id": str(row.id), "status": "unmatched", "suggestions": rank}


# ---------------------------------------------------------------- data subject requests


def export_customer_data(cmd: ExportCustomerData, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    record = privacy.find_customer(uow, cmd.customer)
    return privacy.export_bundle(uow, record.id, at=ctx.clock.now())


def erase_customer(cmd: EraseCustomer, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    record = privacy.find_customer(uow, cmd.customer)
    at = ctx.clock.now()
    today = at.astimezone(ZoneInfo(ctx.business.timezone)).date()
    result = privacy.erase(uow, record, at=at, today=today)
    if result["erased"]:
        _publish_customer(uow, ctx, record, [CustomerErased(customer_id=record.id, by=cmd.by)])
    return result


def record_quote(cmd: RecordQuote, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    thread = _locked_thread(uow, cmd.thread_id)
    earlier = execute(
        uow.conn,
        "SELECT 1 FROM events.domain_events WHERE aggregate_id = %s AND event_type = 'QuoteGiven' LIMIT 1",
        (thread.id,),
    ).fetchone()
    if earlier is not None:  # one per conversation: the follow-up is about having asked at all
        return {"thread_id": thread.id, "recorded": False}
    _publish_thread(uow, ctx, thread, [QuoteGiven(thread.id, thread.customer_id, cmd.total_due_cents)])
    return {"thread_id": thread.id, "recorded": True}


def stop_journey_run(cmd: StopJourneyRun, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    try:
        run_id = str(uuid.UUID(cmd.run_id))
    except ValueError:
        raise NotFound("no such journey run", field="run_id") from None
    row = execute(
        uow.conn,
        "UPDATE automation.journey_runs SET status = 'stopped', outcome = %s, updated_at = %s"
        " WHERE id = %s AND status = 'active' RETURNING journey",
        (f"stopped by staff ({cmd.by})"[:200], ctx.clock.now(), run_id),
    ).fetchone()
    if row is None:
        exists = execute(uow.conn, "SELECT status FROM automation.journey_runs WHERE id = %s", (run_id,)).fetchone()
        if exists is None:
            raise NotFound("no such journey run", field="run_id")
        return {"run_id": run_id, "stopped": False, "status": exists.status}
    return {"run_id": run_id, "stopped": True, "journey": row.journey}


def retry_delivery(cmd: RetryDelivery, uow: UnitOfWork, ctx: ServiceContext) -> dict[str, Any]:
    try:
        outbox_id = str(uuid.UUID(cmd.outbox_id))
    except ValueError:
        raise NotFound("no such message", field="outbox_id") from None
    target = uow.outbox.requeue_dead(outbox_id, ctx.clock.now())
    if target is None:
        row = execute(uow.conn, "SELECT status FROM events.outbox WHERE id = %s", (outbox_id,)).fetchone()
        if row is None:
            raise NotFound("no such message", field="outbox_id")
        already = "delivered" if row.status == "done" else "waiting for its next attempt"
        raise DomainError(f"this message is not dead-lettered: it is {already}", field="outbox_id")
    return {"outbox_id": outbox_id, "target": target, "requeued": True}


Handler = Callable[[Any, UnitOfWork, ServiceContext], dict[str, Any]]

# command type -> (name used for idempotency keys and routes, handler, HTTP status on success)
HANDLERS: dict[type, tuple[str, Handler, int]] = {
    CreateBooking: ("create-booking", create_booking, 201),
    RescheduleBooking: ("reschedule-booking", reschedule_booking, 200),
    CancelBooking: ("cancel-booking", cancel_booking, 200),
    UpdateConsent: ("update-consent", update_consent, 200),
    ReceiveMessage: ("receive-message", receive_message, 200),
    RecordReply: ("record-reply", record_reply, 200),
    HandOffThread: ("hand-off-thread", hand_off_thread, 200),
    HandBackThread: ("hand-back-thread", hand_back_thread, 200),
    AssignThread: ("assign-thread", assign_thread, 200),
    SnoozeThread: ("snooze-thread", snooze_thread, 200),
    ResolveThread: ("resolve-thread", resolve_thread, 200),
    ReopenThread: ("reopen-thread", reopen_thread, 200),
    AddThreadNote: ("add-thread-note", add_thread_note, 201),
    SendStaffReply: ("send-staff-reply", send_staff_reply, 201),
    MarkDepositPaid: ("mark-deposit-paid", mark_deposit_paid, 200),
    ResendPaymentLink: ("resend-payment-link", resend_payment_link, 200),
    RecordDepositPayment: ("record-deposit-payment", record_deposit_payment, 200),
    ExpirePaymentLink: ("expire-payment-link", expire_payment_link, 200),
    RecordRefund: ("record-refund", record_refund, 200),
    RecordBankPayment: ("record-bank-payment", record_bank_payment, 200),
    SuggestMatches: ("suggest-matches", suggest_matches, 200),
    ConfirmMatch: ("confirm-match", confirm_match, 200),
    RejectMatch: ("reject-match", reject_match, 200),
    IgnoreCredit: ("ignore-credit", ignore_credit, 200),
    ExportCustomerData: ("export-customer-data", export_customer_data, 200),
    EraseCustomer: ("erase-customer", erase_customer, 200),
    StopJourneyRun: ("stop-journey-run", stop_journey_run, 200),
    RecordQuote: ("record-quote", record_quote, 200),
    RetryDelivery: ("retry-delivery", retry_delivery, 200),
}
