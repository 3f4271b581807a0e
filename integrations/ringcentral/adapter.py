"""The RingCentral SMS transport: the outbox targets behind `SmsSender.gate` (bootstrap wraps them;
the gate has already said yes when these run).

- The text is the stored message (`sms.send_message`: the thread's message body to the thread's
  phone) or the booking's newest open deposit link (`notify.payment_link`: to the customer's phone).
- Rate: a token bucket per the account's SMS limit (RINGCENTRAL_SMS_PER_SECOND, burst
  RINGCENTRAL_SMS_BURST). It is process-local: run one outbox worker per account, or give each
  worker its share of the limit. A text with no token is held (outbox `HoldUntil`: rescheduled, no
  attempt used) until the bucket has one.
- RingCentral's 429 holds the row for its Retry-After (no attempt used); 5xx and network errors
  retry through the outbox with backoff; other 4xx dead-letter.
- Idempotency: RingCentral takes no idempotency key. The accepted message's id is written to
  `integra.sms_deliveries` (keyed by the outbox row id) in its own transaction right after the API
  answers, and a retried row that finds it returns it without sending. At least once: a crash or a
  lost answer between RingCentral accepting the text and that commit sends it again on the retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from agent import wording
from db.outbox import OutboxMessage
from db.tables import bookings, payment_links, sms_deliveries
from db.uow import UnitOfWork
from domain.clock import Clock
from integrations.ringcentral.client import RingCentralClient, RingCentralConfig, RingCentralError
from services.outbox_dispatcher import HoldUntil, PermanentFailure, Target
from services.sms import SEND_SMS

PROVIDER = "ringcentral"
DEFAULT_RETRY_AFTER = 60.0  # a 429 without a usable Retry-After


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up. `take()` returns 0 when it took one, else
    the seconds until one is there. `now` is a monotonic clock (tests pass their own)."""

    def __init__(self, rate: float, burst: int, now: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate, self.burst, self.now = rate, burst, now
        self.tokens = float(burst)
        self.stamp = now()
        self.lock = threading.Lock()

    def take(self) -> float:
        with self.lock:
            current = self.now()
            self.tokens = min(self.burst, self.tokens + (current - self.stamp) * self.rate)
            self.stamp = current
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class RingCentralSms:
    def __init__(
        self,
        config: RingCentralConfig,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        *,
        bucket: TokenBucket | None = None,
        client: RingCentralClient | None = None,
    ) -> None:
        self.config = config
        self.uow_factory = uow_factory
        self.clock = clock
        self.client = client or RingCentralClient(config)
        self.bucket = bucket or TokenBucket(config.rate_per_second, config.burst)

    def targets(self, *names: str) -> Mapping[str, Target]:
        """The transport for each SMS outbox target (bootstrap wraps each with the gate)."""
        return {name: self.send for name in names}

    def send(self, message: OutboxMessage) -> Mapping[str, Any]:
        with self.uow_factory() as uow:
            sent = uow.conn.execute(select(sms_deliveries).where(sms_deliveries.c.outbox_id == message.id)).first()
            if sent is not None:  # a retry of a text RingCentral already took: not again
                return {"provider": PROVIDER, "provider_message_id": sent.provider_message_id, "repeat": True}
            to, text = self._what(uow, message)
        wait = self.bucket.take()
        if wait > 0:
            raise HoldUntil(self.clock.now() + timedelta(seconds=wait), f"held: sms rate limit, {wait:.1f}s")
        try:
            answer = self.client.send_sms(to, text)
        except RingCentralError as error:
            if error.status == 429:
                delay = error.retry_after if error.retry_after is not None else DEFAULT_RETRY_AFTER
                until = self.clock.now() + timedelta(seconds=delay)
                raise HoldUntil(until, f"held: RingCentral 429 until {until.isoformat()}") from None
            if error.permanent:
                raise PermanentFailure(str(error)) from None
            raise
        provider_id, status = str(answer.get("id") or ""), str(answer.get("messageStatus") or "Queued")
        if not provider_id:
            raise PermanentFailure("RingCentral accepted the text but gave no message id")
        # Its own transaction, before the dispatcher marks the row done (see the module docstring).
        payload = message.payload
        with self.uow_factory() as uow:
            uow.conn.execute(
                pg_insert(sms_deliveries)
                .values(
                    outbox_id=message.id,
                    provider=PROVIDER,
                    provider_message_id=provider_id,
                    thread_id=payload.get("thread_id"),
                    message_id=payload.get("message_id"),
                    status=status[:32],
                    sent_at=self.clock.now(),
                    status_at=self.clock.now(),
                )
                .on_conflict_do_nothing()
            )
            uow.commit()
        return {"provider": PROVIDER, "provider_message_id": provider_id, "status": status}

    def _what(self, uow: UnitOfWork, message: OutboxMessage) -> tuple[str, str]:
        """(to, text) for the row; PermanentFailure when the row names nothing sendable."""
        payload = message.payload
        if message.target == SEND_SMS:
            stored = uow.threads.message(str(payload.get("message_id")))
            phone = uow.threads.contact(str(payload.get("thread_id")))
            if stored is None or phone is None or not stored.body:
                raise PermanentFailure("no stored message or phone for this text")
            return phone, stored.body
        # A booking notice: today the (re)sent deposit link.
        booking_id = str(payload.get("booking_id"))
        row = uow.conn.execute(select(bookings.c.customer_id).where(bookings.c.id == booking_id)).first()
        customer = uow.customers.get(str(row.customer_id)) if row is not None else None
        if customer is None or customer.phone is None:
            raise PermanentFailure("no phone for this booking's customer")
        url = uow.conn.execute(
            select(payment_links.c.url)
            .where(payment_links.c.booking_id == booking_id, payment_links.c.status == "open")
            .order_by(payment_links.c.created_at.desc())
            .limit(1)
        ).scalar()
        if url is None:
            # The link is made by its own outbox row, perhaps not yet: retried with backoff.
            raise RuntimeError("the booking has no open deposit link yet")
        return customer.phone, wording.deposit_link_text(str(payload.get("reference")), url)


# A status after which RingCentral reports nothing newer: a late "Sent" must not undo "Delivered".
FINAL_STATUSES = ("Delivered", "DeliveryFailed", "SendingFailed")


def record_status(
    uow_factory: Callable[[], UnitOfWork], clock: Clock, provider_message_id: str, status: str, error_code: str | None
) -> bool:
    """Keep an outbound text's newest status; False when the text is not one of ours (or not yet
    recorded: a status that beats our own commit is dropped, the next one lands)."""
    with uow_factory() as uow:
        changed = uow.conn.execute(
            sms_deliveries.update()
            .where(
                sms_deliveries.c.provider == PROVIDER,
                sms_deliveries.c.provider_message_id == provider_message_id,
                sms_deliveries.c.status.not_in(FINAL_STATUSES),
            )
            .values(status=status, error_code=error_code, status_at=clock.now())
        ).rowcount
        uow.commit()
    return bool(changed)
