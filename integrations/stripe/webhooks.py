"""Stripe webhooks: verify the signature on the raw body with the SDK, then translate the event into
one of our commands. Stripe's types stay here; the rest of the system sees plain commands."""

from __future__ import annotations

import json
from typing import Any

import stripe

from domain.commands import ExpirePaymentLink, RecordDepositPayment, RecordRefund

PROVIDER = "stripe"
TOLERANCE_SECONDS = 300  # Stripe's default: an older signed timestamp is a replay


class WebhookRefused(Exception):
    """The body is not a genuine, recent Stripe event."""


def verify(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event as plain JSON, once the signature over the raw body checks out."""
    try:
        stripe.Webhook.construct_event(payload, signature or "", secret, tolerance=TOLERANCE_SECONDS)
        event = json.loads(payload)
    except (ValueError, stripe.SignatureVerificationError) as error:
        raise WebhookRefused(str(error) or type(error).__name__) from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise WebhookRefused("not an event")
    return event


Command = RecordDepositPayment | ExpirePaymentLink | RecordRefund


def command_for(event: dict[str, Any]) -> Command | None:
    """The command an event asks for; None for an event we do not act on (acknowledged, not stored).
    A signed event missing what its type needs (only a broken sender makes one) is refused by name."""
    try:
        return _command_for(event)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        missing = f"{type(error).__name__}: {error}"
        raise WebhookRefused(f"a {event['type']} event without the fields it needs ({missing})") from None


def _command_for(event: dict[str, Any]) -> Command | None:
    kind, event_id = event["type"], event["id"]
    obj = (event.get("data") or {}).get("object") or {}
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        # completed with payment_status "unpaid" is a delayed method (a bank debit) still under way:
        # async_payment_succeeded follows when the money arrives.
        if obj.get("payment_status") != "paid":
            return None
        metadata = obj.get("metadata") or {}
        reference = obj.get("client_reference_id") or metadata.get("reference")
        if not reference:
            return None  # not one of our deposit sessions
        return RecordDepositPayment(
            provider=PROVIDER,
            event_id=event_id,
            event_type=kind,
            reference=str(reference),
            session_id=str(obj["id"]),
            # The payment intent: the charge.refunded event and our refunds name the payment by it.
            provider_id=str(obj.get("payment_intent") or obj["id"]),
            amount_cents=int(obj.get("amount_total") or 0),
        )
    if kind == "checkout.session.expired":
        return ExpirePaymentLink(provider=PROVIDER, event_id=event_id, event_type=kind, session_id=str(obj["id"]))
    if kind == "charge.refunded":
        # amount_refunded is the charge's running total: the id names that total, so a replay or an
        # older total arriving late records nothing more.
        total = int(obj.get("amount_refunded") or 0)
        return RecordRefund(
            provider=PROVIDER,
            event_id=event_id,
            event_type=kind,
            payment_id=str(obj.get("payment_intent") or obj["id"]),
            provider_id=f"{obj['id']}/refunded/{total}",
            refunded_total_cents=total,
        )
    return None
