"""Stripe: hosted Checkout for deposits, refunds, and the webhooks that report payments.

`adapter` is the real adapter (the official SDK); `fake` a local server speaking the subset of the
Stripe HTTP API the adapter uses, so tests and `make run` exercise the same code with no Stripe key.
"""

from integrations.stripe.adapter import StripeConfig, StripePayments
from integrations.stripe.webhooks import WebhookRefused, command_for, verify

__all__ = ["StripeConfig", "StripePayments", "WebhookRefused", "command_for", "verify"]
