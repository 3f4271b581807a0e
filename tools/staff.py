"""handoff_to_staff and update_sms_consent: the tools that are about the conversation, not a booking."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.tools import InjectedToolArg, tool

from domain.commands import HandOffThread, UpdateConsent
from domain.errors import NotFound

from .caller import Caller
from .results import EXPECTED_ERRORS, failed, from_error

HANDOFF_REASONS = (
    "customer_asked",
    "complaint",
    "large_party",
    "no_progress",
    "unanswered_question",
    "change_needs_staff",
    "booking_not_found",
)


@tool(parse_docstring=True)
def handoff_to_staff(
    reason: str,
    note: str | None = None,
    *,
    caller: Annotated[Caller, InjectedToolArg],
) -> dict[str, Any]:
    """Hand this conversation to a person on staff and stop answering it yourself.

    Use it when the customer asks for a person; complains or asks for a refund; has a party larger
    than the business takes; when three messages in a row got nowhere; or when they ask something
    the business's policies do not answer. Then tell the customer someone will follow up; do not
    promise a time or an outcome.

    The thread goes to human mode in the staff inbox now (the HandOffThread command), and the graph
    pauses it (a LangGraph interrupt carrying the reason) until staff hand it back.

    Args:
        reason: Why: customer_asked, complaint, large_party, no_progress, unanswered_question,
            change_needs_staff or booking_not_found.
        note: One line for staff on what the customer needs.
    """
    if reason not in HANDOFF_REASONS:
        return failed("invalid", f"must be one of {', '.join(HANDOFF_REASONS)}", "reason")
    try:
        result = caller.container.bus.handle(HandOffThread(caller.thread_id, reason, "agent"))
    except NotFound:
        # A thread with no inbox row (a LangGraph Studio run): the interrupt alone pauses it.
        return {"ok": True, "handed_off": False, "reason": reason, "note": note, "thread_id": caller.thread_id}
    except EXPECTED_ERRORS as error:
        return from_error(error)
    return {"ok": True, "handed_off": True, "reason": reason, "note": note, **result.body}


@tool(parse_docstring=True)
def update_sms_consent(granted: bool, *, caller: Annotated[Caller, InjectedToolArg]) -> dict[str, Any]:
    """Record that the customer on this SMS conversation opted out of texts (STOP) or back in (START).

    Only for the carrier keywords; consent to texts during a booking goes with create_booking.
    `ok` false with `error.code` "not_found" means the number is not a customer yet: the opt-out
    still holds for this conversation, so send the one confirmation and then nothing more.

    Args:
        granted: False for STOP and its synonyms, True for START.
    """
    if not caller.customer_phone:
        return failed("invalid", "no phone number on this conversation", "phone")
    command = UpdateConsent(
        channel="sms", granted=granted, source="sms", phone=caller.customer_phone, source_message_id=caller.message_id
    )
    try:
        result = caller.container.bus.handle(command, actor=caller.actor)
    except EXPECTED_ERRORS as error:
        return from_error(error)
    return {"ok": True, **result.body}
