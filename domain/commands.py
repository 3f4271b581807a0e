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


@dataclass(frozen=True)
class ReceiveMessage:
    """Store a customer's inbound message on its thread (found or opened by the channel identity).

    `contact` is the thread's key on its channel: the sender's phone for sms (E.164), the session id
    the web widget keeps for web. A repeated (provider, provider_message_id) returns the first
    message with `duplicate` true and stores nothing.
    """

    channel: str  # web | sms
    contact: str
    body: str
    provider: str | None = None
    provider_message_id: str | None = None
    email: str | None = None  # a web visitor's email, when the site knows it


@dataclass(frozen=True)
class RecordReply:
    """Store an outbound message on a thread. An `ai` reply is refused (not stored) when the thread
    is in human mode: a staff takeover while the agent was thinking wins."""

    thread_id: str
    body: str
    author: str  # ai | staff | system
    in_reply_to: str | None = None  # the customer message this answers (then marked handled)


@dataclass(frozen=True)
class HandOffThread:
    """Put a thread in human mode: the agent stays silent on it until staff hand it back."""

    thread_id: str
    reason: str
    by: str = "agent"  # agent | staff


@dataclass(frozen=True)
class HandBackThread:
    """Return a thread to the agent (ai mode)."""

    thread_id: str
    by: str = "staff"


Command = (
    CreateBooking
    | RescheduleBooking
    | CancelBooking
    | UpdateConsent
    | ReceiveMessage
    | RecordReply
    | HandOffThread
    | HandBackThread
)
