"""Deterministic checks for slot values another engine produced (the `llm` engine's structured output).

Every value comes out in the form the rules engine itself produces (phone E.164, email lower-case,
reference upper-case, date YYYY-MM-DD, time HH:MM, ZIP five digits, upgrade codes from the business
file) or not at all: a model cannot smuggle a malformed value past the schema. A value that does not
normalise is replaced by what the rules engine read from the same message (usually None).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import phonenumbers

from agent.schema import Context, Slots, Understanding

from .contact import NAME_STOP

_EMAIL = re.compile(r"[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
_REFERENCE = re.compile(r"[A-Z]{2}-[A-Z0-9]{5}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"(?P<h>\d{1,2}):(?P<m>\d{2})")
_ZIP = re.compile(r"(?P<zip>\d{5})(?:-\d{4})?")
_NAME = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'. -]{0,59}")
MAX_PARTY = 1000  # anything above is not a party size (the graph hands large parties to staff far below this)
MAX_ADDRESS = 200


def phone(value: str, region: str = "US") -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email(value: str) -> str | None:
    low = value.strip().lower()
    return low if _EMAIL.fullmatch(low) else None


def reference(value: str) -> str | None:
    up = value.strip().upper()
    return up if _REFERENCE.fullmatch(up) else None


def iso_date(value: str) -> str | None:
    text = value.strip()
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def hhmm(value: str) -> str | None:
    match = _TIME.fullmatch(value.strip())
    if not match:
        return None
    hour, minute = int(match.group("h")), int(match.group("m"))
    return f"{hour:02d}:{minute:02d}" if hour < 24 and minute < 60 else None


def zip_code(value: str) -> str | None:
    match = _ZIP.fullmatch(value.strip())
    return match.group("zip") if match else None


def name_part(value: str) -> str | None:
    text = " ".join(value.split())
    if not _NAME.fullmatch(text) or text.lower() in NAME_STOP:
        return None
    return text


def address(value: str) -> str | None:
    text = " ".join(value.split()).strip(" ,;")
    if not text or len(text) > MAX_ADDRESS:
        return None
    # a street number and a street name, as the rules engine requires of a bare answer
    return text if re.search(r"\d", text) and re.search(r"[A-Za-z]{2}", text) else None


def party(value: int) -> int | None:
    return value if 0 <= value <= MAX_PARTY else None


def upgrades(value: dict[str, int], codes: tuple[str, ...]) -> dict[str, int] | None:
    """Only the business file's upgrade codes, with plausible counts; `{}` ("no upgrades") is kept."""
    kept = {code: count for code, count in value.items() if code in codes and 0 <= count <= MAX_PARTY}
    if value and not kept:
        return None
    return kept


_TEXT_CHECKS: dict[str, Any] = {
    "date": iso_date,
    "time": hhmm,
    "first_name": name_part,
    "last_name": name_part,
    "email": email,
    "phone": phone,
    "zip": zip_code,
    "address": address,
    "reference": reference,
}


def normalize_slots(slots: Slots, ctx: Context, fallback: Slots | None = None) -> Slots:
    """`slots` with every value in canonical form; a value that cannot be made canonical takes the
    fallback's value for that slot (the rules engine's reading), else None."""
    spare = fallback or Slots()
    data: dict[str, Any] = {}
    for name, value in slots.model_dump().items():
        if value is None:
            continue
        if name in _TEXT_CHECKS:
            fixed = _TEXT_CHECKS[name](value) if isinstance(value, str) else None
        elif name in ("party_total", "party_adults", "party_kids"):
            fixed = party(value)
        elif name == "upgrades":
            fixed = upgrades(value, ctx.upgrade_codes)
        else:  # consent_sms: a bool, already checked by the schema
            fixed = value
        data[name] = fixed if fixed is not None else getattr(spare, name)
    adults, kids = data.get("party_adults"), data.get("party_kids")
    if adults is not None and kids is not None:
        data["party_total"] = adults + kids  # the breakdown is the more specific statement
    return Slots(**{k: v for k, v in data.items() if v is not None})


def normalize(result: Understanding, ctx: Context, rules: Understanding) -> Understanding:
    """An engine's result made safe: canonical slots, a topic from the business's list, and the
    carrier keyword exactly as the rules engine read it (a lone STOP is never left to a model)."""
    if rules.sms_keyword is not None:
        return rules
    topic = result.topic if result.intent == "policy_question" and result.topic in ctx.policy_topics else None
    return Understanding(
        intent=result.intent,
        slots=normalize_slots(result.slots, ctx, rules.slots),
        confirm=result.confirm,
        topic=topic,
    )
