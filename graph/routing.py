"""Routers: which node runs next, from the state (and the channel). Each returns a node name.

A reply ends the turn: after a node that may or may not answer, the router goes to the end
("__end__", LangGraph's END) when the last message is the agent's.
"""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from .context import Context
from .nodes import availability_key, missing_field, quote_key
from .state import State

BookingStep = Literal["availability", "pricing", "intake", "confirm"]
TurnRoute = Literal[
    "opt_out",
    "opt_in",
    "help",
    "wrap_up",
    "escalate",
    "faq",
    "manage",
    "change_booking",
    "book",
    "decline",
    "availability",
    "pricing",
    "intake",
    "confirm",
    "__end__",
]

_SMS_KEYWORDS: dict[str, Literal["opt_out", "opt_in", "help"]] = {"stop": "opt_out", "start": "opt_in", "help": "help"}


def _replied(state: State) -> bool:
    return isinstance(state["messages"][-1], AIMessage)


def next_booking_step(state: State, channel: str) -> BookingStep:
    """Check what changed (availability, then price), then ask what is missing, then summarise."""
    slots = state.get("slots") or {}
    if state.get("pending") == "choice" and state.get("alternatives") and not state.get("changed"):
        return "intake"  # the options are still open: ask again
    if slots.get("date") and availability_key(slots) != state.get("checked"):
        return "availability"
    if slots.get("party_adults") is not None and slots.get("party_kids") is not None and slots.get("zip"):
        quote = state.get("quote")
        if quote is None or quote.get("for") != quote_key(slots):
            return "pricing"
    if missing_field(slots, channel) is not None:
        return "intake"
    return "confirm"


def route_turn(state: State, runtime: Runtime[Context]) -> TurnRoute:
    """After understanding the message: keywords, handoff, questions, the manage flow, the answer to
    the summary, else the next booking step."""
    heard = state.get("heard") or {}
    keyword = heard.get("sms_keyword")
    channel = runtime.context.channel
    if state.get("opted_out"):
        return "opt_in" if keyword == "start" else "__end__"  # silent until START
    if keyword is not None:
        if channel == "sms":
            return _SMS_KEYWORDS[keyword]
        return "help" if keyword == "help" else "wrap_up"
    if state.get("handoff_reason"):
        return "escalate"
    if heard.get("intent") in ("policy_question", "price_question"):
        return "faq"
    pending = state.get("pending")
    changed = state.get("changed")
    if state.get("flow") == "manage":
        if pending == "manage_confirm" and heard.get("confirm") is True and not changed:
            return "change_booking"
        return "manage"
    if pending == "confirm" and not changed:
        if heard.get("confirm") is True:
            return "book"
        if heard.get("confirm") is False:
            return "decline"
    if pending == "change" and not changed and heard.get("confirm") is False:
        return "decline"
    if heard.get("intent") == "later" and not changed:
        return "wrap_up"  # stepping away: keep what we have, don't ask again now
    if state.get("flow") is None:
        return "wrap_up"
    return next_booking_step(state, channel)


def route_step(
    state: State, runtime: Runtime[Context]
) -> Literal["availability", "pricing", "intake", "confirm", "escalate", "manage", "__end__"]:
    """After a check (availability, price) or an FAQ answer: stop if it replied, else go on."""
    if _replied(state):
        return "__end__"
    if state.get("handoff_reason"):
        return "escalate"
    if state.get("flow") == "manage":
        return "manage"
    return next_booking_step(state, runtime.context.channel)


def route_after_book(state: State) -> Literal["payment_link", "__end__"]:
    return "__end__" if _replied(state) else "payment_link"


def route_after_manage(state: State) -> Literal["escalate", "__end__"]:
    return "escalate" if not _replied(state) and state.get("handoff_reason") else "__end__"
