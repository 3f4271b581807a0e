"""Outbox targets that only log what they would do.

Until the provider adapters land (Stripe deposit links, email and SMS notices), `make run` wires
these so the outbox drains and an operator can see each message go out. They log ids and booking
references only, never personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from db.outbox import OutboxMessage

log = logging.getLogger("hibachi.outbox")


def log_only(message: OutboxMessage) -> Mapping[str, Any]:
    log.info(
        "outbox %s: %s for %s (not sent: no provider configured)",
        message.id,
        message.target,
        message.payload.get("reference", "-"),
    )
    return {"logged": True}
