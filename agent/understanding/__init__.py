"""The offline, deterministic `rules` understanding engine: one customer message to an intent and the
slots it states.

Extraction runs in a fixed order on a working copy of the message; each step masks what it read, so
a number is used once: contact details (email, reference, phone), prices, street address and ZIP,
dates, times, upgrade counts, and only then party sizes. Time comes only from ctx.now (in
ctx.timezone); nothing here reads the wall clock or the network.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from agent.schema import Context, Slots, Understanding

from .contact import find_email, find_name, find_name_parts, find_phone, find_place, find_reference, fix_email_domain
from .dates import bare_day, find_dates, pick_date
from .intents import consent, intent, sms_keyword, yes_no
from .merge import merge, reconcile_party
from .party import Party, find_party
from .text import Work
from .times import find_times, pick_time
from .upgrades import EVERYONE, find_upgrades

__all__ = ["merge", "reconcile_party", "understand"]

MAX_CHARS = 4000  # a longer message is read up to here (keeps the worst case in milliseconds)

_MONEY = re.compile(
    r"\$\s*\d[\d,]*(?:\.\d+)?k?|(?<![\w.])\d[\d,]*(?:\.\d+)?\s*(?:dollars|bucks|usd)\b|(?<![\w.])\d+(?:\.\d+)?\s*%"
)
_NO_UPGRADES = re.compile(
    r"\b(?:no\s+upgrades?|no\s+extras|without\s+(?:any\s+)?upgrades|skip\s+(?:the\s+)?upgrades|nothing\s+extra|"
    r"just\s+the\s+(?:standard|regular|basic)\s*(?:menu|package|meal)?)\b"
)
_NO_ANSWER = re.compile(
    r"^\W*(?:no|nope|nah|none|nothing|i'?m\s+good|we'?re\s+good)"
    r"(?:\W*(?:thanks?|thx|thnx|tks|ty|thank\s+you|thanks\s+though|pls|please))?\W*$"
)


# Words that name a booking already made: "reschedule my booking", "move my other party".
_EXISTING_BOOKING = re.compile(
    r"\b(?:reschedul\w*|postpon\w*|(?:my|our)\s+(?:booking|reservation|other|existing|current)|existing|"
    r"already\s+booked|reference|mh-\w+)\b"
)


def _corrects_booking_in_progress(text: str, ctx: Context, stated: Slots) -> bool:
    """A "move it to January 16th" while a booking is being made (its date known, no reference) corrects
    that booking's date or time; it does not reschedule one that exists."""
    if ctx.known.date is None or ctx.known.reference is not None:
        return False
    if stated.date is None and stated.time is None:
        return False
    return _EXISTING_BOOKING.search(text.lower()) is None


_ALSO = re.compile(r"\b(?:also|too|plus|as\s+well|in\s+addition|additional|extra|on\s+top)\b|\+")
_SUBSET = re.compile(r"\bof\s+(?:them|us|those|whom)\b")


def _kids_on_top(text: str, party: Party, ctx: Context) -> bool:
    """Kids said as "there will also be 3 kids" once the adults are known: kids besides the adults, not among them."""
    if party.kids is None or party.adults is not None or party.total is not None or not party.kids:
        return False
    if ctx.known.party_adults is None:
        return False
    low = text.lower()
    return _ALSO.search(low) is not None and _SUBSET.search(low) is None


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def understand(text: str, ctx: Context) -> Understanding:
    """Intent and slots of one customer message, read in the context of what the agent asked."""
    keyword = sms_keyword(text)
    if keyword is not None:
        return Understanding(sms_keyword=keyword)

    zone = _zone(ctx.timezone)
    now = ctx.now if ctx.now.tzinfo is not None else ctx.now.replace(tzinfo=zone)  # naive: already local
    today = now.astimezone(zone).date()
    pending = ctx.pending
    work = Work(text[:MAX_CHARS])
    slots: dict[str, Any] = {}

    slots["email"] = find_email(work) or fix_email_domain(work, ctx.known.email)
    slots["reference"] = find_reference(work, expected=pending == "reference")
    slots["phone"] = find_phone(work)
    for match in _MONEY.finditer(work.low):
        work.mask(match.start(), match.end())
    place = find_place(work, address_expected=pending == "address")
    slots["address"], slots["zip"] = place.address, place.zip

    dates = find_dates(work, today)
    slots["date"] = pick_date(work, dates)
    if slots["date"] is None and pending == "date":
        slots["date"] = bare_day(work, today)
    if slots["date"] is not None:
        slots["date"] = slots["date"].isoformat()

    # Upgrades before times: in "make it 2 lobster tails" the 2 counts tails, it is not 2pm.
    upgrades = find_upgrades(work, ctx.upgrade_codes)
    times = find_times(work, bare_ok=pending == "time", weak_ok=pending != "party")
    slots["time"] = pick_time(work, times)

    party = find_party(work, bare_ok=pending == "party")
    if _kids_on_top(work.orig, party, ctx):
        party.adults = ctx.known.party_adults
        party.total = (party.adults or 0) + (party.kids or 0)
    slots["party_total"], slots["party_adults"], slots["party_kids"] = party.total, party.adults, party.kids
    if upgrades:
        everyone = party.total if party.total is not None else ctx.known.party_total
        resolved: dict[str, int] = {}
        for code, count in upgrades.items():
            if count != EVERYONE:
                resolved[code] = count
            elif everyone is not None:
                resolved[code] = everyone
        upgrades = resolved or None
    if not upgrades and (_NO_UPGRADES.search(work.low) or (pending == "upgrades" and _NO_ANSWER.match(work.low))):
        upgrades = {}
    slots["upgrades"] = upgrades

    parts = find_name_parts(work)
    name = find_name(work, expected=pending == "name")
    if name is not None:
        slots["first_name"], slots["last_name"] = name
    slots.update(parts)

    slots["consent_sms"] = consent(work.orig, asked=pending == "consent")
    confirm = yes_no(work.orig)
    result = Slots(**{k: v for k, v in slots.items() if v is not None})

    stated = any(v is not None for v in result.model_dump().values())
    kind, topic = intent(work.orig, has_booking_slots=stated, topics=ctx.policy_topics)
    if kind == "reschedule" and _corrects_booking_in_progress(work.orig, ctx, result):
        kind = "book"
    if kind == "other" and confirm is not None:
        return Understanding(intent=None, slots=result, confirm=confirm)
    return Understanding(intent=kind, slots=result, confirm=confirm, topic=topic)
