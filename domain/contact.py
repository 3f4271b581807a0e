"""Normalising contact details, so the same person is found however they typed them."""

from __future__ import annotations

import re

from domain.errors import DomainError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def normalize_email(value: str, *, field: str = "email") -> str:
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise DomainError("is not a valid email address", field=field)
    return email


def normalize_phone(value: str, *, field: str = "phone") -> str:
    """E.164. Bare 10-digit numbers are taken as US/Canada (+1), the business's market."""
    raw = value.strip()
    digits = re.sub(r"[^0-9]", "", raw)  # ASCII digits only: \D would keep "９" or "٣"
    if raw.startswith("+"):
        e164 = "+" + digits
    elif len(digits) == 10:
        e164 = "+1" + digits
    elif len(digits) == 11 and digits.startswith("1"):
        e164 = "+" + digits
    else:
        raise DomainError("is not a valid phone number", field=field)
    if not 8 <= len(e164) <= 16 or e164[1] == "0":
        raise DomainError("is not a valid phone number", field=field)
    if e164.startswith("+1") and len(e164) != 12:
        raise DomainError("is not a valid phone number", field=field)
    return e164
