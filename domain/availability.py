"""Which chef can cook where and when.

Rules (from the business file's `calendar` and `party`):
- only the offered slot start times; an event keeps the chef on site `event_minutes`;
- a chef needs `travel_buffer_minutes` between one event's end and the next one's start (and before
  the first / after the last): we read "busy for the event plus the travel buffer on both sides" as
  one travel leg between two events, which is what makes the 3-hour slot grid (2 h event + 1 h
  travel) bookable back to back;
- at most `chef_max_events_per_day` events a chef a local day; only chefs serving the zone;
- dates from today + `min_days_ahead` to today + `max_days_ahead`, today in the business's timezone;
- a chef's own busy time (their Google calendar) counts like an event: a slot is not theirs when a
  busy interval overlaps the event plus the travel buffer on both sides (they must get there and back).

All times here are the business's local wall-clock time; the caller converts the clock.
Chef assignment is deterministic: the free chef with the fewest events that day, then the one
listed first in the business file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.business import Business, CalendarRules, PartyRules
from domain.errors import Alternative, DomainError
from domain.pricing import Party

ALTERNATIVE_DATES = 3
ALTERNATIVE_SEARCH_DAYS = 14


@dataclass(frozen=True)
class ChefSchedule:
    chef_id: str
    ordinal: int
    zones: frozenset[str]
    events: tuple[datetime, ...]  # local start times of the chef's active events
    busy: tuple[tuple[datetime, datetime], ...] = ()  # local (start, end) of their own busy time

    def events_on(self, day: date) -> int:
        return sum(1 for start in self.events if start.date() == day)


def local_today(now: datetime, timezone: str) -> date:
    if now.tzinfo is None:
        raise ValueError("the clock must give an aware datetime")
    return now.astimezone(ZoneInfo(timezone)).date()


def parse_slot(rules: CalendarRules, value: str, *, field: str = "slot") -> time:
    try:
        slot = time.fromisoformat(value.strip())
    except ValueError:
        raise DomainError("must be a time like 18:00", field=field) from None
    if slot not in rules.slots:
        offered = ", ".join(s.strftime("%H:%M") for s in rules.slots)
        raise DomainError(f"{slot.strftime('%H:%M')} is not an offered start time; offered: {offered}", field=field)
    return slot


def check_lead_time(rules: CalendarRules, today: date, day: date, *, field: str = "date") -> None:
    earliest = today + timedelta(days=rules.min_days_ahead)
    latest = today + timedelta(days=rules.max_days_ahead)
    if day < earliest:
        raise DomainError(
            f"must be at least {rules.min_days_ahead} days ahead; the earliest date is {earliest.isoformat()}",
            field=field,
        )
    if day > latest:
        raise DomainError(
            f"can be at most {rules.max_days_ahead} days ahead; the latest date is {latest.isoformat()}",
            field=field,
        )


def check_party(rules: PartyRules, party: Party) -> None:
    if party.adults < 0:
        raise DomainError("must be 0 or more", field="party.adults")
    if party.kids < 0:
        raise DomainError("must be 0 or more", field="party.kids")
    if party.guests < rules.min_guests:
        raise DomainError(f"a party needs at least {rules.min_guests} guest(s)", field="party")
    if party.guests > rules.max_guests:
        raise DomainError(f"parties over {rules.max_guests} guests are arranged with our staff directly", field="party")


def _clashes(rules: CalendarRules, start: datetime, other: datetime) -> bool:
    # Two events clash unless one ends a full travel buffer before the other starts.
    gap = timedelta(minutes=rules.event_minutes + rules.travel_buffer_minutes)
    return abs(start - other) < gap


def _busy_over(rules: CalendarRules, start: datetime, busy: tuple[datetime, datetime]) -> bool:
    buffer = timedelta(minutes=rules.travel_buffer_minutes)
    end = start + timedelta(minutes=rules.event_minutes)
    return busy[0] < end + buffer and busy[1] > start - buffer


def chef_is_free(rules: CalendarRules, chef: ChefSchedule, zone_id: str, day: date, slot: time) -> bool:
    if zone_id not in chef.zones:
        return False
    if chef.events_on(day) >= rules.chef_max_events_per_day:
        return False
    start = datetime.combine(day, slot)
    if any(_busy_over(rules, start, busy) for busy in chef.busy):
        return False
    return not any(_clashes(rules, start, other) for other in chef.events)


def free_chefs(
    rules: CalendarRules, chefs: Iterable[ChefSchedule], zone_id: str, day: date, slot: time
) -> list[ChefSchedule]:
    """Chefs who can take this event, best first (the first is the one assigned)."""
    free = [chef for chef in chefs if chef_is_free(rules, chef, zone_id, day, slot)]
    return sorted(free, key=lambda chef: (chef.events_on(day), chef.ordinal))


def open_slots(rules: CalendarRules, chefs: Sequence[ChefSchedule], zone_id: str, day: date) -> dict[time, int]:
    """For each offered slot of the day, how many chefs could take it."""
    return {slot: len(free_chefs(rules, chefs, zone_id, day, slot)) for slot in rules.slots}


def alternatives(
    business: Business,
    chefs: Sequence[ChefSchedule],
    zone_id: str,
    today: date,
    day: date,
    slot: time,
) -> list[Alternative]:
    """The same day's other free slots, then the nearest dates (either side) with the same slot free.

    `chefs` must carry the events of `day` +/- ALTERNATIVE_SEARCH_DAYS.
    """
    rules = business.calendar
    found = [
        Alternative(day.isoformat(), other.strftime("%H:%M"))
        for other in rules.slots
        if other != slot and free_chefs(rules, chefs, zone_id, day, other)
    ]
    earliest = today + timedelta(days=rules.min_days_ahead)
    latest = today + timedelta(days=rules.max_days_ahead)
    dates: list[Alternative] = []
    for distance in range(1, ALTERNATIVE_SEARCH_DAYS + 1):
        for candidate in (day - timedelta(days=distance), day + timedelta(days=distance)):
            if earliest <= candidate <= latest and free_chefs(rules, chefs, zone_id, candidate, slot):
                dates.append(Alternative(candidate.isoformat(), slot.strftime("%H:%M")))
        if len(dates) >= ALTERNATIVE_DATES:
            break
    return found + dates[:ALTERNATIVE_DATES]


def days_to_lock(rules: CalendarRules, day: date, slot: time) -> list[date]:
    """The local days whose events could clash with one at (day, slot): usually just `day`, plus a
    neighbour when the event and its travel buffer reach past midnight."""
    gap = timedelta(minutes=rules.event_minutes + rules.travel_buffer_minutes)
    start = datetime.combine(day, slot)
    # Clashes are strict (< gap), so an event whose buffer ends exactly at midnight touches no other day.
    return sorted({(start - gap).date(), day, (start + gap - timedelta(microseconds=1)).date()})
