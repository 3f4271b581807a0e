"""Events: what happened (past-tense names). Payloads hold ids and facts, never personal data, so
the event log can be kept forever and shown to anyone who may see bookings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class DomainEvent:
    aggregate_type: ClassVar[str]

    @property
    def aggregate_id(self) -> str:
        raise NotImplementedError

    @property
    def event_type(self) -> str:
        return type(self).__name__

    def payload(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LeadCreated(DomainEvent):
    aggregate_type: ClassVar[str] = "customer"
    customer_id: str
    source: str

    @property
    def aggregate_id(self) -> str:
        return self.customer_id


@dataclass(frozen=True)
class CustomerErased(DomainEvent):
    """The customer's personal data was erased on request (who asked: a staff id, or `cli`)."""

    aggregate_type: ClassVar[str] = "customer"
    customer_id: str
    by: str

    @property
    def aggregate_id(self) -> str:
        return self.customer_id


@dataclass(frozen=True)
class ConsentUpdated(DomainEvent):
    aggregate_type: ClassVar[str] = "customer"
    customer_id: str
    channel: str
    granted: bool
    source: str

    @property
    def aggregate_id(self) -> str:
        return self.customer_id


@dataclass(frozen=True)
class BookingCreated(DomainEvent):
    aggregate_type: ClassVar[str] = "booking"
    booking_id: str
    reference: str
    customer_id: str
    chef_id: str
    date: str
    slot: str
    zone_id: str
    adults: int
    kids: int
    upgrades: dict[str, int]
    total_due_cents: int
    deposit_due_cents: int
    source: str

    @property
    def aggregate_id(self) -> str:
        return self.booking_id


@dataclass(frozen=True)
class BookingRescheduled(DomainEvent):
    aggregate_type: ClassVar[str] = "booking"
    booking_id: str
    reference: str
    from_date: str
    from_slot: str
    to_date: str
    to_slot: str
    chef_id: str
    source: str

    @property
    def aggregate_id(self) -> str:
        return self.booking_id


@dataclass(frozen=True)
class BookingCancelled(DomainEvent):
    aggregate_type: ClassVar[str] = "booking"
    booking_id: str
    reference: str
    deposit_refundable: bool
    refund_cents: int
    source: str

    @property
    def aggregate_id(self) -> str:
        return self.booking_id


# Threads: ids and facts only; a message's text lives encrypted in core.messages, never in an event.
@dataclass(frozen=True)
class ThreadStarted(DomainEvent):
    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    channel: str
    customer_id: str | None

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


@dataclass(frozen=True)
class MessageReceived(DomainEvent):
    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    message_id: str
    channel: str
    provider: str | None
    mode: str  # the thread's mode when it arrived: in human mode it waits for staff
    customer_id: str | None

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


@dataclass(frozen=True)
class ReplyRecorded(DomainEvent):
    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    message_id: str
    author: str
    in_reply_to: str | None
    staff_id: str | None = None  # the staff user who wrote it (author staff, or ai when sent "as AI")

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


@dataclass(frozen=True)
class ThreadHandedOff(DomainEvent):
    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    reason: str
    by: str

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


@dataclass(frozen=True)
class ThreadHandedBack(DomainEvent):
    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    by: str

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


@dataclass(frozen=True)
class ThreadCustomerLinked(DomainEvent):
    """A thread with no known customer now has one (they booked in it)."""

    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    customer_id: str

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


# The staff inbox. `by` is a staff user's id (or "customer" / "agent"): ids, never names.
@dataclass(frozen=True)
class ThreadAssigned(DomainEvent):
    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    assignee_id: str | None  # None: unassigned
    by: str

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


@dataclass(frozen=True)
class ThreadSnoozed(DomainEvent):
    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    until: str  # ISO 8601 instant
    by: str

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


@dataclass(frozen=True)
class ThreadResolved(DomainEvent):
    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    by: str

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


@dataclass(frozen=True)
class ThreadReopened(DomainEvent):
    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    status: str  # open (human mode) or pending (the agent's)
    by: str  # a staff user's id, or "customer" when their message reopened it

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


@dataclass(frozen=True)
class ThreadNoteAdded(DomainEvent):
    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    note_id: str  # the text lives encrypted in core.thread_notes
    by: str

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


@dataclass(frozen=True)
class QuoteGiven(DomainEvent):
    """The agent priced a party in this conversation (the first time: later quotes are not events);
    it starts the quote follow-up journey."""

    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    customer_id: str | None
    total_due_cents: int

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


@dataclass(frozen=True)
class ThreadSlotsCorrected(DomainEvent):
    """Staff changed what the agent holds (a corrected date, say) before handing the thread back.
    Only the names of the slots: their values may be personal."""

    aggregate_type: ClassVar[str] = "thread"
    thread_id: str
    slots: list[str]
    by: str

    @property
    def aggregate_id(self) -> str:
        return self.thread_id


@dataclass(frozen=True)
class DepositPaid(DomainEvent):
    """A payment recorded by staff against the booking (cash, a transfer): `paid_cents` is the total
    paid so far and `status` the booking's status after it."""

    aggregate_type: ClassVar[str] = "booking"
    booking_id: str
    reference: str
    amount_cents: int
    paid_cents: int
    status: str
    by: str

    @property
    def aggregate_id(self) -> str:
        return self.booking_id


@dataclass(frozen=True)
class PaymentLinkResent(DomainEvent):
    aggregate_type: ClassVar[str] = "booking"
    booking_id: str
    reference: str
    amount_cents: int
    sms: bool  # also texted to the customer (they consented to texts)
    by: str

    @property
    def aggregate_id(self) -> str:
        return self.booking_id


@dataclass(frozen=True)
class DepositRefunded(DomainEvent):
    """The payment provider refunded card money paid for the booking (after a cancellation)."""

    aggregate_type: ClassVar[str] = "booking"
    booking_id: str
    reference: str
    amount_cents: int
    provider: str

    @property
    def aggregate_id(self) -> str:
        return self.booking_id
