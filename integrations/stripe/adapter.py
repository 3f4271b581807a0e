"""The Stripe adapter: the outbox targets that create a deposit's hosted Checkout Session and
refund a deposit, through the official SDK.

Card details only ever go to Stripe's hosted page (PCI SAQ-A): we send an amount and a reference
and get back a URL. Each call carries the outbox row's id as Stripe's Idempotency-Key, so a retried
row (a timeout after Stripe acted, a crash before the row was marked done) gets the first result
back instead of a second session or a second refund. Stripe compares a retry's parameters with the
first call's, so every attempt of one message sends the same ones (the link's expiry counts from
when the link was asked for, not from the attempt). Stripe refusing a request (4xx) dead-letters
the message at once: sending it again cannot help. 5xx, timeouts (`timeout_seconds` a call) and
network errors are retried by the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import stripe
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from stripe.params import RefundCreateParams
from stripe.params.checkout import SessionCreateParams

from db.outbox import OutboxMessage
from db.tables import payment_events, payment_links
from db.uow import UnitOfWork
from domain.clock import Clock
from services.outbox_dispatcher import PermanentFailure, Target

PROVIDER = "stripe"
# Stripe refuses an expires_at 24 h or more ahead of its own clock: a minute's margin for clock skew.
LINK_LIFETIME = timedelta(hours=24) - timedelta(minutes=1)
# Stripe wants at least 30 minutes: a message delivered later than this before its expiry gets a fresh day.
LINK_MIN_LEFT = timedelta(hours=1)


@dataclass(frozen=True)
class StripeConfig:
    """`api_base` points the SDK at another server (the fake); None means api.stripe.com.
    `public_base_url` is where Checkout sends the customer back after paying or giving up."""

    api_key: str
    webhook_secret: str
    public_base_url: str
    api_base: str | None = None
    currency: str = "usd"
    fake: bool = False  # the offline fake, not Stripe: said in logs and on `make run`
    timeout_seconds: float = 20.0  # one API call (STRIPE_TIMEOUT_SECONDS); then the outbox retries


class StripePayments:
    def __init__(self, config: StripeConfig, uow_factory: Callable[[], UnitOfWork], clock: Clock) -> None:
        self.config = config
        self.uow_factory = uow_factory
        self.clock = clock
        # No SDK retries: the outbox retries with backoff, under the same idempotency key.
        self.client = stripe.StripeClient(
            config.api_key,
            base_addresses={"api": config.api_base} if config.api_base else {},
            max_network_retries=0,
            http_client=stripe.new_default_http_client(timeout=config.timeout_seconds),
        )

    def targets(self, deposit_link: str, refund: str) -> Mapping[str, Target]:
        return {deposit_link: self.create_deposit_link, refund: self.refund_deposit}

    def link_expiry(self, payload: Mapping[str, Any]) -> datetime:
        """A day after the link was asked for (`requested_at`, the command's time), the same on every
        attempt; a day from now when that leaves under LINK_MIN_LEFT (or the message predates it)."""
        now = self.clock.now()
        try:
            asked = datetime.fromisoformat(str(payload["requested_at"]))
        except (KeyError, ValueError):
            asked = now
        expires = asked + LINK_LIFETIME
        return expires if expires - now >= LINK_MIN_LEFT else now + LINK_LIFETIME

    def create_deposit_link(self, message: OutboxMessage) -> Mapping[str, Any]:
        payload = message.payload
        booking_id, reference, amount = payload.get("booking_id"), payload.get("reference"), payload.get("amount_cents")
        if not (isinstance(booking_id, str) and isinstance(reference, str) and isinstance(amount, int) and amount > 0):
            raise PermanentFailure("a deposit link needs booking_id, reference and a positive amount_cents")
        base = self.config.public_base_url.rstrip("/")
        ref = quote(reference)
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": self.config.currency,
                        "unit_amount": amount,
                        "product_data": {"name": f"Deposit for {reference}"},
                    },
                }
            ],
            "client_reference_id": reference,
            "metadata": {"booking_id": booking_id, "reference": reference},
            "payment_intent_data": {"metadata": {"booking_id": booking_id, "reference": reference}},
            "expires_at": int(self.link_expiry(payload).timestamp()),
            "success_url": f"{base}/chat?deposit=paid&reference={ref}",
            "cancel_url": f"{base}/chat?deposit=cancelled&reference={ref}",
        }
        with refusals_are_permanent():
            session = self.client.v1.checkout.sessions.create(params, {"idempotency_key": f"deposit-link-{message.id}"})
        if not session.url:
            raise RuntimeError(f"checkout session {session.id} came back without a URL")
        expires = self.clock.now() + LINK_LIFETIME
        if session.expires_at:
            expires = datetime.fromtimestamp(session.expires_at, UTC)
        # Stored in its own transaction: the dispatcher's only marks the row done. A retry after a
        # crash between the two gets the same session back (the idempotency key) and inserts nothing.
        with self.uow_factory() as uow:
            uow.conn.execute(
                pg_insert(payment_links)
                .values(
                    booking_id=booking_id,
                    provider=PROVIDER,
                    provider_id=session.id,
                    url=session.url,
                    amount_cents=amount,
                    status="open",
                    expires_at=expires,
                    outbox_id=message.id,
                )
                .on_conflict_do_nothing(constraint="uq_payment_links_provider_id")
            )
            uow.commit()
        return {"url": session.url, "session_id": session.id, "provider": PROVIDER}

    def refund_deposit(self, message: OutboxMessage) -> Mapping[str, Any]:
        """Refund up to `amount_cents` of what the booking's card payments took; money staff
        recorded by hand (cash, a transfer) is theirs to give back."""
        payload = message.payload
        booking_id, amount = payload.get("booking_id"), payload.get("amount_cents")
        if not (isinstance(booking_id, str) and isinstance(amount, int) and amount > 0):
            raise PermanentFailure("a refund needs booking_id and a positive amount_cents")
        with self.uow_factory() as uow:
            paid = uow.conn.execute(
                select(payment_events.c.provider_id, payment_events.c.amount_cents)
                .where(
                    payment_events.c.provider == PROVIDER,
                    payment_events.c.booking_id == booking_id,
                    payment_events.c.kind == "deposit",
                )
                .order_by(payment_events.c.occurred_at, payment_events.c.provider_id)
            ).all()
        left, refunds = amount, []
        paid = [row for row in paid if row.provider_id.startswith("pi_")]  # refunds name a payment intent
        for n, (payment_id, cents) in enumerate(paid):
            if left <= 0:
                break
            part = min(left, int(cents))
            params: RefundCreateParams = {
                "payment_intent": payment_id,
                "amount": part,
                "metadata": {"booking_id": booking_id, "reference": str(payload.get("reference", ""))},
            }
            with refusals_are_permanent():
                refund = self.client.v1.refunds.create(params, {"idempotency_key": f"refund-{message.id}-{n}"})
            refunds.append(refund.id)
            left -= part
        return {"refunds": refunds, "refunded_cents": amount - left, "not_by_card_cents": left}


@contextmanager
def refusals_are_permanent() -> Iterator[None]:
    """Stripe refusing the request (bad parameters, a reused idempotency key with other parameters)
    will refuse it again: dead-letter now, with Stripe's status and message for staff."""
    try:
        yield
    except (stripe.InvalidRequestError, stripe.IdempotencyError) as error:
        reason = error.user_message or str(error)
        raise PermanentFailure(f"Stripe refused it ({error.http_status}): {reason}") from error
