"""create_payment_link: where the customer pays the deposit."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.tools import InjectedToolArg, tool

from .caller import Caller
from .results import EXPECTED_ERRORS, from_error


def placeholder_url(business_email: str, reference: str) -> str:
    domain = business_email.rpartition("@")[2] or "example.com"
    return f"https://{domain}/pay/{reference}"


@tool(parse_docstring=True)
def create_payment_link(reference: str, *, caller: Annotated[Caller, InjectedToolArg]) -> dict[str, Any]:
    """The link where the customer pays the deposit of a booking just made. Send `url` with the
    `deposit_due` exactly as returned.

    For now this returns the deposit link the payments adapter stored for the booking (the outbox's
    result), or a placeholder URL built from the reference when none is stored yet; the Stripe issue
    provides the real Checkout link.

    Args:
        reference: The booking reference returned by create_booking.
    """
    queries = caller.container.queries
    try:
        booking = queries.booking(reference)
        url = queries.deposit_link(reference)
    except EXPECTED_ERRORS as error:
        return from_error(error)
    return {
        "ok": True,
        "reference": booking["reference"],
        "url": url or placeholder_url(caller.container.business.email, booking["reference"]),
        "placeholder": url is None,
        "deposit_due_cents": booking["deposit_due_cents"],
        "deposit_due": booking["deposit_due"],
    }
