"""RingCentral: texts out (the SMS transport behind the SMS sender's gate), texts in (the webhook),
and the webhook subscription.

`client` wraps the official SDK; `adapter` is the outbox transport; `webhooks` checks and reads
deliveries; `fake` is a local server speaking the subset of the API the client uses, so tests and
`make run` exercise the same code with no RingCentral account.
"""

from integrations.ringcentral.adapter import RingCentralSms, TokenBucket
from integrations.ringcentral.client import RingCentralClient, RingCentralConfig, RingCentralError
from integrations.ringcentral.webhooks import DeliveryStatus, InboundSms, WebhookRefused, parse, verify

__all__ = [
    "DeliveryStatus",
    "InboundSms",
    "RingCentralClient",
    "RingCentralConfig",
    "RingCentralError",
    "RingCentralSms",
    "TokenBucket",
    "WebhookRefused",
    "parse",
    "verify",
]
