"""The booking aggregate: its state, the rules for changing it, and the events it records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from domain.business import CancellationRules
from domain.errors import DomainError
from domain.events import (
    BookingCancelled,
    BookingCreated,
    BookingRescheduled,
    DepositPaid,
    DomainEvent,
    PaymentLinkResent,
)
from domain.pricing import Quote

REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U: easy to read aloud
REFERENCE_LENGTH = 5

ACTIVE_STATUSES = ("deposit_pending", "deposit_paid")


def reference_from(random_indexes: list[int]) -> str:
    """`MH-7Q3K9` from REFERENCE_LENGTH random numbers (the caller owns the randomness)."""
    chars = "".join(REFERENCE_ALPHABET[i % len(REFERENCE_ALPHABET)] for i in random_indexes)
    return "MH-" + chars


@dataclass
class Booking:
    id: str
    reference: str
    customer_id: str
    chef_id: str
    date: dt.date
    slot: dt.time
    zone_id: str
    zip: str
    adults: int
    kids: int
    upgrades: dict[str, int]
    food_cents: int
    upgrades_cents: int
    travel_fee_cents: int
    total_due_cents: int
    deposit_due_cents: int
    deposit_paid_cents: int = 0
    status: str = "deposit_pending"
    reschedule_count: int = 0
    version: int = 0
    pending_events: list[DomainEvent] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        *,
        id: str,
        reference: str,
        customer_id: str,
        chef_id: str,
        day: dt.date,
        slot: dt.time,
        zone_id: str,
        zip: str,
        adults: int,
        kids: int,
        quote: Quote,
        source: str,
    ) -> Booking:
        upgrades = {code: count for code, count, _ in quote.upgrade_lines}
        booking = cls(
            id=id,
            reference=reference,
            customer_id=customer_id,
            chef_id=chef_id,
            date=day,
            slot=slot,
            zone_id=zone_id,
            zip=zip,
            adults=adults,
            kids=kids,
            upgrades=upgrades,
            food_cents=quote.food_cents,
            upgrades_cents=quote.upgrades_cents,
            travel_fee_cents=quote.travel_fee_cents,
            total_due_cents=quote.total_due_cents,
            deposit_due_cents=quote.deposit_due_cents,
        )
        booking.pending_events.append(
            BookingCreated(
                booking_id=id,
                reference=reference,
                customer_id=customer_id,
                chef_id=chef_id,
                date=day.isoformat(),
                slot=slot.strftime("%H:%M"),
                zone_id=zone_id,
                adults=adults,
                kids=kids,
                upgrades=upgrades,
                total_due_cents=quote.total_due_cents,
                deposit_due_cents=quote.deposit_due_cents,
                source=source,
            )
        )
        return booking

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def _require_active(self) -> None:
        if not self.active:
            raise DomainError(f"booking {self.reference} is {self.status}", field="reference")

    def reschedule(self, *, day: dt.date, slot: dt.time, chef_id: str, rules: CancellationRules, source: str) -> None:
        self._require_active()
        if (day, slot) == (self.date, self.slot):
            raise DomainError("the booking is already at this date and time", field="date")
        # Rescheduling is free a limited number of times; after that staff decide (they may override).
        if self.reschedule_count >= rules.free_reschedules and source != "staff":
            raise DomainError(
                f"booking {self.reference} was already rescheduled; our staff can help with another change",
                field="reference",
            )
        event = BookingRescheduled(
            booking_id=self.id,
            reference=self.reference,
            from_date=self.date.isoformat(),
            from_slot=self.slot.strftime("%H:%M"),
            to_date=day.isoformat(),
            to_slot=slot.strftime("%H:%M"),
            chef_id=chef_id,
            source=source,
        )
        self.date, self.slot, self.chef_id = day, slot, chef_id
        self.reschedule_count += 1
        self.pending_events.append(event)

    def cancel(self, *, today: dt.date, rules: CancellationRules, source: str) -> BookingCancelled:
        self._require_active()
        refundable = (self.date - today).days >= rules.refund_min_days_before
        event = BookingCancelled(
            booking_id=self.id,
            reference=self.reference,
            deposit_refundable=refundable,
            refund_cents=self.deposit_paid_cents if refundable else 0,
            source=source,
        )
        self.status = "cancelled"
        self.pending_events.append(event)
        return event

    def mark_deposit_paid(self, *, amount_cents: int, by: str) -> DepositPaid:
        """Staff record a payment made outside the payment links (cash, a bank transfer). The booking
        is deposit_paid once the payments reach the deposit; nothing may exceed the total."""
        self._require_active()
        if amount_cents <= 0:
            raise DomainError("must be more than zero", field="amount_cents")
        if self.deposit_paid_cents + amount_cents > self.total_due_cents:
            owed = self.total_due_cents - self.deposit_paid_cents
            raise DomainError(f"is more than the {owed} cents still owed", field="amount_cents")
        self.deposit_paid_cents += amount_cents
        if self.deposit_paid_cents >= self.deposit_due_cents:
            self.status = "deposit_paid"
        event = DepositPaid(
            booking_id=self.id,
            reference=self.reference,
            amount_cents=amount_cents,
            paid_cents=self.deposit_paid_cents,
            status=self.status,
            by=by,
        )
        self.pending_events.append(event)
        return event

    def resend_payment_link(self, *, by: str, sms: bool) -> PaymentLinkResent:
        """Send the deposit link again; refused once the deposit is paid or the booking is over."""
        self._require_active()
        if self.deposit_paid_cents >= self.deposit_due_cents:
            raise DomainError(f"the deposit of booking {self.reference} is already paid", field="reference")
        event = PaymentLinkResent(
            booking_id=self.id,
            reference=self.reference,
            amount_cents=self.deposit_due_cents - self.deposit_paid_cents,
            sms=sms,
            by=by,
        )
        self.pending_events.append(event)
        return event
