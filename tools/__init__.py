"""LangChain tools, the graph's only doors into the services.

Every tool takes an injected `Caller` (the container, the thread, the channel, what the channel
knows about the customer) and, where it writes, an injected idempotency key: arguments a model
never sees or fills (`InjectedToolArg`). Each returns a dict (see `tools.results`).
"""

from __future__ import annotations

from langchain_core.tools import BaseTool

from .availability import check_availability
from .bookings import cancel_booking, create_booking, find_bookings, reschedule_booking
from .caller import Caller
from .payments import create_payment_link
from .pricing import quote_price
from .staff import handoff_to_staff, update_sms_consent

TOOLS: tuple[BaseTool, ...] = (
    check_availability,
    quote_price,
    find_bookings,
    create_booking,
    reschedule_booking,
    cancel_booking,
    create_payment_link,
    handoff_to_staff,
    update_sms_consent,
)

__all__ = [
    "TOOLS",
    "Caller",
    "cancel_booking",
    "check_availability",
    "create_booking",
    "create_payment_link",
    "find_bookings",
    "handoff_to_staff",
    "quote_price",
    "reschedule_booking",
    "update_sms_consent",
]
