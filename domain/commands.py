"""Commands: what a caller asks the system to do (imperative names). Plain values, validated by
the handlers against the business rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


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
class ConsentEvidence:
    """Where an opt-in or opt-out came from, for the consent ledger: the customer's message (its
    text is read from the stored message) and, on the web, the client's IP and the page."""

    source_message_id: str | None = None
    ip: str | None = None
    page: str | None = None


@dataclass(frozen=True)
class CreateBooking:
    source: str  # web | sms | staff | api
    customer: CustomerDetails
    booking: BookingRequest
    thread_id: str | None = None  # the conversation it was booked in: links the thread to the customer
    consent_evidence: ConsentEvidence | None = None  # where customer.consent_sms was given


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
    ip: str | None = None  # web: the client address
    page: str | None = None  # web: the page the widget was on


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
    by: str = "agent"  # agent (raises the inbox alert) | staff, or who on staff (a user id / actor)


@dataclass(frozen=True)
class HandBackThread:
    """Return a thread to the agent (ai mode). `corrected` names the slots staff changed in the
    agent's state before handing back (recorded as ThreadSlotsCorrected; the values are not)."""

    thread_id: str
    by: str = "staff"
    corrected: tuple[str, ...] = ()


# ---------------------------------------------------------------- the staff inbox
# `by` is the acting staff user's id (the pages pass the logged-in user's).


@dataclass(frozen=True)
class AssignThread:
    """Give the thread to a staff user (`assignee_id`), or to no one (None)."""

    thread_id: str
    assignee_id: str | None
    by: str


@dataclass(frozen=True)
class SnoozeThread:
    """Put the thread aside until `until` (aware, in the future); the customer writing reopens it."""

    thread_id: str
    until: datetime
    by: str


@dataclass(frozen=True)
class ResolveThread:
    thread_id: str
    by: str


@dataclass(frozen=True)
class ReopenThread:
    """Reopen a snoozed or resolved thread: open in human mode, pending when the agent has it."""

    thread_id: str
    by: str


@dataclass(frozen=True)
class AddThreadNote:
    """A private note for staff on the thread (never sent to the customer); stored encrypted."""

    thread_id: str
    body: str
    by: str


@dataclass(frozen=True)
class SendStaffReply:
    """Staff write to the customer on a thread they have taken over (human mode): as themselves
    (author staff) or `as_ai` (author ai, in the agent's voice); either way the message records the
    staff user who sent it. SMS threads send it through the outbox like any reply."""

    thread_id: str
    body: str
    as_ai: bool
    by: str


@dataclass(frozen=True)
class MarkDepositPaid:
    """Record a payment staff received for the booking outside the payment link."""

    reference: str
    amount_cents: int
    by: str


@dataclass(frozen=True)
class ResendPaymentLink:
    """Make a new deposit link for the booking (and text it, if the customer agreed to texts)."""

    reference: str
    by: str


# ---------------------------------------------------------------- payment provider webhooks
# Each carries the provider's event id: the handler records it in the same transaction, so a
# redelivered event is acknowledged and nothing is done twice.


@dataclass(frozen=True)
class RecordDepositPayment:
    """A card payment for a booking's deposit link went through (Stripe Checkout). `provider_id`
    names the payment (unique per provider: recorded once however often it is reported)."""

    provider: str
    event_id: str
    event_type: str
    reference: str
    session_id: str
    provider_id: str
    amount_cents: int


@dataclass(frozen=True)
class ExpirePaymentLink:
    """A deposit link ran out unpaid; staff or the agent may send a fresh one (ResendPaymentLink)."""

    provider: str
    event_id: str
    event_type: str
    session_id: str


@dataclass(frozen=True)
class RecordRefund:
    """The provider refunded (part of) a payment: `refunded_total_cents` is the payment's running
    refunded total, which `provider_id` names."""

    provider: str
    event_id: str
    event_type: str
    payment_id: str
    provider_id: str
    refunded_total_cents: int


@dataclass(frozen=True)
class SuggestedMatch:
    reference: str
    score: int  # 0..1000
    evidence_json: str  # the matcher's evidence, a JSON list (no names: shown to staff as is)


@dataclass(frozen=True)
class RecordBankPayment:
    """The matcher matched a bank credit to a booking on its own: record the payment."""

    transaction_id: str
    reference: str
    by: str = "matcher"


@dataclass(frozen=True)
class SuggestMatches:
    """The matcher could not decide: keep its ranked suggestions for staff."""

    transaction_id: str
    suggestions: tuple[SuggestedMatch, ...]


@dataclass(frozen=True)
class ConfirmMatch:
    """Staff say this credit pays this booking: record it and learn the payer for the customer."""

    transaction_id: str
    reference: str
    by: str


@dataclass(frozen=True)
class RejectMatch:
    """Staff say this credit does not pay this booking (the other suggestions stay)."""

    transaction_id: str
    reference: str
    by: str


@dataclass(frozen=True)
class IgnoreCredit:
    """Staff say this credit is not a booking payment (a refund, a transfer)."""

    transaction_id: str
    by: str


@dataclass(frozen=True)
class RecordQuote:
    """The agent quoted a party in this conversation (QuoteGiven, once per thread)."""

    thread_id: str
    total_due_cents: int


@dataclass(frozen=True)
class StopJourneyRun:
    """Staff stop a booking's journey run (no more of its steps are taken)."""

    run_id: str
    by: str


@dataclass(frozen=True)
class RetryDelivery:
    """Staff put a dead-lettered outbox message back in the queue, its attempts counted afresh."""

    outbox_id: str
    by: str


@dataclass(frozen=True)
class ExportCustomerData:
    """A data subject's copy of everything held about them (services/privacy.py); `customer` is
    their id, email or phone."""

    customer: str
    by: str


@dataclass(frozen=True)
class EraseCustomer:
    """Erase a customer on request: crypto-shred their data, keep the accounts' facts
    (services/privacy.py)."""

    customer: str
    by: str


Command = (
    CreateBooking
    | RescheduleBooking
    | CancelBooking
    | UpdateConsent
    | ReceiveMessage
    | RecordReply
    | HandOffThread
    | HandBackThread
    | AssignThread
    | SnoozeThread
    | ResolveThread
    | ReopenThread
    | AddThreadNote
    | SendStaffReply
    | MarkDepositPaid
    | ResendPaymentLink
    | RecordDepositPayment
    | ExpirePaymentLink
    | RecordRefund
    | RecordBankPayment
    | SuggestMatches
    | ConfirmMatch
    | RejectMatch
    | IgnoreCredit
    | ExportCustomerData
    | EraseCustomer
    | StopJourneyRun
    | RecordQuote
    | RetryDelivery
)
