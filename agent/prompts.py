"""Prompts for the `llm` engine: reading a customer message into `Understanding`, and rephrasing a
template reply. The model's output is checked by code either way (agent.understanding.normalize,
agent.wording.numbers_are_grounded); the prompts only make a good answer likely."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from agent.schema import Context

# What each pending question means, so a bare answer ("12", "yes", "Dana Lee") is read right.
PENDING_MEANING: dict[str, str] = {
    "date": "the date of the party (a bare day like '19' or 'the 20th' is a date)",
    "time": "the start time (a bare number like '6' is an evening or afternoon hour, 6 -> 18:00)",
    "party": "how many guests (a bare number is the party total)",
    "zip": "the ZIP code",
    "address": "the street address of the party",
    "name": "the customer's first and last name (a bare answer is the name)",
    "email": "the customer's email",
    "phone": "the customer's phone number",
    "upgrades": "which upgrades and for how many guests each ('no' means no upgrades: upgrades = {})",
    "consent": "whether we may text them about the booking (yes -> consent_sms true, no -> false)",
    "confirm": "an explicit yes or no to the booking summary or change we showed (set confirm)",
    "reference": "the booking reference, like MH-7Q3K9",
    "choice": "which of the options we offered they pick",
}

UNDERSTANDING_PROMPT = """\
You read one text message from a customer of a private-chef hibachi catering business: a chef comes
to the customer's home and cooks for their party. Customers book a party (date, start time, number of
adults and kids, address), ask prices or policies, change or cancel an existing booking, or ask for a
person. Fill the structured output with only what THIS message states; leave everything else null.

Today is {weekday} {today} and the local time is {clock} ({timezone}). Resolve relative dates
("this Saturday", "tomorrow night", "the 20th", "12/26") to the next such date on or after today and
write them as YYYY-MM-DD. Times are 24h HH:MM ("6pm" -> 18:00, "noon" -> 12:00); a bare party hour
like "6" means 18:00.

Intents: book (wants a party or gives booking details), price_question, policy_question, reschedule
(move an existing booking), cancel_booking (cancel an existing booking), human (asks for a person),
complaint (unhappy, wants a refund), greeting, later (stepping away for now: "I'll get back to you",
"let me think about it", "bye"), other.
Policy topics (use one of these for `topic`, else leave topic null): {topics}.
Upgrade codes (the only keys allowed in `upgrades`, value = number of guests taking it): {upgrades}.
Kids are guests 12 and under. Phone numbers in E.164 (+1 for US numbers), emails lower-case,
booking references upper-case. Set `confirm` only for a plain yes or no answer to our question.
Leave `sms_keyword` null. Never invent a value the message does not state.

{pending}
What we already know (do not repeat it unless the message changes it): {known}
"""

PHRASING_PROMPT = """\
You rewrite a reply that a hibachi catering business sends to a customer by text message, so it
sounds warm and natural. Keep it short. Keep every fact: never add, drop or change a number, a price,
a date, a time, a booking reference, a link, an email or a phone number, and add no new promise or
claim. Keep any numbered list of options as a numbered list. Answer with the rewritten reply only.
"""


def understanding_prompt(ctx: Context) -> str:
    zone = ZoneInfo(ctx.timezone)
    now = ctx.now if ctx.now.tzinfo is not None else ctx.now.replace(tzinfo=zone)
    local = now.astimezone(zone)
    if ctx.pending is not None:
        meaning = PENDING_MEANING.get(ctx.pending, ctx.pending)
        pending = f"We just asked the customer for: {meaning}."
    else:
        pending = "We did not just ask a question."
    known = ctx.known.model_dump(exclude_none=True)
    return UNDERSTANDING_PROMPT.format(
        weekday=f"{local:%A}",
        today=local.date().isoformat(),
        clock=f"{local:%H:%M}",
        timezone=ctx.timezone,
        topics=", ".join(ctx.policy_topics) or "(none)",
        upgrades=", ".join(ctx.upgrade_codes) or "(none)",
        pending=pending,
        known=json.dumps(known, sort_keys=True) if known else "nothing yet",
    )
