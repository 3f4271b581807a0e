"""Reply templates: what the agent says, from what the conversation knows.

Warm, short and SMS-friendly. Every dollar amount comes from a tool result (a quote, a booking, a
payment link) or from the business file, formatted by `domain.money.format_usd`; nothing here does
arithmetic on money.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.business import Business
from domain.money import format_usd

from .understanding.numbers import TENS, UNITS

UPGRADE_NAMES = {
    "filet_mignon": "filet mignon",
    "lobster_tail": "lobster tail",
    "extra_protein": "extra protein",
    "yakisoba_noodles": "yakisoba noodles",
}

# --- small formatters ------------------------------------------------------------------------------


def day_text(iso: str) -> str:
    """`2026-12-12` -> `Saturday, December 12`."""
    day = date.fromisoformat(iso)
    return f"{day:%A}, {day:%B} {day.day}"


def short_day(iso: str) -> str:
    """`2026-12-12` -> `Sat Dec 12`."""
    day = date.fromisoformat(iso)
    return f"{day:%a} {day:%b} {day.day}"


def time_text(hhmm: str) -> str:
    """`18:00` -> `6pm`, `12:00` -> `12pm`, `15:30` -> `3:30pm`."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    suffix = "am" if hour < 12 else "pm"
    shown = hour % 12 or 12
    return f"{shown}{suffix}" if minute == 0 else f"{shown}:{minute:02d}{suffix}"


def phone_text(e164: str) -> str:
    """`+19165550123` -> `(916) 555-0123`; other numbers as given."""
    if e164.startswith("+1") and len(e164) == 12:
        digits = e164[2:]
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return e164


def upgrade_name(code: str) -> str:
    return UPGRADE_NAMES.get(code, code.replace("_", " "))


def upgrades_text(upgrades: Mapping[str, int] | None) -> str:
    if not upgrades:
        return "none"
    return ", ".join(f"{count} × {upgrade_name(code)}" for code, count in upgrades.items())


def party_text(adults: int | None, kids: int | None, total: int | None) -> str:
    if adults is not None and kids is not None:
        guests = adults + kids
        if kids == 0:
            return f"{guests} guests (all adults)"
        return f"{guests} guests ({adults} adults, {kids} {'kid' if kids == 1 else 'kids'})"
    return f"{total} guests"


def _join_or(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _join_and(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def offered_times(business: Business) -> str:
    return _join_or([time_text(slot.strftime("%H:%M")) for slot in business.calendar.slots])


# --- questions (intake) ----------------------------------------------------------------------------


def greeting(business: Business) -> str:
    return f"Hi! Thanks for reaching out to {business.name}."


def ask(missing: str, slots: Mapping[str, Any], business: Business, channel: str) -> str:
    """The question for the next missing piece of the booking."""
    if missing == "date_time":
        return f"What date would you like your hibachi party, and what time? We start at {offered_times(business)}."
    if missing == "date":
        when = f" at {time_text(slots['time'])}" if slots.get("time") else ""
        return f"What date would you like the party{when}?"
    if missing == "time":
        return f"What time works on {day_text(slots['date'])}? We start at {offered_times(business)}."
    if missing == "party":
        return "How many guests will there be? Let me know how many are kids (12 and under)."
    if missing == "kids":
        if slots.get("party_total"):
            return f"Got it, {slots['party_total']} guests. How many of them are kids 12 and under?"
        if slots.get("party_adults") is not None:
            return f"Got it, {slots['party_adults']} adults. Any kids 12 and under coming too? How many?"
        return f"Got it, {slots['party_kids']} kids. And how many adults?"
    if missing == "address":
        if slots.get("zip"):
            return f"What's the street address for the party (in {slots['zip']})?"
        return "What's the address of the party, with the ZIP code?"
    if missing == "name":
        if slots.get("first_name") and not slots.get("last_name"):
            return f"Thanks {slots['first_name']}! And your last name?"
        return "Who should I put the booking under? (first and last name)"
    if missing == "contact":
        return "What's the best email and phone number to reach you?"
    if missing == "email":
        return "And your email address?"
    if missing == "phone":
        return "And a phone number we can reach you at?"
    if missing == "upgrades":
        return (
            "Would anyone like an upgrade? "
            + upgrade_offer(business)
            + " Tell me how many guests for each, or say no thanks."
        )
    if missing == "consent":
        where = f" at {phone_text(slots['phone'])}" if slots.get("phone") else ""
        return f"Is it OK to text you{where} about this booking (confirmation, reminders)? Yes or no."
    raise ValueError(f"no question for {missing!r}")


def upgrade_offer(business: Business) -> str:
    prices = [f"{upgrade_name(code)} +{format_usd(cents)}" for code, cents in business.pricing.upgrades.items()]
    return "Per guest: " + ", ".join(prices) + "."


# --- availability ---------------------------------------------------------------------------------


def date_out_of_window(asked: str, result: Mapping[str, Any], business: Business) -> str:
    """The asked date is before `earliest` or after `latest` (from check_availability)."""
    rules = business.calendar
    if asked < result["earliest"]:
        return (
            f"We need at least {rules.min_days_ahead} days' notice, so the earliest date we can do is "
            f"{day_text(result['earliest'])}. What date would you like?"
        )
    return (
        f"We book up to {rules.max_days_ahead} days ahead, so the latest date we can do right now is "
        f"{day_text(result['latest'])}. What date would you like?"
    )


def off_slot(asked: str, options: Sequence[Mapping[str, str]]) -> str:
    times = [time_text(option["slot"]) for option in options]
    if not times:
        return f"Sorry, we don't start parties at {time_text(asked)}. What other time would work?"
    if len(times) == 1:
        return f"Our parties don't start at {time_text(asked)}; the closest start time is {times[0]}. Does that work?"
    return (
        f"Our parties don't start at {time_text(asked)}; the closest times are {_join_or(times)}. Which works better?"
    )


def slot_taken(day: str, slot: str, options: Sequence[Mapping[str, str]]) -> str:
    head = f"Sorry, {day_text(day)} at {time_text(slot)} is already booked."
    if not options:
        return head + " What other date or time would work for you?"
    return head + " I can do:\n" + numbered(options) + "\nWhich works? (reply with the number)"


def day_full(day: str) -> str:
    return f"Sorry, we're fully booked on {day_text(day)}. What other date would work?"


def numbered(options: Sequence[Mapping[str, str]]) -> str:
    return "\n".join(
        f"{index}) {short_day(option['date'])} at {time_text(option['slot'])}"
        for index, option in enumerate(options, 1)
    )


def choose_again(options: Sequence[Mapping[str, str]]) -> str:
    return "Which of these works for you?\n" + numbered(options) + "\nOr tell me another date and time."


def outside_area(zip_code: str | None, business: Business) -> str:
    areas = _join_and([zone.name for zone in business.zones])
    where = f"{zip_code} is" if zip_code else "That address is"
    return (
        f"Sorry, {where} outside our service area. We cook in {areas}. "
        "Is there another address in those areas we could use?"
    )


def field_problem(field: str | None, message: str) -> str:
    what = (field or "that").split(".")[-1].replace("_", " ")
    return f"Hmm, the {what} didn't work ({message}). Could you send it again?"


# --- email typos -----------------------------------------------------------------------------------

COMMON_EMAIL_DOMAINS = (
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com", "comcast.net",
    "live.com", "msn.com", "me.com", "sbcglobal.net", "att.net", "protonmail.com",
)  # fmt: skip
# Real providers a slip away from a common one: never "corrected".
REAL_LOOKALIKE_DOMAINS = frozenset(
    {"mail.com", "ymail.com", "email.com", "gmx.com", "gmx.net", "aim.com", "mac.com", "att.com", "hey.com", "live.ca",
     "yahoo.ca", "hotmail.ca", "outlook.ca", "icloud.ca"}
)  # fmt: skip


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def email_suggestion(email: str | None) -> str | None:
    """`dana@gmial.com` -> `dana@gmail.com`: the address with a common provider's domain when its
    domain is one slip away from it (two for long domains); None when it looks fine."""
    if not email or "@" not in email:
        return None
    local, domain = email.rsplit("@", 1)
    domain = domain.lower()
    if domain in COMMON_EMAIL_DOMAINS or domain in REAL_LOOKALIKE_DOMAINS:
        return None
    for known in COMMON_EMAIL_DOMAINS:
        limit = 2 if len(known) >= 9 else 1
        if _edits(domain, known) <= limit:
            return f"{local}@{known}"
    return None


# --- confirmation and booking ---------------------------------------------------------------------


def summary(slots: Mapping[str, Any], quote: Mapping[str, Any], channel: str) -> str:
    """The booking as it will be made, with the total and deposit exactly as quote_price returned them."""
    lines = [
        "Here's your party:",
        f"• {day_text(slots['date'])} at {time_text(slots['time'])}",
        f"• {party_text(slots.get('party_adults'), slots.get('party_kids'), slots.get('party_total'))}",
        f"• {slots['address']}",
    ]
    if slots.get("upgrades"):
        lines.append(f"• Upgrades: {upgrades_text(slots['upgrades'])}")
    who = [f"{slots.get('first_name', '')} {slots.get('last_name', '')}".strip()]
    if slots.get("email"):
        who.append(slots["email"])
    if slots.get("phone"):
        who.append(phone_text(slots["phone"]))
    lines.append("• " + ", ".join(part for part in who if part))
    likely = email_suggestion(slots.get("email"))
    if likely:
        lines.append(f"(Just checking: did you mean {likely}? If so, send me the right email.)")
    lines.append(
        f"Total {quote['total_due']}, with a {quote['deposit_due']} deposit due now to hold the date "
        "(it counts toward the total)."
    )
    lines.append("Shall I book it? (yes/no)")
    return "\n".join(lines)


def declined() -> str:
    return "No problem, nothing is booked. What would you like to change?"


def dropped() -> str:
    return "Okay! Nothing is booked. If you'd like to pick it up again, just message me."


def booked(booking: Mapping[str, Any], link: Mapping[str, Any] | None) -> str:
    lines = [
        f"You're booked! 🎉 Reference {booking['reference']}: {day_text(booking['date'])} at "
        f"{time_text(booking['slot'])}, {party_text(booking['party']['adults'], booking['party']['kids'], None)}.",
        f"Total {booking['total_due']}.",
    ]
    if link is not None:
        lines.append(f"Pay the {link['deposit_due']} deposit here to hold your date: {link['url']}")
    else:
        lines.append(f"We'll send a link to pay the {booking['deposit_due']} deposit shortly.")
    return "\n".join(lines)


def journey_text(template: str, booking: Any, first_name: str, business: Business) -> str:
    """The texts journeys send (automation/journeys.py SMS_TEMPLATES); `booking` is its row (None
    for a conversation's journey: the quote follow-up)."""
    hi = f"Hi {first_name}, " if first_name else "Hi, "
    if booking is None:
        if template != "quote_follow_up":
            raise ValueError(f"{template} is about a booking")
        return (
            f"{hi}{business.name} here, following up on your hibachi quote. Want us to hold a date? Reply with"
            " the day and time and we'll check the chefs' calendars. Reply STOP to opt out."
        )
    if template == "quote_follow_up":
        raise ValueError("quote_follow_up is for a conversation without a booking")
    day, time = day_text(booking.event_date.isoformat()), time_text(booking.slot.strftime("%H:%M"))
    deposit = format_usd(booking.deposit_due_cents)
    balance = format_usd(max(booking.total_due_cents - booking.deposit_paid_cents, 0))
    chef = business.chef_name(str(booking.chef_id))
    texts = {
        "deposit_reminder": f"{hi}{business.name} here: the {deposit} deposit holds {day} for your party"
        f" ({booking.reference}). Pay from the secure link we sent, or reply LINK and we'll send it again.",
        "deposit_last_call": f"{hi}last call on the {deposit} deposit for {day} ({booking.reference}): without it"
        " we release the date tomorrow. Reply if you need a hand.",
        "menu_and_allergies": f"{hi}your party is on {day} at {time}! Reply with everyone's protein choices and"
        f" any allergies so {chef} can prepare.",
        "chef_arrival": f"{hi}{chef} arrives about 30 minutes before {time} tomorrow to set up. Please have a"
        " flat outdoor space ready.",
        "thank_you": f"{hi}thank you for having {business.name}! If you enjoyed it, a short review would mean a"
        " lot to us. Reply anytime to book again.",
        "balance_reminder": f"{hi}a reminder: the balance of {balance} for {day} is due on the day.",
    }
    return texts[template]


def deposit_link_text(reference: str, url: str) -> str:
    """The text that (re)sends a booking's deposit link."""
    return f"Your deposit link for {reference}: {url} (a secure page; we never take card numbers by text)"


def after_booking() -> str:
    return "You're all set! If you need anything else, just message me."


def paused() -> str:
    return "No problem! I've noted what you told me, so just message me when you're ready to pick up where we left off."


def idle() -> str:
    return "Anytime! Message me whenever you'd like to book a party."


# --- FAQ, help, keywords --------------------------------------------------------------------------


def policy_answer(topic: str, business: Business) -> str | None:
    text = business.policies.get(topic)
    return " ".join(text.split()) if text else None


def prices(business: Business) -> str:
    """Prices from the business file."""
    book = business.pricing
    fees = []
    for zone in business.zones:
        fee = "free" if zone.travel_fee_cents == 0 else format_usd(zone.travel_fee_cents)
        fees.append(f"{zone.name} {fee}")
    text = (
        f"It's {format_usd(book.adult_cents)} per adult and {format_usd(book.kid_cents)} per kid (12 and under), "
        f"with a {format_usd(book.minimum_cents)} food minimum. Travel: {', '.join(fees)}. "
        f"A {format_usd(book.deposit_cents)} deposit holds the date and counts toward the total."
    )
    return text


def your_price(quote: Mapping[str, Any]) -> str:
    """A price question once the party is quoted: the customer's own numbers."""
    party = quote.get("party") or {}
    who = "your party"
    if party.get("adults") is not None and party.get("kids") is not None:
        who = party_text(party["adults"], party["kids"], None)
    applied = quote.get("minimum_applied") and quote.get("minimum_cents")
    minimum = format_usd(quote["minimum_cents"]) if applied else None
    fee = format_usd(quote["travel_fee_cents"]) if quote.get("travel_fee_cents") else None
    if minimum and fee:
        including = f" (the {minimum} food minimum, plus a {fee} travel fee)"
    elif minimum:
        including = f" (the {minimum} food minimum)"
    elif fee:
        including = f" (including a {fee} travel fee)"
    else:
        including = ""
    return (
        f"For {who} the total is {quote['total_due']}{including}, and the deposit is {quote['deposit_due']} "
        "(it counts toward the total)."
    )


def help_text(business: Business) -> str:
    return (
        f"{business.name}: private hibachi chef parties. Questions? Call {phone_text(business.phone)} "
        f"or email {business.email}. Reply STOP to opt out."
    )


def opted_out(business: Business) -> str:
    return (
        f"You're unsubscribed from {business.name} texts and won't get any more messages. Reply START to resubscribe."
    )


def opted_in(business: Business) -> str:
    return f"You're resubscribed to {business.name} texts. Reply HELP for help, STOP to opt out."


def no_cards_by_text(business: Business) -> str:
    """Said when a message held a card number (it was removed before we stored it)."""
    return (
        f"For your security, {business.name} never takes card numbers by text or chat, so we removed it "
        "and did not keep it. The secure payment link we send is the only way to pay."
    )


def web_stop() -> str:
    return "Okay, I'll stop here. Message me anytime if you'd like to book a party."


def invite() -> str:
    return "Would you like to book a party? Tell me the date, time and how many guests."


# --- handoff ---------------------------------------------------------------------------------------

HANDOFF = {
    "customer_asked": "Of course! I've asked someone from our team to take over; they'll follow up with you shortly.",
    "complaint": (
        "I'm really sorry to hear that. I've passed this to our team and someone will follow up with you shortly."
    ),
    "unanswered_question": (
        "Good question. I don't want to guess, so I've asked our team; someone will follow up with you shortly."
    ),
    "no_progress": (
        "Sorry, I'm not getting this right. I've asked someone from our team to help; they'll follow up shortly."
    ),
    "change_needs_staff": (
        "That change needs one of our team. I've passed it along and someone will follow up with you shortly."
    ),
    "booking_not_found": (
        "I couldn't find that booking. I've asked our team to look into it; someone will follow up shortly."
    ),
}


def handoff(reason: str, business: Business) -> str:
    if reason == "large_party":
        return (
            f"Wonderful, a big party! Groups over {business.party.max_guests} guests are planned with our team "
            "directly, so I've passed your details along and someone will follow up with you shortly."
        )
    return HANDOFF.get(reason, HANDOFF["customer_asked"])


# --- manage (reschedule / cancel) -----------------------------------------------------------------


def booking_line(booking: Mapping[str, Any]) -> str:
    return f"{booking['reference']} on {day_text(booking['date'])} at {time_text(booking['slot'])}"


def ask_reference(action: str, *, have_email: bool = False, have_reference: bool = False) -> str:
    if have_email:
        return "Thanks! And your booking reference (like MH-7Q3K9)?"
    if have_reference:
        return "Thanks! And the email you booked with?"
    verb = "change" if action == "reschedule" else "cancel"
    return (
        f"Happy to help you {verb} your booking. What's the email you booked with and your booking "
        "reference (like MH-7Q3K9)?"
    )


def no_booking_found(channel: str) -> str:
    if channel == "sms":
        return "I couldn't find an upcoming booking for this number. What's your booking reference (like MH-7Q3K9)?"
    return (
        "I couldn't find an upcoming booking with that email and reference. Could you check them and send both again?"
    )


def which_booking(bookings: Sequence[Mapping[str, Any]]) -> str:
    lines = ["Which booking is it?"]
    lines += [f"{index}) {booking_line(booking)}" for index, booking in enumerate(bookings, 1)]
    return "\n".join(lines)


def ask_new_time(booking: Mapping[str, Any], business: Business) -> str:
    return (
        f"Sure! Your party is {booking_line(booking)}. What date and time would you like instead? "
        f"We start at {offered_times(business)}."
    )


def confirm_reschedule(booking: Mapping[str, Any], day: str, slot: str) -> str:
    return (
        f"Move your party {booking['reference']} from {day_text(booking['date'])} at {time_text(booking['slot'])} "
        f"to {day_text(day)} at {time_text(slot)}? (yes/no)"
    )


def rescheduled(result: Mapping[str, Any]) -> str:
    return (
        f"Done! Your party {result['reference']} is now on {day_text(result['date'])} at {time_text(result['slot'])}."
    )


def confirm_cancel(booking: Mapping[str, Any], refundable: bool, business: Business) -> str:
    paid = int(booking.get("deposit_paid_cents") or 0)
    days = business.cancellation.refund_min_days_before
    if paid and refundable:
        money = f" Your {format_usd(paid)} deposit will be refunded since it's {days}+ days away."
    elif paid:
        money = f" Since it's less than {days} days away, the {format_usd(paid)} deposit is kept per our policy."
    else:
        money = ""
    return f"Cancel your party {booking_line(booking)}?{money} (yes/no)"


def cancelled(result: Mapping[str, Any]) -> str:
    refund = int(result.get("refund_cents") or 0)
    money = f" Your {format_usd(refund)} deposit will be refunded." if refund else ""
    return f"Your party {result['reference']} is cancelled.{money} We hope to cook for you another time!"


def kept() -> str:
    return "Okay, I've left your booking as it is. Anything else I can help with?"


# --- grounding: a phrased reply states only numbers it was given ----------------------------------

_WORD_VALUES = {w: n for w, n in UNITS.items() if w != "one"} | TENS | {"hundred": 100, "dozen": 12}
_TENS_ALT = "|".join(TENS)
_UNITS_ALT = "|".join(sorted((w for w, n in UNITS.items() if 1 <= n <= 9), key=len, reverse=True))
# One scan, most specific first; each kind of token is compared as its own kind ("$45" is not "45").
_FACT = re.compile(
    r"(?P<url>https?://[^\s<>\"')]+)"
    r"|(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|\$\s?(?P<money>\d[\d,]*(?:\.\d+)?)"
    r"|(?<![\w:])(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s?(?P<half>am|pm|a\.m\.|p\.m\.)(?!\w)"
    r"|(?<![\w/-])(?P<code>(?=[a-z0-9]*[a-z])(?=[a-z0-9-]*\d)[a-z0-9]+(?:-[a-z0-9]+)+|\d+(?:[/-]\d+)+)(?![\w/-])"
    r"|(?<![\w.,])(?P<number>\d[\d,]*(?:\.\d+)?)(?:st|nd|rd|th)?(?![\d\w])"
    rf"|\b(?P<words>(?:{_TENS_ALT})(?:[\s-]+(?:{_UNITS_ALT}))?|"
    + "|".join(sorted(_WORD_VALUES, key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def _number_key(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else str(value.normalize())


def number_facts(text: str) -> set[tuple[str, str]]:
    """The numbers a text states, as (kind, canonical value): money `$1,200.00` -> ("money", "1200.00"),
    times `6 pm` -> ("time", "6:00pm"), codes and links (a booking reference, a date like 12/26, a
    phone's 555-0123, a URL) verbatim, plain numbers and number words ("fifteen") by value."""
    found: set[tuple[str, str]] = set()
    for match in _FACT.finditer(text):
        if match.group("url"):
            found.add(("code", match.group("url").rstrip(".,;:!?").lower()))
        elif match.group("email"):
            found.add(("code", match.group("email").rstrip(".").lower()))
        elif match.group("money"):
            amount = _decimal(match.group("money").rstrip(".,"))
            if amount is not None:
                found.add(("money", str(amount.quantize(Decimal("0.01")))))
        elif match.group("hour"):
            half = match.group("half").lower().replace(".", "")
            found.add(("time", f"{int(match.group('hour'))}:{match.group('minute') or '00'}{half}"))
        elif match.group("code"):
            found.add(("code", match.group("code").lower()))
        elif match.group("number"):
            value = _decimal(match.group("number"))
            if value is not None:
                found.add(("number", _number_key(value)))
        elif match.group("words"):
            parts = re.split(r"[\s-]+", match.group("words").lower())
            found.add(("number", str(sum(_WORD_VALUES.get(part, UNITS.get(part, 0)) for part in parts))))
    return found


def numbers_are_grounded(reply: str, allowed: set[str]) -> bool:
    """Every dollar amount, number, time, reference and link in `reply` appears in one of the
    `allowed` texts (the template reply, tool results, business-file facts). A model that rephrases
    a reply may reorder and reword; it may not state a number it was not given."""
    given: set[tuple[str, str]] = set()
    for text in allowed:
        given |= number_facts(text)
    numbers_given = {value for kind, value in given if kind == "number"}
    for kind, value in number_facts(reply):
        if (kind, value) in given:
            continue
        if kind == "number" and value in numbers_given:
            continue
        return False
    return True


def keeps_key_facts(template: str, reply: str) -> bool:
    """The reply still states every dollar amount, time, reference, date and link of the template,
    so a rephrasing cannot drop the total or the payment link."""
    needed = {fact for fact in number_facts(template) if fact[0] != "number"}
    return needed <= number_facts(reply)


def fact_texts(facts: Iterable[object]) -> set[str]:
    """Strings of tool results and business facts, flattened (dicts and lists to their values)."""
    out: set[str] = set()
    stack: list[object] = list(facts)
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif item is not None:
            out.add(str(item))
    return out
