"""Commands: what a caller asks the system to do (imperative names). Plain values, validated by
the handlers against the business rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class CustomerDetails:
    first_name: str
    last_name: str
    email: str | None = None
    phone: str | None = None
    consent_sms: bool = False


@dataclass(frozen=True)
class BookingRequest:
    date: date
    slot: str
    address: str
    zip: str
    adults: int
    kids: int = 0
    upgrades: dict[str, int] = field(default_factory=dict)
    notes: str | None = None


@dataclass(frozen=True)
class CreateBooking:
    source: str  # web | sms | staff | api
    customer: CustomerDetails
    booking: BookingRequest


@dataclass(frozen=True)
class RescheduleBooking:
    reference: str
    date: date
    slot: str
    source: str = "api"


@dataclass(frozen=True)
class CancelBooking:
    reference: str
    reason: str | None = None
    source: str = "api"


@dataclass(frozen=True)
class UpdateConsent:
    """Record an opt-in or opt-out. The customer is found by id, phone or email (the first given)."""

    channel: str  # sms | email
    granted: bool
    source: str
    customer_id: str | None = None
    phone: str | None = None
    email: str | None = None
    source_message_id: str | None = None


Command = CreateBooking | RescheduleBooking | CancelBooking | UpdateConsent
