"""quote_price: what a party costs, from the business's price book."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from langchain_core.tools import InjectedToolArg, tool

from domain.commands import RecordQuote
from domain.errors import DomainError

from .caller import Caller
from .results import EXPECTED_ERRORS, from_error


@tool(parse_docstring=True)
def quote_price(
    adults: int,
    kids: int,
    zip_code: str,
    upgrades: dict[str, int] | None = None,
    *,
    caller: Annotated[Caller, InjectedToolArg],
) -> dict[str, Any]:
    """Price a party: food, upgrades, the food minimum, the travel fee for the area, the total and the deposit.

    Use it whenever the party size, the ZIP code or the upgrades change, and quote the customer only
    `total_due` and `deposit_due` exactly as returned (never compute or round a price yourself).
    `ok` false with `error.field` "party" and a message about staff means the party is too large for
    the agent: hand off to staff. `error.code` "outside_service_area" means we do not serve that ZIP.

    Args:
        adults: Guests over 12.
        kids: Guests 12 and under.
        zip_code: The 5-digit ZIP code of the event address.
        upgrades: Upgrade code to how many guests take it, e.g. {"lobster_tail": 4}; codes from the business's menu.
    """
    try:
        quote = caller.container.queries.quote(adults, kids, zip_code, upgrades or {})
    except EXPECTED_ERRORS as error:
        return from_error(error)
    # Remembered for the quote follow-up; a made-up thread (a test's, an eval's) is not a conversation.
    with contextlib.suppress(DomainError):
        caller.container.bus.handle(RecordQuote(caller.thread_id, int(quote["total_due_cents"])), actor=caller.actor)
    return {"ok": True, **quote}
