"""The SMS sender: the single path for every outbound text.

Enqueueing: every text is queued here (`enqueue_thread_message` for a thread's message: the agent's
reply, a staff reply, a carrier keyword answer; `enqueue_notice` for a booking notice such as the
payment link). Sending: `SmsSender.gate` wraps the transport target (RingCentral's when configured,
integrations/ringcentral; else the log-only one) and decides again at send time,
because consent can change between enqueue and send (domain.texting has the rules).

- Refused (opted out, no express consent for a notice, no number): permanent for that message.
  The outbox row is dead-lettered with `refused: <reason>` and a row in integra.sms_refusals says
  why, for staff; nothing is dropped silently.
- Quiet hours (a notice outside 08:00-21:00 in the customer's local time): held, not dropped. The
  outbox row is rescheduled to the next allowed time (a reminder queued at 22:00 goes at 08:00)
  without using up an attempt, and the hold is recorded in integra.sms_refusals.
- A direct reply to the customer's text (the message answers their inbound message, or a staff
  reply while the customer wrote within REPLY_WINDOW) needs no express consent and goes at any hour.
  The customer's own text is treated as conversational consent; it is not written to the ledger.
- The customer's local zone: the phone's area-code zone (phonenumbers). Unknown or several: the
  window must hold in every candidate zone and the business's; if those share no window at all
  (a toll-free number spans Guam to Newfoundland), the business's zone alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from phonenumbers import timezone as phone_timezones

from db.outbox import OutboxMessage
from db.sql import execute
from db.threads import StoredMessage, ThreadRecord
from db.uow import UnitOfWork
from domain.clock import Clock
from domain.texting import Refusal, TextDecision, decide, next_allowed
from services.outbox_dispatcher import HoldUntil, PermanentFailure, Target

SEND_SMS = "sms.send_message"  # a thread's message: the outbox carries ids; the adapter reads the body
REPLY_WINDOW = timedelta(hours=24)  # a staff reply this soon after the customer's text answers it


def candidate_zones(phone: str, business_zone: str) -> list[str]:
    """The zones to respect for this number: its one area-code zone, or all candidates plus the
    business's when the number's zone is unknown or ambiguous."""
    try:
        zones = [z for z in phone_timezones.time_zones_for_number(phonenumbers.parse(phone)) if z != "Etc/Unknown"]
    except phonenumbers.NumberParseException:
        zones = []
    if len(zones) == 1:
        return zones
    return sorted({*zones, business_zone})


def _decide(
    uow: UnitOfWork, phone: str, now: datetime, business_zone: str, *, direct_reply: bool, confirms: str | None
) -> TextDecision:
    latest = uow.consents.sms_state(phone)
    confirms_opt_out = confirms is not None and _latest_opt_out_source(uow, phone) == confirms
    zones = candidate_zones(phone, business_zone)
    try:
        next_allowed(now, zones)
    except ValueError:  # no common window: the business's zone alone
        zones = [business_zone]
    return decide(
        latest_consent=latest, direct_reply=direct_reply, confirms_opt_out=confirms_opt_out, now=now, zones=zones
    )


def _latest_opt_out_source(uow: UnitOfWork, phone: str) -> str | None:
    """The message that made the number's latest ledger entry (when it is an opt-out)."""
    bidx = uow.blind.of("phone", phone)
    row = execute(
        uow.conn,
        "SELECT granted, source_message_id FROM core.consents WHERE channel = 'sms' AND (phone_bidx = %s"
        " OR customer_id = (SELECT id FROM core.customers WHERE phone_bidx = %s)) ORDER BY seq DESC LIMIT 1",
        (bidx, bidx),
    ).fetchone()
    return row.source_message_id if row is not None and not row.granted else None


def _is_direct_reply(uow: UnitOfWork, message: StoredMessage, now: datetime) -> bool:
    if message.in_reply_to:
        return True
    row = execute(
        uow.conn,
        "SELECT max(created_at) AS last_in FROM core.messages WHERE thread_id = %s AND direction = 'in'",
        (message.thread_id,),
    ).fetchone()
    return row is not None and row.last_in is not None and now - row.last_in <= REPLY_WINDOW


def enqueue_thread_message(uow: UnitOfWork, thread: ThreadRecord, message: StoredMessage) -> None:
    """Queue a thread's outbound message as a text (an sms thread's only way out)."""
    uow.outbox.add_many([(SEND_SMS, {"thread_id": thread.id, "message_id": message.id})], aggregate_id=thread.id)


def may_text_notice(uow: UnitOfWork, phone: str | None) -> bool:
    """Whether a notice may be queued for this number at all (express consent, not opted out); the
    send-time check decides again, and holds it for quiet hours."""
    return phone is not None and uow.consents.sms_state(phone) is True


def enqueue_notice(uow: UnitOfWork, target: str, payload: dict[str, Any], *, aggregate_id: str) -> None:
    """Queue a booking notice by text (the payload names the booking; the sender finds the phone)."""
    uow.outbox.add_many([(target, payload | {"channel": "sms"})], aggregate_id=aggregate_id)


class SmsSender:
    """Wraps SMS transport targets with the send-time check (see the module docstring)."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock, business_zone: str) -> None:
        self.uow_factory = uow_factory
        self.clock = clock
        self.business_zone = business_zone

    def gate(self, transport: Target) -> Target:
        def send(message: OutboxMessage) -> Mapping[str, Any] | None:
            self.check(message)
            return transport(message)

        return send

    def check(self, message: OutboxMessage) -> None:
        """Return when the text may go now; raise PermanentFailure (refused) or HoldUntil (quiet hours)
        after recording why."""
        now = self.clock.now()
        with self.uow_factory() as uow:
            thread_id, booking_id, decision = self._decision(uow, message, now)
            if decision.send:
                return
            reason: Refusal = decision.reason or "no_consent"
            execute(
                uow.conn,
                "INSERT INTO integra.sms_refusals (outbox_id, target, thread_id, booking_id, reason, held_until,"
                " recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (message.id, message.target, thread_id, booking_id, reason, decision.hold_until, now),
            )
            uow.commit()
        if decision.hold_until is not None:
            raise HoldUntil(decision.hold_until, f"held: {reason} until {decision.hold_until.isoformat()}")
        raise PermanentFailure(f"refused: {reason}")

    def _decision(
        self, uow: UnitOfWork, message: OutboxMessage, now: datetime
    ) -> tuple[str | None, str | None, TextDecision]:
        payload = message.payload
        thread_id, booking_id = payload.get("thread_id"), payload.get("booking_id")
        if message.target == SEND_SMS:
            stored = uow.threads.message(str(payload["message_id"]))
            phone = uow.threads.contact(str(thread_id))
            if stored is None or phone is None:
                return thread_id, booking_id, TextDecision(False, "no_phone")
            direct = _is_direct_reply(uow, stored, now)
            decision = _decide(uow, phone, now, self.business_zone, direct_reply=direct, confirms=stored.in_reply_to)
            return thread_id, booking_id, decision
        row = execute(uow.conn, "SELECT customer_id FROM core.bookings WHERE id = %s", (str(booking_id),)).fetchone()
        customer = uow.customers.get(str(row.customer_id)) if row is not None else None
        if customer is None or customer.phone is None:
            return thread_id, booking_id, TextDecision(False, "no_phone")
        decision = _decide(uow, customer.phone, now, self.business_zone, direct_reply=False, confirms=None)
        return thread_id, booking_id, decision
