"""domain.availability with hand-built chef schedules and the demo business's calendar:
slots 12:00/15:00/18:00/21:00, 120 min events, 60 min travel buffer, 2 events a chef a day,
bookable from today + 2 to today + 180 days (America/Los_Angeles).
Demo chefs: Kenji Sato (A, B, C), Maria Lopez (A, B), Tony Nguyen (A, B, C).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from domain.availability import (
    ChefSchedule,
    alternatives,
    check_lead_time,
    check_party,
    chef_is_free,
    days_to_lock,
    free_chefs,
    local_today,
    open_slots,
    parse_slot,
)
from domain.business import Business, CalendarRules
from domain.errors import Alternative, DomainError
from domain.pricing import Party
from hibachi.business_file import load_business

BUSINESS: Business = load_business()
RULES: CalendarRules = BUSINESS.calendar
TODAY = date(2026, 12, 1)
DAY = date(2026, 12, 10)


def at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm))


def chef(name: str, ordinal: int, zones: str, *events: datetime) -> ChefSchedule:
    return ChefSchedule(chef_id=name, ordinal=ordinal, zones=frozenset(zones), events=tuple(events))


def demo_chefs(
    kenji: tuple[datetime, ...] = (), maria: tuple[datetime, ...] = (), tony: tuple[datetime, ...] = ()
) -> list[ChefSchedule]:
    return [
        chef("kenji", 0, "ABC", *kenji),
        chef("maria", 1, "AB", *maria),
        chef("tony", 2, "ABC", *tony),
    ]


def test_demo_calendar_numbers() -> None:
    assert RULES.slots == (time(12), time(15), time(18), time(21))
    assert (RULES.event_minutes, RULES.travel_buffer_minutes) == (120, 60)
    assert RULES.chef_max_events_per_day == 2
    assert (RULES.min_days_ahead, RULES.max_days_ahead) == (2, 180)


# --- one chef, back to back ----------------------------------------------------------------------


@pytest.mark.parametrize(("booked", "wanted"), [("15:00", "18:00"), ("18:00", "15:00"), ("12:00", "15:00")])
def test_adjacent_slots_are_bookable_back_to_back(booked: str, wanted: str) -> None:
    # 3 h apart = 120 min event + 60 min travel: exactly enough
    kenji = chef("kenji", 0, "A", at(DAY, booked))
    assert chef_is_free(RULES, kenji, "A", DAY, time.fromisoformat(wanted))


def test_same_slot_is_not_bookable_twice() -> None:
    kenji = chef("kenji", 0, "A", at(DAY, "18:00"))
    assert not chef_is_free(RULES, kenji, "A", DAY, time(18))


@pytest.mark.parametrize("buffer", [61, 90, 120])
def test_adjacent_slots_clash_with_a_longer_travel_buffer(buffer: int) -> None:
    rules = replace(RULES, travel_buffer_minutes=buffer)
    kenji = chef("kenji", 0, "A", at(DAY, "15:00"))
    assert not chef_is_free(rules, kenji, "A", DAY, time(18))
    assert not chef_is_free(rules, kenji, "A", DAY, time(12))
    # two slots apart (6 h) is still fine
    assert chef_is_free(rules, kenji, "A", DAY, time(21))


def test_off_grid_event_blocks_both_neighbouring_slots() -> None:
    # an event at 16:30 is only 1.5 h from both 15:00 and 18:00
    kenji = chef("kenji", 0, "A", at(DAY, "16:30"))
    assert not chef_is_free(RULES, kenji, "A", DAY, time(15))
    assert not chef_is_free(RULES, kenji, "A", DAY, time(18))
    assert chef_is_free(RULES, kenji, "A", DAY, time(12))
    assert chef_is_free(RULES, kenji, "A", DAY, time(21))


def test_an_event_late_the_previous_evening_clashes_after_midnight() -> None:
    rules = replace(RULES, slots=(time(1), time(12), time(23)))
    kenji = chef("kenji", 0, "A", at(DAY - timedelta(days=1), "23:00"))
    assert not chef_is_free(rules, kenji, "A", DAY, time(1))
    assert chef_is_free(rules, kenji, "A", DAY, time(12))


def test_chef_at_the_daily_maximum_is_not_free() -> None:
    kenji = chef("kenji", 0, "A", at(DAY, "12:00"), at(DAY, "18:00"))
    # 21:00 is 3 h after 18:00, so only the daily cap stops it
    assert not chef_is_free(RULES, kenji, "A", DAY, time(21))
    # the cap is per day: the next day is open
    assert chef_is_free(RULES, kenji, "A", DAY + timedelta(days=1), time(12))


def test_chef_below_the_raised_daily_maximum_is_free() -> None:
    rules = replace(RULES, chef_max_events_per_day=3)
    kenji = chef("kenji", 0, "A", at(DAY, "12:00"), at(DAY, "18:00"))
    assert chef_is_free(rules, kenji, "A", DAY, time(21))


def test_chef_not_serving_the_zone_is_not_free() -> None:
    maria = chef("maria", 1, "AB")
    assert chef_is_free(RULES, maria, "B", DAY, time(18))
    assert not chef_is_free(RULES, maria, "C", DAY, time(18))


# --- free_chefs ordering -------------------------------------------------------------------------


def test_free_chefs_fewest_events_that_day_first_then_ordinal() -> None:
    chefs = demo_chefs(
        kenji=(at(DAY, "12:00"),),
        # events on other days do not count towards the day's load
        tony=(at(DAY - timedelta(days=1), "18:00"), at(DAY + timedelta(days=1), "12:00")),
    )
    order = [c.chef_id for c in free_chefs(RULES, chefs, "A", DAY, time(18))]
    assert order == ["maria", "tony", "kenji"]


def test_free_chefs_sorts_by_ordinal_not_input_order() -> None:
    chefs = list(reversed(demo_chefs()))
    order = [c.chef_id for c in free_chefs(RULES, chefs, "B", DAY, time(18))]
    assert order == ["kenji", "maria", "tony"]


def test_free_chefs_leaves_out_busy_and_out_of_zone_chefs() -> None:
    chefs = demo_chefs(kenji=(at(DAY, "18:00"),))
    # zone C: maria does not serve it, kenji is cooking at 18:00
    assert [c.chef_id for c in free_chefs(RULES, chefs, "C", DAY, time(18))] == ["tony"]


def test_open_slots_counts_free_chefs_per_slot() -> None:
    chefs = demo_chefs(kenji=(at(DAY, "18:00"),), tony=(at(DAY, "12:00"), at(DAY, "18:00")))
    # zone C: tony is full; kenji has one event at 18:00
    assert open_slots(RULES, chefs, "C", DAY) == {time(12): 1, time(15): 1, time(18): 0, time(21): 1}


# --- lead time and today -------------------------------------------------------------------------


def test_lead_time_bounds() -> None:
    check_lead_time(RULES, TODAY, date(2026, 12, 3))  # today + 2
    check_lead_time(RULES, TODAY, date(2027, 5, 30))  # today + 180


@pytest.mark.parametrize(
    ("day", "mentions"),
    [
        (date(2026, 12, 2), "2026-12-03"),  # today + 1: the earliest is named
        (TODAY, "2026-12-03"),
        (date(2026, 11, 30), "2026-12-03"),
        (date(2027, 5, 31), "2027-05-30"),  # today + 181: the latest is named
    ],
)
def test_lead_time_out_of_bounds(day: date, mentions: str) -> None:
    with pytest.raises(DomainError) as info:
        check_lead_time(RULES, TODAY, day)
    assert info.value.field == "date"
    assert mentions in info.value.message


def test_local_today_uses_the_business_timezone() -> None:
    late_evening = datetime.fromisoformat("2026-12-01T23:30:00-08:00")
    as_utc = late_evening.astimezone(UTC)
    assert as_utc.date() == date(2026, 12, 2)
    assert local_today(as_utc, BUSINESS.timezone) == date(2026, 12, 1)
    assert local_today(late_evening, BUSINESS.timezone) == date(2026, 12, 1)
    # a minute past local midnight is the next day
    assert local_today(datetime.fromisoformat("2026-12-02T08:01:00+00:00"), BUSINESS.timezone) == date(2026, 12, 2)


def test_local_today_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError):
        local_today(datetime(2026, 12, 1, 12, 0), BUSINESS.timezone)


# --- slots ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "slot"), [("18:00", time(18)), (" 12:00 ", time(12)), ("21:00", time(21))])
def test_parse_slot_accepts_offered_times(text: str, slot: time) -> None:
    assert parse_slot(RULES, text) == slot


def test_parse_slot_refuses_an_off_grid_time() -> None:
    with pytest.raises(DomainError) as info:
        parse_slot(RULES, "19:00")
    assert info.value.field == "slot"
    assert "19:00" in info.value.message
    assert "12:00, 15:00, 18:00, 21:00" in info.value.message


@pytest.mark.parametrize("text", ["7pm", "", "25:00", "18h"])
def test_parse_slot_refuses_malformed_text(text: str) -> None:
    with pytest.raises(DomainError) as info:
        parse_slot(RULES, text)
    assert info.value.field == "slot"


def test_parse_slot_uses_the_given_field_name() -> None:
    with pytest.raises(DomainError) as info:
        parse_slot(RULES, "7pm", field="booking.slot")
    assert info.value.field == "booking.slot"


# --- party ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("adults", "kids"), [(1, 0), (0, 1), (60, 0), (40, 20)])
def test_check_party_accepts_within_bounds(adults: int, kids: int) -> None:
    check_party(BUSINESS.party, Party(adults, kids))


@pytest.mark.parametrize(("adults", "kids"), [(61, 0), (50, 11), (0, 0)])
def test_check_party_refuses_out_of_bounds(adults: int, kids: int) -> None:
    with pytest.raises(DomainError) as info:
        check_party(BUSINESS.party, Party(adults, kids))
    assert info.value.field == "party"


def test_check_party_large_party_message_mentions_staff() -> None:
    with pytest.raises(DomainError) as info:
        check_party(BUSINESS.party, Party(61, 0))
    assert "60" in info.value.message


@pytest.mark.parametrize(("adults", "kids", "field"), [(-1, 5, "party.adults"), (5, -1, "party.kids")])
def test_check_party_refuses_negative_counts(adults: int, kids: int, field: str) -> None:
    with pytest.raises(DomainError) as info:
        check_party(BUSINESS.party, Party(adults, kids))
    assert info.value.field == field


# --- alternatives --------------------------------------------------------------------------------


def block_zone_c_at_18(*days: date) -> list[ChefSchedule]:
    """Kenji and Tony (the zone C chefs) both cooking at 18:00 on each day; Maria is free but only
    serves A and B."""
    events = tuple(at(day, "18:00") for day in days)
    return demo_chefs(kenji=events, tony=events)


def test_alternatives_same_day_slots_first_then_nearest_dates() -> None:
    chefs = block_zone_c_at_18(DAY)
    found = alternatives(BUSINESS, chefs, "C", TODAY, DAY, time(18))
    assert found == [
        # the same day's other slots, in slot order, not the requested one
        Alternative("2026-12-10", "12:00"),
        Alternative("2026-12-10", "15:00"),
        Alternative("2026-12-10", "21:00"),
        # then dates with 18:00 free: distance 1 both sides (earlier first), then distance 2's earlier;
        # capped at 3 dates
        Alternative("2026-12-09", "18:00"),
        Alternative("2026-12-11", "18:00"),
        Alternative("2026-12-08", "18:00"),
    ]


def test_alternatives_same_day_only_slots_with_a_free_chef() -> None:
    # a 90 min buffer makes 3 h neighbours clash; kenji is full, tony is cooking at 18:00
    business = replace(BUSINESS, calendar=replace(RULES, travel_buffer_minutes=90))
    chefs = demo_chefs(kenji=(at(DAY, "12:00"), at(DAY, "18:00")), tony=(at(DAY, "18:00"),))
    found = alternatives(business, chefs, "C", TODAY, DAY, time(18))
    same_day = [a for a in found if a.date == DAY.isoformat()]
    assert same_day == [Alternative("2026-12-10", "12:00")]
    assert found[1:] == [
        Alternative("2026-12-09", "18:00"),
        Alternative("2026-12-11", "18:00"),
        Alternative("2026-12-08", "18:00"),
    ]


def test_alternatives_nearest_date_wins_over_earlier_date() -> None:
    # 18:00 also taken on Dec 6; Dec 4 (distance 1) comes before Dec 3 (distance 2), and
    # Dec 3 before Dec 7 (same distance, earlier first)
    day = date(2026, 12, 5)
    chefs = block_zone_c_at_18(day, date(2026, 12, 6))
    found = alternatives(BUSINESS, chefs, "C", TODAY, day, time(18))
    dates = [a for a in found if a.slot == "18:00"]
    assert dates == [
        Alternative("2026-12-04", "18:00"),
        Alternative("2026-12-03", "18:00"),
        Alternative("2026-12-07", "18:00"),
    ]


def test_alternatives_never_before_the_earliest_bookable_date() -> None:
    # today Dec 1, earliest Dec 3. Dec 2 and Dec 1 are free but too soon.
    day = date(2026, 12, 4)
    chefs = block_zone_c_at_18(day, date(2026, 12, 5), date(2026, 12, 6))
    found = alternatives(BUSINESS, chefs, "C", TODAY, day, time(18))
    dates = [a.date for a in found if a.slot == "18:00"]
    assert dates == ["2026-12-03", "2026-12-07", "2026-12-08"]


def test_alternatives_never_after_the_latest_bookable_date() -> None:
    latest = TODAY + timedelta(days=RULES.max_days_ahead)
    chefs = block_zone_c_at_18(latest)
    found = alternatives(BUSINESS, chefs, "C", TODAY, latest, time(18))
    dates = [a.date for a in found if a.slot == "18:00"]
    assert dates == [(latest - timedelta(days=n)).isoformat() for n in (1, 2, 3)]


def test_alternatives_respect_the_zone() -> None:
    # kenji and tony (zone C) are both full on DAY; maria is free all day but does not serve C,
    # so no same-day slot may be offered for zone C
    chefs = demo_chefs(
        kenji=(at(DAY, "12:00"), at(DAY, "18:00")),
        tony=(at(DAY, "15:00"), at(DAY, "18:00")),
    )
    found = alternatives(BUSINESS, chefs, "C", TODAY, DAY, time(18))
    assert all(a.date != DAY.isoformat() for a in found)
    assert len(found) == 3


def test_alternatives_empty_when_nothing_is_free_nearby() -> None:
    days = [DAY + timedelta(days=n) for n in range(-14, 15)]
    events = tuple(at(day, hhmm) for day in days for hhmm in ("12:00", "18:00"))
    chefs = demo_chefs(kenji=events, maria=events, tony=events)
    assert alternatives(BUSINESS, chefs, "A", TODAY, DAY, time(18)) == []


# --- days_to_lock --------------------------------------------------------------------------------


@pytest.mark.parametrize("slot", [time(12), time(15), time(18)])
def test_days_to_lock_is_the_day_alone_when_within_the_day(slot: time) -> None:
    assert days_to_lock(RULES, DAY, slot) == [DAY]


def test_days_to_lock_adds_the_next_day_past_midnight() -> None:
    rules = replace(RULES, slots=(time(12), time(23)))
    # 23:00 + 2 h event + 1 h buffer = 02:00 the next day
    assert days_to_lock(rules, DAY, time(23)) == [DAY, DAY + timedelta(days=1)]
    assert days_to_lock(rules, DAY, time(12)) == [DAY]


def test_days_to_lock_adds_the_previous_day_early_in_the_morning() -> None:
    rules = replace(RULES, slots=(time(1), time(12)))
    # an event at 23:00 the day before would end its buffer at 02:00, after a 01:00 start
    assert days_to_lock(rules, DAY, time(1)) == [DAY - timedelta(days=1), DAY]


def test_days_to_lock_stays_on_the_day_when_the_buffer_ends_at_midnight() -> None:
    # 21:00 + 120 min event + 60 min buffer ends at 00:00 sharp: nothing on the next day can clash.
    assert days_to_lock(RULES, DAY, time(21)) == [DAY]
