"""What one customer thread knows between turns (checkpointed in Postgres after every step).

Everything here is plain JSON-able data (dicts, lists, strings, numbers), so checkpoints stay
readable and never depend on our classes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict  # pydantic (the server's input/output schemas) needs it before 3.12

Flow = Literal["book", "manage"]

# What the agent last asked. The understanding step reads a bare answer against it ("12", "yes").
# Beyond agent.schema.Pending: "kids" (how many of the party are kids), "change" (what to change
# after a "no" at the summary), "manage_date" / "manage_choice" / "manage_confirm" / "which" (the
# reschedule and cancel conversation).
PendingQuestion = Literal[
    "date",
    "time",
    "date_time",
    "party",
    "kids",
    "address",
    "name",
    "contact",
    "email",
    "phone",
    "upgrades",
    "consent",
    "confirm",
    "choice",
    "change",
    "reference",
    "which",
    "manage_date",
    "manage_choice",
    "manage_confirm",
]


class InputState(TypedDict):
    """A turn's input, the LangGraph chat convention: `{"messages": [{"role": "user", "content": ...}]}`."""

    messages: Annotated[list[AnyMessage], add_messages]


class State(InputState, total=False):
    slots: dict[str, Any]  # agent.schema.Slots as a dict, None values left out: the booking so far
    pending: PendingQuestion | None  # the question the last reply asked
    heard: dict[str, Any]  # this turn's Understanding (model_dump)
    changed: list[str]  # the slot names this turn changed
    checked: dict[str, Any] | None  # the (date, time, zip) the last passing availability check was for
    quote: dict[str, Any] | None  # the last quote_price result, with `for` = the inputs it priced
    alternatives: list[dict[str, str]]  # options offered for a taken / off-slot time: {date, slot}
    booking: dict[str, Any] | None  # the last create_booking result
    payment_link: dict[str, Any] | None  # the last create_payment_link result
    attempt: int  # booking attempts finished; part of the create-booking idempotency key
    no_progress: int  # turns in a row that moved nothing forward
    handoff_reason: str | None  # set while the thread waits for staff
    opted_out: bool  # the SMS customer sent STOP: stay silent until START
    consent_evidence: dict[str, Any] | None  # where consent_sms was answered: message_id, ip, page
    flow: Flow | None  # booking a new party, or managing an existing one
    manage: dict[str, Any] | None  # reschedule / cancel: action, booking, customer_id, date, slot, candidates
    preface: str | None  # said before the next reply of this turn (an FAQ answer before the question)
