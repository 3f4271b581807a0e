"""Builders for commands and request bodies, so each test states only what it is about."""

from __future__ import annotations

import datetime as dt
from typing import Any

from domain.commands import BookingRequest, CreateBooking, CustomerDetails


def create_booking_cmd(
    *,
    day: str = "2026-12-12",
    slot: str = "18:00",
    email: str | None = "dana.lee@example.com",
    phone: str | None = "+19165550123",
    first_name: str = "Dana",
    last_name: str = "Lee",
    zip_code: str = "95816",
    adults: int = 12,
    kids: int = 3,
    upgrades: dict[str, int] | None = None,
    consent_sms: bool = False,
    source: str = "web",
    address: str = "2400 J St, Sacramento, CA 95816",
) -> CreateBooking:
    return CreateBooking(
        source=source,
        customer=CustomerDetails(first_name, last_name, email, phone, consent_sms),
        booking=BookingRequest(
            date=dt.date.fromisoformat(day),
            slot=slot,
            address=address,
            zip=zip_code,
            adults=adults,
            kids=kids,
            upgrades=upgrades or {},
        ),
    )


def create_booking_body(
    *,
    day: str = "2026-12-12",
    slot: str = "18:00",
    email: str = "dana.lee@example.com",
    phone: str = "+19165550123",
    adults: int = 12,
    kids: int = 3,
    upgrades: dict[str, int] | None = None,
    address: str = "2400 J St, Sacramento, CA 95816",
) -> dict[str, Any]:
    return {
        "source": "web",
        "customer": {"first_name": "Dana", "last_name": "Lee", "email": email, "phone": phone, "consent_sms": True},
        "booking": {
            "date": day,
            "slot": slot,
            "address": address,
            "party": {"adults": adults, "kids": kids},
            "upgrades": upgrades or {"lobster_tail": 4},
        },
    }
