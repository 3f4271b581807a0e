"""RingCentral webhook deliveries: the verification token check and the event, as plain values.

RingCentral signs nothing: a WebHook subscription carries a `verificationToken` we chose, and every
delivery repeats it in the `Verification-Token` header. Events are JSON:
`{"uuid", "event": "<the filter>", "subscriptionId", "body": <a message record>}`.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

PROVIDER = "ringcentral"


class WebhookRefused(Exception):
    """Not from our subscription (no token: 400, a wrong one: 401) or not an event (400)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class InboundSms:
    provider_message_id: str
    phone: str
    text: str


@dataclass(frozen=True)
class DeliveryStatus:
    """An outbound text's new status (Sent, Delivered, DeliveryFailed, SendingFailed, ...)."""

    provider_message_id: str
    status: str
    error_code: str | None


def verify(payload: bytes, token: str | None, expected: str) -> dict[str, Any]:
    """The event as plain JSON once the header's token is ours (compared in constant time)."""
    if not token:
        raise WebhookRefused("no Verification-Token")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise WebhookRefused("wrong Verification-Token", 401)
    try:
        event = json.loads(payload)
    except ValueError:
        raise WebhookRefused("not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("body"), dict):
        raise WebhookRefused("not an event")
    return event


def parse(event: dict[str, Any]) -> InboundSms | DeliveryStatus | None:
    """What the event says about a text; None for anything else (acknowledged, not stored)."""
    body = event["body"]
    message_id = body.get("id")
    if body.get("type") != "SMS" or message_id in (None, ""):
        return None
    direction = body.get("direction")
    if direction == "Inbound":
        sender = body.get("from")
        phone = sender.get("phoneNumber") if isinstance(sender, dict) else None
        if not isinstance(phone, str) or not phone:
            return None
        # The instant event carries the words in `subject` (the full message record's text).
        return InboundSms(str(message_id), phone, str(body.get("subject") or ""))
    if direction == "Outbound" and body.get("messageStatus"):
        error = body.get("smsDeliveryErrorCode") or body.get("errorCode")
        return DeliveryStatus(str(message_id), str(body["messageStatus"])[:32], str(error)[:64] if error else None)
    return None
