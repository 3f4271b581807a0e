"""The one way consent changes: `record_consent` appends to the ledger (core.consents) and
refreshes the cache (customers.consent_*) from it, in the caller's unit of work.

Every opt-in and opt-out goes through here: the agent's consent question (with the booking), STOP /
START and their plain-language synonyms by text, the update-consent command (staff, API). The
current state is the ledger's latest entry per channel; `customers.consent_*` is only a cache of it
that this function writes, kept because the read models and staff pages show it.

A customer texting us first is not written to the ledger: a direct reply to an inbound text is
treated as conversational consent by the SMS sender (services.sms), never as express consent.
"""

from __future__ import annotations

import uuid

from db.repositories import CustomerRecord
from db.uow import UnitOfWork
from domain.commands import ConsentEvidence
from domain.events import ConsentUpdated
from services.context import ServiceContext

MAX_PAGE = 2000


def record_consent(
    uow: UnitOfWork,
    ctx: ServiceContext,
    customer: CustomerRecord,
    *,
    channel: str,
    granted: bool,
    source: str,
    evidence: ConsentEvidence | None = None,
) -> ConsentUpdated:
    """Append the entry (the customer's words read from the source message, encrypted) and set the
    cache; returns the event for the caller to publish with the customer's other events."""
    evidence = evidence or ConsentEvidence()
    said = None
    if _stored_message_id(evidence.source_message_id):
        message = uow.threads.message(str(evidence.source_message_id))
        said = message.body if message is not None else None
    uow.consents.append(
        customer.id,
        channel=channel,
        granted=granted,
        source=source,
        at=ctx.clock.now(),
        phone=customer.phone,
        source_message_id=evidence.source_message_id,
        text=said,
        ip=(evidence.ip or "")[:45] or None,
        page=(evidence.page or "")[:MAX_PAGE] or None,
    )
    uow.customers.cache_consent(customer, channel, uow.consents.current(customer.id, channel) is True)
    return ConsentUpdated(customer_id=customer.id, channel=channel, granted=granted, source=source)


def _stored_message_id(value: str | None) -> bool:
    """Whether `value` can name one of our stored messages (an API caller may give a provider's id)."""
    try:
        return value is not None and uuid.UUID(value) is not None
    except ValueError:
        return False
