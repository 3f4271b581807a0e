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
