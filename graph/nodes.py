"""The graph's nodes: small functions of (state, runtime) that return the part of the state they change.

A node that replies appends one AIMessage; a reply ends the turn (see `graph.routing`). Nodes act
only through `tools` (with the injected `Caller`), read the business through the container, and
word replies through `agent.wording`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date as Date
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent import wording
from agent.schema import Context as UnderstandingContext
from agent.schema import Pending, Slots, Understanding
from agent.understanding import merge
from agent.understanding.intents import carrier_keyword, yes_no
from domain import availability as calendar
from domain.business import Business
from tools import (
    cancel_booking,
    check_availability,
    create_booking,
    create_payment_link,
    find_bookings,
    handoff_to_staff,
    quote_price,
    reschedule_booking,
    update_sms_consent,
)

from .context import Context, context_of
from .state import PendingQuestion, State

NO_PROGRESS_LIMIT = 3  # turns in a row without progress before a person takes over

# Questions people ask that no business file here answers: asked, they go to staff, never guessed.
UNANSWERED_TOPICS = ("insurance", "alcohol", "parking", "pets", "kosher", "halal", "discount", "license")

IDENTITY = ("first_name", "last_name", "email", "phone", "consent_sms")
SLOT_NAMES = tuple(Slots.model_fields)

# The understanding engine's reading of a bare answer, per question the graph asked.
_ENGINE_PENDING: dict[str, Pending | None] = {
    "date": "date",
    "time": "time",
    "date_time": "date",
    "party": "party",
    "kids": "party",
    "address": "address",
    "name": "name",
    "contact": "email",
    "email": "email",
    "phone": "phone",
    "upgrades": "upgrades",
    "consent": "consent",
    "confirm": "confirm",
    "choice": "choice",
    "change": None,
    "reference": "reference",
    "which": "reference",
    "manage_date": "date",
    "manage_choice": "choice",
    "manage_confirm": "confirm",
}
_QUESTIONS_WITH_ANSWERS: frozenset[str] = frozenset(
    {"confirm", "consent", "upgrades", "manage_confirm", "change", "choice", "manage_choice", "which"}
)

_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "1st": 1, "2nd": 2, "3rd": 3}
_ORDINAL_ANSWER = re.compile(
    r"^\W*(?:(?:the|option|number|no\.?|#)\s*)*(?P<n>[1-9]|first|second|third|fourth|fifth|sixth|1st|2nd|3rd)"
    r"(?:\s+(?:one|option|please|works|is\s+(?:good|fine|great)))*\W*$"
)
_LAST_ANSWER = re.compile(r"\b(?:last|later|latest)\b(?:\s+one)?")
_EARLY_ANSWER = re.compile(r"\b(?:earlier|earliest)\b(?:\s+one)?")
_NONE_ANSWER = re.compile(r"^\W*(?:none|no(?:ne)?\s*(?:kids|children)?|zero|0|nope|no\s+one|nobody|all\s+adults)\W*$")
_POLICY_WORD = re.compile(r"\bpolic(?:y|ies)\b")
_SAME_TIME = re.compile(r"\bsame\s+(?:time|slot|hour)\b")
_SAME_DAY = re.compile(r"\bsame\s+(?:day|date)\b")
# "book another party", "a second event": a new booking even right after one was made.
_ANOTHER_PARTY = re.compile(r"\b(?:another|second|new|separate|one\s+more)\s+(?:party|booking|event|dinner|date)\b")
_DETAILS = ("party_total", "party_adults", "party_kids", "upgrades", "address", "zip")


# --- helpers -------------------------------------------------------------------------------------


def _text_of(state: State) -> str:
    last = state["messages"][-1]
    return last.text if isinstance(last, HumanMessage) else ""


def _said_before(state: State) -> bool:
    return any(isinstance(message, AIMessage) for message in state["messages"])


def reply(state: State, text: str, *, greet: Business | None = None, **updates: Any) -> dict[str, Any]:
    """One reply for this turn, after any preface (an FAQ answer) a previous node left; with `greet`,
    the first reply of the conversation says hello first."""
    preface = state.get("preface")
    body = f"{preface}\n\n{text}" if preface else text
    if greet is not None and not _said_before(state):
        body = f"{wording.greeting(greet)} {body}"
    return {"messages": [AIMessage(content=body)], "preface": None, **updates}


def _slots(state: State) -> dict[str, Any]:
    return dict(state.get("slots") or {})


def _business(runtime: Runtime[Context]) -> Business:
    return context_of(runtime).container.business


def _today(runtime: Runtime[Context]) -> Date:
    container = context_of(runtime).container
    return calendar.local_today(container.clock.now(), container.business.timezone)


def _heard(state: State) -> Understanding:
    return Understanding.model_validate(state.get("heard") or {})


def _key(slots: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: slots.get(name) for name in names}


def availability_key(slots: Mapping[str, Any]) -> dict[str, Any]:
    return _key(slots, "date", "time", "zip")


def quote_key(slots: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "adults": slots.get("party_adults"),
        "kids": slots.get("party_kids"),
        "zip": slots.get("zip"),
        "upgrades": dict(slots.get("upgrades") or {}),
    }


def pick_option(text: str, heard: Slots, options: Sequence[Mapping[str, str]]) -> dict[str, str] | None:
    """Which offered option (date, slot) an answer chose: "2", "the first one", "the later one",
    "6pm", "the 13th", or "yes" when only one was offered. None when it chose none of them."""
    if not options:
        return None
    low = text.lower().strip()
    match = _ORDINAL_ANSWER.match(low)
    if match:
        raw = match.group("n")
        index = int(raw) if raw.isdigit() else _ORDINALS[raw]
        if 1 <= index <= len(options):
            return dict(options[index - 1])
    if heard.date or heard.time:
        fits = [
            option
            for option in options
            if (heard.date is None or option["date"] == heard.date)
            and (heard.time is None or option["slot"] == heard.time)
        ]
        return dict(fits[0]) if len(fits) == 1 else None
    if _LAST_ANSWER.search(low):
        return dict(options[-1])
    if _EARLY_ANSWER.search(low):
        return dict(options[0])
    if len(options) == 1 and yes_no(text) is True:
        return dict(options[0])
    return None


def pick_booking(text: str, heard: Slots, bookings: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Which of the customer's bookings an answer means: by reference, date or position."""
    if heard.reference:
        for booking in bookings:
            if booking["reference"] == heard.reference:
                return dict(booking)
    if heard.date:
        on_day = [booking for booking in bookings if booking["date"] == heard.date]
        if len(on_day) == 1:
            return dict(on_day[0])
    match = _ORDINAL_ANSWER.match(text.lower().strip())
    if match:
        raw = match.group("n")
        index = int(raw) if raw.isdigit() else _ORDINALS[raw]
        if 1 <= index <= len(bookings):
            return dict(bookings[index - 1])
    return None


def missing_field(slots: Mapping[str, Any], channel: str) -> PendingQuestion | None:
    """The next thing to ask, in the intake order: date and time, party, address, name, contact,
    upgrades, SMS consent. None when the booking can be summarised."""
    if not slots.get("date") and not slots.get("time"):
        return "date_time"
    if not slots.get("date"):
        return "date"
    if not slots.get("time"):
        return "time"
    if not slots.get("party_total") and slots.get("party_adults") is None:
        return "party"
    if slots.get("party_adults") is None or slots.get("party_kids") is None:
        return "kids"
    if not slots.get("zip") or not slots.get("address"):
        return "address"
    if not slots.get("first_name") or not slots.get("last_name"):
        return "name"
    if channel == "web":
        if not slots.get("email") and not slots.get("phone"):
            return "contact"
        if not slots.get("email"):
            return "email"
        if not slots.get("phone"):
            return "phone"
    elif not slots.get("phone"):
        return "phone"
    if slots.get("upgrades") is None:
        return "upgrades"
    if slots.get("consent_sms") is None and slots.get("phone"):
        return "consent"
    return None


# --- understand ----------------------------------------------------------------------------------


def understand(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Read the customer's message against what the conversation knows and what was asked, and
    update the slots, the flow, the progress counter and (when a person should take over) the reason."""
    ctx = context_of(runtime)
    business = ctx.container.business
    text = _text_of(state)
    pending = state.get("pending")
    known = Slots.model_validate(_slots(state))
    options = state.get("alternatives") or []
    engine_pending = _ENGINE_PENDING.get(pending) if pending else None
    if pending in ("choice", "manage_choice") and options and len({o["date"] for o in options}) == 1:
        engine_pending = "time"  # offered times on one day: a bare "6" is 6pm
    heard = ctx.container.understander.understand(
        text,
        UnderstandingContext(
            now=ctx.container.clock.now(),
            timezone=business.timezone,
            known=known,
            pending=engine_pending,
            upgrade_codes=tuple(business.pricing.upgrades),
            policy_topics=tuple(business.policies) + UNANSWERED_TOPICS,
        ),
    )
    if ctx.channel == "web" and heard.sms_keyword is not None:
        heard = _web_keyword(text, heard)
    elif ctx.channel == "sms" and heard.sms_keyword is None and (keyword := carrier_keyword(text)):
        heard = Understanding(sms_keyword=keyword)  # "please stop texting me" revokes consent like STOP
    new = heard.slots
    if pending == "kids":
        new = _as_kids(text, new, known)
    if pending == "name" and known.first_name and not known.last_name and new.first_name and not new.last_name:
        new = new.model_copy(update={"first_name": None, "last_name": new.first_name})  # "And your last name?"

    flow = state.get("flow")
    managing = flow == "manage" or heard.intent in ("reschedule", "cancel_booking")
    # Right after booking, a change is about that booking, not a new one: a new date or time
    # reschedules it; other details (party, upgrades, address) go to staff, who can re-price it.
    just_booked = state.get("booking") if flow is None else None
    keep: list[str] = []
    details_changed = False
    if just_booked and not new.reference and not _ANOTHER_PARTY.search(text.lower()):
        if managing or new.date or new.time:
            managing = True
            new = new.model_copy(update={"reference": just_booked["reference"]})
            if heard.intent != "cancel_booking" and (new.date or new.time):
                keep = ["slot"] if not new.time else ["date"] if not new.date else []
        elif any(getattr(new, name) is not None for name in _DETAILS):
            details_changed = True
    manage = dict(state.get("manage") or {}) if managing else None
    picked: dict[str, str] | None = None
    if pending in ("choice", "manage_choice"):
        picked = pick_option(text, new, options)
    if manage is not None:
        manage = _heard_for_manage(manage, pending, text, new, picked, heard)
        if keep:
            manage["keep"] = sorted({*manage.get("keep", []), *keep})
        new = Slots(**{name: getattr(new, name) for name in (*IDENTITY, "reference")})
    elif picked is not None:
        new = new.model_copy(update={"date": picked["date"], "time": picked["slot"]})

    if new.address is not None and not _plausible_address(new.address, new.zip):
        new = new.model_copy(update={"address": None})
    merged = merge(known, new)
    if ctx.channel == "sms" and ctx.customer_phone and merged.phone is None:
        merged.phone = ctx.customer_phone
    if ctx.customer_email and merged.email is None:
        merged.email = ctx.customer_email
    changed = [name for name in SLOT_NAMES if getattr(merged, name) != getattr(known, name)]

    progress = (
        bool(changed)
        or picked is not None
        or heard.sms_keyword is not None
        or (heard.confirm is not None and pending in _QUESTIONS_WITH_ANSWERS)
        or heard.intent in ("policy_question", "price_question", "human", "complaint", "reschedule", "cancel_booking")
        or (manage is not None and manage != (state.get("manage") or {}))
    )
    no_progress = 0 if progress or pending is None else state.get("no_progress", 0) + 1

    if managing:
        flow = "manage"
    elif flow is None and (changed or heard.intent in ("book", "greeting") or not _said_before(state)):
        flow = "book"
    updates: dict[str, Any] = {
        "heard": heard.model_dump(),
        "slots": merged.model_dump(exclude_none=True),
        "changed": changed,
        "no_progress": no_progress,
        "flow": flow,
        "manage": manage,
        "preface": None,
        "handoff_reason": _handoff_reason(text, heard, merged, changed, no_progress, business)
        or ("change_needs_staff" if details_changed else None),
    }
    if "consent_sms" in changed:  # the consent ledger's evidence, recorded with the booking
        updates["consent_evidence"] = {"message_id": ctx.message_id, "ip": ctx.client_ip, "page": ctx.page}
    if state.get("opted_out") and _opted_back_in(ctx):
        updates["opted_out"] = False  # START reached us another way (the channel answers it for opted-out numbers)
    return updates


def _opted_back_in(ctx: Context) -> bool:
    """An SMS customer the thread remembers as opted out whose consent record says they are subscribed
    again: their START was answered outside the graph. The record, not the thread, is the truth; a
    number with no record (its STOP could not be stored) stays opted out."""
    if ctx.channel != "sms" or not ctx.customer_phone:
        return False
    with ctx.container.uow() as uow:
        record = uow.customers.find(phone=ctx.customer_phone)
    return record is not None and record.consent_sms


def _plausible_address(address: str, zip_code: str | None) -> bool:
    """A street address has a house number and a street name besides the ZIP ("what about 95816"
    is a ZIP, not an address)."""
    rest = address.replace(zip_code, " ") if zip_code else address
    return bool(re.search(r"\d", rest)) and bool(re.search(r"[A-Za-z]{2,}", rest))


def _web_keyword(text: str, heard: Understanding) -> Understanding:
    """On the web a lone keyword is a plain word: CANCEL means the booking, START hello, HELP help."""
    word = text.strip().strip(".!?").lower()
    if word == "cancel":
        return Understanding(intent="cancel_booking")
    if heard.sms_keyword == "start":
        return Understanding(intent="greeting")
    return heard


def _as_kids(text: str, new: Slots, known: Slots) -> Slots:
    """The answer to "how many are kids?": a bare number is the kids, "none" is zero."""
    if new.party_kids is not None or new.party_adults is not None:
        return new
    total = known.party_total
    if new.party_total is not None and total is not None and new.party_total <= total:
        return new.model_copy(update={"party_total": None, "party_kids": new.party_total})
    if new.party_total is not None and total is None and known.party_adults is not None:
        return new.model_copy(update={"party_total": None, "party_kids": new.party_total})
    if new.party_total is not None and total is None and known.party_kids is not None:
        return new.model_copy(update={"party_total": None, "party_adults": new.party_total})  # "how many adults?"
    if _NONE_ANSWER.match(text.lower()):
        return new.model_copy(update={"party_kids": 0})
    return new


def _heard_for_manage(
    manage: dict[str, Any],
    pending: str | None,
    text: str,
    new: Slots,
    picked: dict[str, str] | None,
    heard: Understanding,
) -> dict[str, Any]:
    """What this message says about the booking being changed: which one, and the new date / time."""
    if heard.intent == "reschedule":
        manage["action"] = "reschedule"
    elif heard.intent == "cancel_booking":
        manage["action"] = "cancel"
    manage.setdefault("action", "reschedule")
    if pending == "which" and manage.get("candidates"):
        chosen = pick_booking(text, new, manage["candidates"])
        if chosen is not None:
            manage["booking"] = chosen
            manage.pop("candidates", None)
        return manage
    if picked is not None:
        manage["date"], manage["slot"] = picked["date"], picked["slot"]
        return manage
    if new.date:
        manage["date"] = new.date
    if new.time:
        manage["slot"] = new.time
    low = text.lower()
    if not new.time and _SAME_TIME.search(low):
        manage["keep"] = sorted({*manage.get("keep", []), "slot"})  # "feb 6, same time": the booking's slot
    if not new.date and _SAME_DAY.search(low):
        manage["keep"] = sorted({*manage.get("keep", []), "date"})  # "same day but 3pm"
    return manage


def _unanswerable_question(text: str, heard: Understanding, changed: list[str]) -> bool:
    """A question that is none of the things the agent knows ("do you take credit cards?"): nothing
    understood, no slot changed, and it asks. Staff answer it rather than the agent guessing."""
    asks = text.rstrip().endswith("?")
    if not asks or heard.intent not in (None, "other") or changed or heard.confirm is not None:
        return False
    return not _BOOKING_WORD.search(text.lower())  # about times, prices or the party: the flow answers


# Words of the booking itself: a question using them is the flow's to answer, not staff's.
_BOOKING_WORD = re.compile(
    r"\b(?:time|times|date|dates|day|days|when|avail\w*|open|slot|slots|book\w*|reserv\w*|party|parties|"
    r"price|prices|cost|costs|much|pay|deposit|total|guests?|people|kids?|adults?|menu|upgrades?|zip|address)\b"
)


def _handoff_reason(
    text: str, heard: Understanding, slots: Slots, changed: list[str], no_progress: int, business: Business
) -> str | None:
    if heard.sms_keyword is not None:
        return None
    if heard.intent == "human":
        return "customer_asked"
    if heard.intent == "complaint":
        return "complaint"
    if heard.intent == "policy_question" and (heard.topic is None or heard.topic not in business.policies):
        return "unanswered_question"
    if heard.intent == "other" and _POLICY_WORD.search(text.lower()):
        return "unanswered_question"
    if _unanswerable_question(text, heard, changed):
        return "unanswered_question"
    party = slots.party_total if slots.party_total is not None else 0
    if party > business.party.max_guests and any(name.startswith("party") for name in changed):
        return "large_party"
    if no_progress >= NO_PROGRESS_LIMIT:
        return "no_progress"
    return None


# --- keywords, FAQ, small talk -------------------------------------------------------------------


def opt_out(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """STOP (or a synonym) by SMS: record the opt-out and confirm once; the agent is silent after."""
    update_sms_consent.invoke({"granted": False, "caller": context_of(runtime).caller})
    return reply(state, wording.opted_out(_business(runtime)), opted_out=True, pending=None)


def opt_in(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """START by SMS: record the opt-in and say so."""
    update_sms_consent.invoke({"granted": True, "caller": context_of(runtime).caller})
    return reply(state, wording.opted_in(_business(runtime)), opted_out=False)


def answer_help(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """HELP / INFO: who we are, how to reach us, how to opt out."""
    return reply(state, wording.help_text(_business(runtime)))


def answer_faq(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """A policy or price question, answered from the business file (and the customer's own quote).
    The answer goes before the question the conversation was waiting on, which the next node asks."""
    business = _business(runtime)
    heard = _heard(state)
    slots = _slots(state)
    quote = state.get("quote")
    fresh_quote = quote if quote and quote.get("for") == quote_key(slots) else None
    updates: dict[str, Any] = {}
    if heard.intent == "price_question" and fresh_quote is None and state.get("flow") != "manage":
        fresh_quote = _quote_asked_party(slots, runtime)
        if fresh_quote is not None:
            updates["quote"] = fresh_quote
    if heard.intent == "price_question":
        answer = wording.your_price(fresh_quote) if fresh_quote else wording.prices(business)
    else:
        answer = wording.policy_answer(heard.topic or "", business) or ""
    if state.get("flow") == "book" and (state.get("pending") or state.get("changed")):
        return {"preface": answer, **updates}
    if state.get("flow") == "manage":
        return {"preface": answer}
    follow = "" if state.get("booking") else "\n\n" + wording.invite()
    return reply(state, answer + follow, greet=business, **updates)


def _quote_asked_party(slots: Mapping[str, Any], runtime: Runtime[Context]) -> dict[str, Any] | None:
    """ "How much for 10 adults and 5 kids in 94110?": the price of that party, when the party (adults
    and kids) and the ZIP are known. None otherwise, or when it cannot be priced (the booking steps
    then say why: outside the area, too many guests)."""
    key = quote_key(slots)
    if key["adults"] is None or not key["zip"]:
        return None
    kids = key["kids"]
    if kids is None:
        if slots.get("party_total") not in (None, key["adults"]):
            return None  # some of the party may be kids: the general prices answer it
        kids = 0  # "how much for 10 adults": no kids named, none priced (the intake still asks)
    result = quote_price.invoke(
        {
            "adults": key["adults"],
            "kids": kids,
            "zip_code": key["zip"],
            "upgrades": key["upgrades"],
            "caller": context_of(runtime).caller,
        }
    )
    return {**result, "for": key} if result["ok"] else None


def wrap_up(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Nothing to do: after a booking ("thanks!"), a customer stepping away for now (what they told
    us is kept for when they come back), or a web visitor saying stop."""
    heard = _heard(state)
    if heard.sms_keyword == "stop":
        return reply(state, wording.web_stop(), pending=None, flow=None)
    if state.get("booking"):
        text = wording.after_booking()
    elif heard.intent == "later" and _slots(state):
        text = wording.paused()
    else:
        text = wording.idle()
    return reply(state, text, pending=None, flow=None)


# --- handoff -------------------------------------------------------------------------------------


def escalate(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Hand the thread to staff and tell the customer someone will follow up."""
    reason = state.get("handoff_reason") or "customer_asked"
    handoff_to_staff.invoke({"reason": reason, "note": _text_of(state)[:200], "caller": context_of(runtime).caller})
    return reply(state, wording.handoff(reason, _business(runtime)), handoff_reason=reason, no_progress=0)


def handoff(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Wait for staff: the thread is interrupted with the reason until resumed (`Command(resume=...)`).

    Nothing before `interrupt()` has side effects, since the node runs again from the top on resume.
    """
    reason = state.get("handoff_reason") or "customer_asked"
    interrupt({"reason": reason, "thread_id": context_of(runtime).thread_id})
    updates: dict[str, Any] = {"handoff_reason": None, "no_progress": 0}
    if state.get("pending") in ("confirm", "manage_confirm"):
        # A "yes" after staff talked to the customer may answer them, not our old summary: show it again first.
        updates["pending"] = None
    if reason == "large_party":
        # Staff arrange big parties themselves; the agent must not carry the size into a booking.
        slots = {k: v for k, v in _slots(state).items() if not k.startswith("party")}
        updates.update(slots=slots, flow=None, pending=None)
    return updates


# --- booking: availability, price, intake, confirmation -----------------------------------------


def check_date_and_time(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Check the date (and time, and ZIP when known) with check_availability; explain a date out
    of the window, map an off-slot time to the nearest offered ones, offer alternatives to a taken slot."""
    ctx = context_of(runtime)
    business = ctx.container.business
    slots = _slots(state)
    result = check_availability.invoke(
        {"date": slots["date"], "zip_code": slots.get("zip"), "time": slots.get("time"), "caller": ctx.caller}
    )
    if not result["ok"]:
        return _availability_problem(state, result, slots, business)
    if result.get("time_offered") is False:
        options = [{"date": slots["date"], "slot": slot} for slot in result.get("nearest_times", [])]
        asked = slots.pop("time")
        text = wording.off_slot(asked, options)
        return reply(state, text, greet=business, slots=slots, alternatives=options, pending="choice")
    if result.get("available") is False:
        options = result.get("alternatives", [])
        text = wording.slot_taken(slots["date"], slots["time"], options)
        return reply(state, text, greet=business, alternatives=options, pending="choice")
    if "free_times" in result and not result["free_times"]:
        slots.pop("date")
        return reply(state, wording.day_full(result["date"]), greet=business, slots=slots, pending="date")
    return {"checked": availability_key(slots), "alternatives": []}


def _availability_problem(
    state: State, result: Mapping[str, Any], slots: dict[str, Any], business: Business
) -> dict[str, Any]:
    error = result["error"]
    if error["field"] == "date":
        asked = slots.pop("date")
        if "earliest" not in result:
            text = wording.field_problem("date", error["message"])
        else:
            text = wording.date_out_of_window(asked, result, business)
        return reply(state, text, greet=business, slots=slots, pending="date")
    if error["field"] == "time":
        slots.pop("time", None)
        return reply(state, wording.ask("time", slots, business, "web"), slots=slots, pending="time")
    # The ZIP: outside the area or not a ZIP at all.
    zip_code = slots.pop("zip", None)
    slots.pop("address", None)
    if error["code"] == "outside_service_area":
        text = wording.outside_area(zip_code, business)
    else:
        text = wording.field_problem("zip", error["message"])
    return reply(state, text, greet=business, slots=slots, pending="address")


def price_party(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Quote the party with quote_price whenever the party, ZIP or upgrades change."""
    ctx = context_of(runtime)
    business = ctx.container.business
    slots = _slots(state)
    key = quote_key(slots)
    result = quote_price.invoke(
        {
            "adults": key["adults"],
            "kids": key["kids"],
            "zip_code": key["zip"],
            "upgrades": key["upgrades"],
            "caller": ctx.caller,
        }
    )
    if result["ok"]:
        return {"quote": {**result, "for": key}}
    error = result["error"]
    field = error.get("field") or ""
    if field == "party" and key["adults"] + key["kids"] > business.party.max_guests:
        return {"handoff_reason": "large_party"}
    if field.startswith("party"):
        for name in ("party_total", "party_adults", "party_kids"):
            slots.pop(name, None)
        return reply(state, wording.field_problem("party", error["message"]), slots=slots, pending="party")
    if field == "zip" or error["code"] == "outside_service_area":
        return _availability_problem(state, result, slots, business)
    if field.startswith("upgrades"):
        slots.pop("upgrades", None)
        return reply(state, wording.field_problem("upgrades", error["message"]), slots=slots, pending="upgrades")
    return reply(state, wording.field_problem(field, error["message"]))


def ask_next(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Intake: ask for the next missing piece (one or two at a time), never something already known."""
    ctx = context_of(runtime)
    business = ctx.container.business
    slots = _slots(state)
    options = state.get("alternatives") or []
    if state.get("pending") == "choice" and options and not state.get("changed"):
        return reply(state, wording.choose_again(options))
    missing = missing_field(slots, ctx.channel)
    if missing is None:  # routing sends a complete booking to the summary; be safe anyway
        missing = "date_time"
    question = wording.ask(missing, slots, business, ctx.channel)
    return reply(state, question, greet=business, pending=missing)


def confirm(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """The summary with the total and deposit exactly as quote_price returned them; asks for a yes."""
    quote = state.get("quote") or {}
    return reply(state, wording.summary(_slots(state), quote, context_of(runtime).channel), pending="confirm")


def decline(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """A "no" to the summary books nothing; a second "no" drops the booking."""
    if state.get("pending") == "change":
        return reply(state, wording.dropped(), pending=None, flow=None)
    return reply(state, wording.declined(), pending="change")


def book(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Create the booking the customer just confirmed.

    The idempotency key is the thread plus the number of booking attempts already finished, both
    from the checkpointed state: a replay of this node (a retry, a crash before the checkpoint,
    time travel) sends the same key and gets the first booking back instead of a second one.
    """
    ctx = context_of(runtime)
    slots = _slots(state)
    attempt = state.get("attempt", 0)
    result = create_booking.invoke(
        {
            "date": slots["date"],
            "time": slots["time"],
            "address": slots["address"],
            "zip_code": slots.get("zip"),
            "adults": slots["party_adults"],
            "kids": slots["party_kids"],
            "upgrades": slots.get("upgrades") or {},
            "first_name": slots["first_name"],
            "last_name": slots["last_name"],
            "email": slots.get("email"),
            "phone": slots.get("phone"),
            "consent_sms": bool(slots.get("consent_sms")),
            "caller": ctx.caller,
            "consent_evidence": state.get("consent_evidence"),
            "idempotency_key": f"agent:{ctx.thread_id}:create-booking:{attempt}",
        }
    )
    if result["ok"]:
        identity = {name: slots[name] for name in IDENTITY if name in slots}
        return {
            "booking": result,
            "attempt": attempt + 1,
            "slots": identity,
            "flow": None,
            "pending": None,
            "checked": None,
            "quote": None,
            "alternatives": [],
        }
    error = result["error"]
    if error["code"] == "slot_unavailable":
        options = result.get("alternatives", [])
        text = wording.slot_taken(slots["date"], slots["time"], options)
        return reply(state, text, attempt=attempt + 1, alternatives=options, pending="choice", checked=None)
    if error["code"] == "busy":
        return reply(state, "Sorry, that took too long on our side. Shall I try booking it again? (yes/no)")
    field = (error.get("field") or "").split(".")[-1]
    asks: dict[str, PendingQuestion] = {
        "first_name": "name",
        "last_name": "name",
        "email": "email",
        "phone": "phone",
        "date": "date",
        "slot": "time",
        "address": "address",
        "zip": "address",
    }
    slots.pop("time" if field == "slot" else field, None)
    pending = asks.get(field)
    return reply(
        state, wording.field_problem(field, error["message"]), slots=slots, attempt=attempt + 1, pending=pending
    )


def send_payment_link(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Tell the customer they are booked, with the reference, total and the deposit link."""
    booking = state.get("booking") or {}
    link = create_payment_link.invoke({"reference": booking["reference"], "caller": context_of(runtime).caller})
    shown = link if link.get("ok") else None
    return reply(state, wording.booked(booking, shown), payment_link=shown)


# --- manage an existing booking ------------------------------------------------------------------


def manage(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Reschedule or cancel an existing booking: find it (SMS: by the sender's phone; web: email plus
    reference), gather and check the new date and time, then ask for a yes before acting."""
    ctx = context_of(runtime)
    business = ctx.container.business
    heard = _heard(state)
    slots = _slots(state)
    plan = dict(state.get("manage") or {"action": "reschedule"})
    action = plan["action"]
    pending = state.get("pending")

    if pending == "manage_confirm" and heard.confirm is False and not state.get("changed"):
        return reply(state, wording.kept(), flow=None, manage=None, pending=None)

    if not plan.get("booking"):
        if plan.get("candidates"):
            return reply(state, wording.which_booking(plan["candidates"]), manage=plan, pending="which")
        reference, email = slots.get("reference"), slots.get("email")
        if ctx.channel == "web" and not (reference and email):
            text = wording.ask_reference(action, have_email=bool(email), have_reference=bool(reference))
            return reply(state, text, manage=plan, pending="reference")
        if plan.get("looked_for") == [reference, email] and pending == "reference":
            return reply(state, wording.no_booking_found(ctx.channel), manage=plan)  # nothing new to look up
        plan["looked_for"] = [reference, email]
        found = find_bookings.invoke({"reference": reference, "email": email, "caller": ctx.caller})
        if not found["ok"] or not found["bookings"]:
            return _booking_not_found(state, plan, ctx.channel)
        bookings = found["bookings"]
        plan["customer_id"] = found["customer_id"]
        chosen = pick_booking("", heard.slots, bookings) if len(bookings) > 1 else dict(bookings[0])
        if chosen is None:
            plan["candidates"] = bookings
            return reply(state, wording.which_booking(bookings), manage=plan, pending="which")
        plan["booking"] = chosen
        if action == "reschedule" and heard.slots.date == chosen["date"] and heard.slots.time is None:
            plan.pop("date", None)  # the date named the booking, not the new date
    booking = plan["booking"]
    for name in plan.pop("keep", []):
        plan.setdefault(name, booking[name])

    if action == "cancel":
        today = _today(runtime)
        days_left = (Date.fromisoformat(booking["date"]) - today).days
        refundable = days_left >= business.cancellation.refund_min_days_before
        text = wording.confirm_cancel(booking, refundable, business)
        return reply(state, text, manage=plan, pending="manage_confirm")

    if booking.get("reschedule_count", 0) >= business.cancellation.free_reschedules:
        return {"manage": plan, "handoff_reason": "change_needs_staff"}
    if not plan.get("date") or not plan.get("slot"):
        return reply(state, _ask_new_time(plan, booking, business), manage=plan, pending="manage_date")
    result = check_availability.invoke(
        {"date": plan["date"], "zip_code": booking["zip"], "time": plan["slot"], "caller": ctx.caller}
    )
    if not result["ok"]:
        error = result["error"]
        asked = plan.pop("date")
        if error["field"] == "date" and "earliest" in result:
            text = wording.date_out_of_window(asked, result, business)
        else:
            text = wording.field_problem(error["field"], error["message"])
        return reply(state, text, manage=plan, pending="manage_date")
    if result.get("time_offered") is False:
        options = [{"date": plan["date"], "slot": slot} for slot in result.get("nearest_times", [])]
        asked = plan.pop("slot")
        return reply(
            state, wording.off_slot(asked, options), manage=plan, alternatives=options, pending="manage_choice"
        )
    if result.get("available") is False:
        options = result.get("alternatives", [])
        text = wording.slot_taken(plan["date"], plan["slot"], options)
        return reply(state, text, manage=plan, alternatives=options, pending="manage_choice")
    text = wording.confirm_reschedule(booking, plan["date"], plan["slot"])
    return reply(state, text, manage=plan, alternatives=[], pending="manage_confirm")


def _ask_new_time(plan: Mapping[str, Any], booking: Mapping[str, Any], business: Business) -> str:
    if plan.get("date") and not plan.get("slot"):
        return wording.ask("time", {"date": plan["date"]}, business, "web")
    if plan.get("slot") and not plan.get("date"):
        return wording.ask("date", {"time": plan["slot"]}, business, "web")
    return wording.ask_new_time(booking, business)


def _booking_not_found(state: State, plan: dict[str, Any], channel: str) -> dict[str, Any]:
    plan["lookups"] = plan.get("lookups", 0) + 1
    if plan["lookups"] >= 2:
        return {"manage": plan, "handoff_reason": "booking_not_found"}
    return reply(state, wording.no_booking_found(channel), manage=plan, pending="reference")


def change_booking(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """After the customer's yes: reschedule or cancel through the tools (idempotent like `book`)."""
    ctx = context_of(runtime)
    plan = dict(state.get("manage") or {})
    booking = plan["booking"]
    attempt = state.get("attempt", 0)
    common = {
        "reference": booking["reference"],
        "caller": ctx.caller,
        "customer_id": plan["customer_id"],
        "idempotency_key": f"agent:{ctx.thread_id}:{plan['action']}-booking:{attempt}",
    }
    if plan["action"] == "cancel":
        result = cancel_booking.invoke(common)
    else:
        result = reschedule_booking.invoke({**common, "date": plan["date"], "time": plan["slot"]})
    if result["ok"]:
        text = wording.cancelled(result) if plan["action"] == "cancel" else wording.rescheduled(result)
        return reply(state, text, attempt=attempt + 1, flow=None, manage=None, pending=None, alternatives=[])
    error = result["error"]
    if error["code"] == "slot_unavailable":
        options = result.get("alternatives", [])
        text = wording.slot_taken(plan["date"], plan["slot"], options)
        return reply(state, text, attempt=attempt + 1, manage=plan, alternatives=options, pending="manage_choice")
    if error.get("field") == "date":
        plan.pop("date", None)
        text = wording.field_problem("date", error["message"])
        return reply(state, text, attempt=attempt + 1, manage=plan, pending="manage_date")
    return {"attempt": attempt + 1, "manage": plan, "handoff_reason": "change_needs_staff"}


# Names used by the builder and the routers, in one place.
NODES = {
    "understand": understand,
    "opt_out": opt_out,
    "opt_in": opt_in,
    "help": answer_help,
    "faq": answer_faq,
    "wrap_up": wrap_up,
    "escalate": escalate,
    "handoff": handoff,
    "availability": check_date_and_time,
    "pricing": price_party,
    "intake": ask_next,
    "confirm": confirm,
    "decline": decline,
    "book": book,
    "payment_link": send_payment_link,
    "manage": manage,
    "change_booking": change_booking,
}
