"""check_availability: the booking window, the offered start times and which chefs are free."""

from __future__ import annotations

from datetime import date as Date
from datetime import time as Time
from datetime import timedelta
from typing import Annotated, Any

from langchain_core.tools import InjectedToolArg, tool

from domain import availability
from domain.business import CalendarRules
from domain.errors import DomainError, OutsideServiceArea
from hibachi.bootstrap import Container

from .caller import Caller
from .results import EXPECTED_ERRORS, failed, from_error


def nearest_slots(rules: CalendarRules, wanted: Time) -> list[Time]:
    """The offered start times either side of a time we do not offer (19:00 -> 18:00 and 21:00)."""
    before = [slot for slot in rules.slots if slot < wanted]
    after = [slot for slot in rules.slots if slot > wanted]
    return ([before[-1]] if before else []) + ([after[0]] if after else [])


def _hhmm(value: Time) -> str:
    return value.strftime("%H:%M")


@tool(parse_docstring=True)
def check_availability(
    date: str,
    zip_code: str | None = None,
    time: str | None = None,
    *,
    caller: Annotated[Caller, InjectedToolArg],
) -> dict[str, Any]:
    """Check whether a party can happen on a date, and at a start time, before quoting or booking.

    Call it as soon as the customer names a date, and again whenever the date, time or ZIP code
    changes. Read the result; never guess or promise a time yourself:
    - `ok` false, `error.field` "date": the date is too soon or too far ahead; offer a date between
      `earliest` and `latest`.
    - `ok` false, `error.code` "outside_service_area": we do not cook at that ZIP; say so politely and
      name the areas in `areas`.
    - `time_offered` false: parties only start at `offered_times`; offer `nearest_times` and ask which.
    - `available` false: no chef is free then; offer `alternatives` (the same day first, then the nearest
      dates) and let the customer choose. Without a ZIP code this means no chef is free in any area.
    Only `available` true means the customer can be offered that date and time; without a ZIP code
    `available` is absent when the time is open somewhere: check again once the ZIP is known.

    Args:
        date: The event date, YYYY-MM-DD.
        zip_code: The 5-digit ZIP code of the event address, when the customer has given it.
        time: The start time the customer asked for, HH:MM on a 24-hour clock, when given (it may not be one we offer).
    """
    container = caller.container
    business = container.business
    rules = business.calendar
    today = availability.local_today(container.clock.now(), business.timezone)
    window = {
        "earliest": (today + timedelta(days=rules.min_days_ahead)).isoformat(),
        "latest": (today + timedelta(days=rules.max_days_ahead)).isoformat(),
    }
    offered = [_hhmm(slot) for slot in rules.slots]
    try:
        day = Date.fromisoformat(date)
    except ValueError:
        return failed("invalid", "must be a date like 2026-12-12", "date", **window)
    try:
        availability.check_lead_time(rules, today, day)
    except DomainError as error:
        return failed(error.code, error.message, "date", **window)

    result: dict[str, Any] = {"ok": True, "date": day.isoformat(), **window, "offered_times": offered}
    wanted: Time | None = None
    if time is not None:
        try:
            wanted = Time.fromisoformat(time.strip())
        except ValueError:
            return failed("invalid", "must be a time like 18:00", "time", offered_times=offered)
        result["time"] = _hhmm(wanted)
        result["time_offered"] = wanted in rules.slots
        if wanted not in rules.slots:
            result["nearest_times"] = [_hhmm(slot) for slot in nearest_slots(rules, wanted)]
    if zip_code is None:
        return _anywhere(container, day, wanted, result)

    try:
        day_view = container.queries.availability(day, zip_code)
    except OutsideServiceArea as error:
        areas = [zone.name for zone in business.zones]
        return failed(error.code, error.message, "zip", areas=areas)
    except EXPECTED_ERRORS as error:
        return from_error(error)
    free = [row["slot"] for row in day_view["slots"] if row["available"]]
    result.update(zip=day_view["zip"], zone=day_view["zone"]["id"], free_times=free)
    if wanted is None:
        return result
    if not result["time_offered"]:
        result["nearest_times"] = [slot for slot in result["nearest_times"] if slot in free]
        return result
    result["available"] = _hhmm(wanted) in free
    if not result["available"]:
        result["alternatives"] = container.queries.alternatives(day, _hhmm(wanted), zip_code)
    return result


def _anywhere(container: Container, day: Date, wanted: Time | None, result: dict[str, Any]) -> dict[str, Any]:
    """No ZIP yet: a time no chef could take in any zone is full for this customer wherever they
    are, so say so now rather than after the address. `free_times` lists the times some zone has."""
    try:
        day_view = container.queries.availability_anywhere(day)
    except EXPECTED_ERRORS as error:
        return from_error(error)
    free = [row["slot"] for row in day_view["slots"] if row["available"]]
    result["free_times"] = free
    if wanted is None or not result["time_offered"]:
        if wanted is not None:
            result["nearest_times"] = [slot for slot in result["nearest_times"] if slot in free]
        return result
    if _hhmm(wanted) not in free:
        result["available"] = False
        result["alternatives"] = container.queries.alternatives(day, _hhmm(wanted), None)
    return result
