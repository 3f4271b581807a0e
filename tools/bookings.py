"""Booking tools: find a customer's bookings, create, reschedule and cancel one.

Each sends one command (or query) through the container's bus; the bus runs it in one transaction
and, given the injected idempotency key, answers a repeated call with the first result instead of
acting twice.
"""

from __future__ import annotations

from datetime import date as Date
from typing import Annotated, Any

from langchain_core.tools import InjectedToolArg, tool

from domain.commands import (
    BookingRequest,
    CancelBooking,
    ConsentEvidence,
    CreateBooking,
    CustomerDetails,
    RescheduleBooking,
)
from domain.zones import zip_from_address

from .caller import Caller
from .results import EXPECTED_ERRORS, failed, from_error


def _day(value: str) -> Date | None:
    try:
        return Date.fromisoformat(value)
    except ValueError:
        return None


@tool(parse_docstring=True)
def find_bookings(
    reference: str | None = None,
    email: str | None = None,
    *,
    caller: Annotated[Caller, InjectedToolArg],
) -> dict[str, Any]:
    """Find the active bookings of the customer on this conversation, before changing or cancelling one.

    By SMS the customer is the sender's phone (already known; pass nothing, or a reference to pick
    one booking). On the web chat the customer must give both the email they booked with and the
    booking reference: pass both; a reference that is not theirs is reported as not found. Returns
    `customer_id` and `bookings` (reference, date, slot, party, total_due, deposit_due, ...).

    Args:
        reference: A booking reference like MH-7Q3K9, when the customer gave one.
        email: The email the customer booked with (web chat).
    """
    queries = caller.container.queries
    wanted = reference.strip().upper() if reference else None
    try:
        if caller.channel == "sms" and caller.customer_phone:
            found = queries.customer_bookings(phone=caller.customer_phone)
        else:
            email = email or caller.customer_email
            if not (email and wanted):
                return failed("invalid", "the email used to book and the booking reference are both needed", "email")
            found = queries.customer_bookings(email=email)
    except EXPECTED_ERRORS as error:
        return from_error(error)
    if found is None:
        return failed("not_found", "no customer with these contact details", "customer")
    bookings = [b for b in found["bookings"] if wanted is None or b["reference"] == wanted]
    if wanted and not bookings:
        return failed("not_found", f"no active booking {wanted} for this customer", "reference")
    return {"ok": True, "customer_id": found["customer_id"], "first_name": found["first_name"], "bookings": bookings}


@tool(parse_docstring=True)
def create_booking(
    date: str,
    time: str,
    address: str,
    adults: int,
    kids: int,
    first_name: str,
    last_name: str,
    zip_code: str | None = None,
    upgrades: dict[str, int] | None = None,
    email: str | None = None,
    phone: str | None = None,
    consent_sms: bool = False,
    notes: str | None = None,
    *,
    caller: Annotated[Caller, InjectedToolArg],
    idempotency_key: Annotated[str, InjectedToolArg],
    consent_evidence: Annotated[dict[str, Any] | None, InjectedToolArg] = None,
) -> dict[str, Any]:
    """Book the party. Call it only after the customer said an explicit yes to a summary that showed
    the date, time, guests, address, upgrades, total and deposit from quote_price.

    Returns the booking `reference`, `total_due` and `deposit_due` (tell the customer these exactly).
    `ok` false with `error.code` "slot_unavailable": someone just took that time; offer `alternatives`.
    Any other error names the `field` to ask the customer about again. Calling it again for the same
    confirmation is safe: it returns the same booking rather than making a second one.

    Args:
        date: The event date, YYYY-MM-DD.
        time: The start time, HH:MM, one of the offered slots.
        address: The street address of the event as the customer wrote it.
        adults: Guests over 12.
        kids: Guests 12 and under.
        first_name: The customer's first name.
        last_name: The customer's last name.
        zip_code: The 5-digit ZIP code, if it is not at the end of the address.
        upgrades: Upgrade code to how many guests take it, e.g. {"lobster_tail": 4}.
        email: The customer's email.
        phone: The customer's phone number.
        consent_sms: True only when the customer agreed to receive text messages.
        notes: Allergies or other notes for the chef.
    """
    day = _day(date)
    if day is None:
        return failed("invalid", "must be a date like 2026-12-12", "booking.date")
    zip_value = zip_code or zip_from_address(address)
    if zip_value is None:
        return failed("invalid", "is required", "booking.zip")
    command = CreateBooking(
        source=caller.channel,
        customer=CustomerDetails(
            first_name=first_name,
            last_name=last_name,
            email=email or caller.customer_email,
            # By SMS the sender's number is who is booking, whatever number the text mentions.
            phone=caller.customer_phone if caller.channel == "sms" and caller.customer_phone else phone,
            consent_sms=consent_sms,
        ),
        booking=BookingRequest(
            date=day,
            slot=time,
            address=address,
            zip=zip_value,
            adults=adults,
            kids=kids,
            upgrades=dict(upgrades or {}),
            notes=notes,
        ),
        thread_id=caller.thread_id,
        consent_evidence=_consent_evidence(consent_evidence, caller) if consent_sms else None,
    )
    try:
        result = caller.container.bus.handle(command, idempotency_key=idempotency_key, actor=caller.actor)
    except EXPECTED_ERRORS as error:
        return from_error(error)
    return {"ok": True, "replayed": result.replayed, **result.body}


def _owned(caller: Caller, customer_id: str, reference: str) -> dict[str, Any] | None:
    """The active booking `reference` when it belongs to `customer_id`, else None."""
    found = caller.container.queries.customer_bookings(customer_id=customer_id)
    wanted = reference.strip().upper()
    for booking in (found or {}).get("bookings", []):
        if booking["reference"] == wanted:
            return dict(booking)
    return None


@tool(parse_docstring=True)
def reschedule_booking(
    reference: str,
    date: str,
    time: str,
    *,
    caller: Annotated[Caller, InjectedToolArg],
    customer_id: Annotated[str, InjectedToolArg],
    idempotency_key: Annotated[str, InjectedToolArg],
) -> dict[str, Any]:
    """Move one of the customer's bookings to another date and start time.

    First check the new date and time with check_availability, tell the customer the change, and
    call this only after an explicit yes. The first change is free; a refusal naming a second change
    means staff must do it (hand off). `error.code` "slot_unavailable" comes with `alternatives`.

    Args:
        reference: The booking reference, e.g. MH-7Q3K9, from find_bookings.
        date: The new event date, YYYY-MM-DD.
        time: The new start time, HH:MM, one of the offered slots.
    """
    day = _day(date)
    if day is None:
        return failed("invalid", "must be a date like 2026-12-12", "date")
    try:
        if _owned(caller, customer_id, reference) is None:
            return failed("not_found", f"no active booking {reference} for this customer", "reference")
        command = RescheduleBooking(reference=reference, date=day, slot=time, source=caller.channel)
        result = caller.container.bus.handle(command, idempotency_key=idempotency_key, actor=caller.actor)
    except EXPECTED_ERRORS as error:
        return from_error(error)
    return {"ok": True, "replayed": result.replayed, **result.body}


@tool(parse_docstring=True)
def cancel_booking(
    reference: str,
    reason: str | None = None,
    *,
    caller: Annotated[Caller, InjectedToolArg],
    customer_id: Annotated[str, InjectedToolArg],
    idempotency_key: Annotated[str, InjectedToolArg],
) -> dict[str, Any]:
    """Cancel one of the customer's bookings. Tell the customer what the cancellation policy means for
    their deposit and call this only after an explicit yes. Returns `deposit_refundable` and
    `refund_cents` (the paid deposit that will be refunded; 0 when none).

    Args:
        reference: The booking reference, e.g. MH-7Q3K9, from find_bookings.
        reason: Why the customer cancels, in their words, if they said.
    """
    try:
        if _owned(caller, customer_id, reference) is None:
            return failed("not_found", f"no active booking {reference} for this customer", "reference")
        command = CancelBooking(reference=reference, reason=reason, source=caller.channel)
        result = caller.container.bus.handle(command, idempotency_key=idempotency_key, actor=caller.actor)
    except EXPECTED_ERRORS as error:
        return from_error(error)
    return {"ok": True, "replayed": result.replayed, **result.body}


def _consent_evidence(heard: dict[str, Any] | None, caller: Caller) -> ConsentEvidence:
    """Where the customer said yes to texts: the message the graph heard it in (with that request's
    IP and page), else the message being answered now."""
    if heard and heard.get("message_id"):
        return ConsentEvidence(heard["message_id"], heard.get("ip"), heard.get("page"))
    return ConsentEvidence(caller.message_id, caller.client_ip, caller.page)
