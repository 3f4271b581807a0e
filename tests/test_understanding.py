"""The rules understanding engine: one message to intent and slots, and merging slots over turns.

Unless a case says otherwise, "now" is Tuesday 2026-12-01 10:00 in Sacramento (America/Los_Angeles).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from agent.schema import Context, Pending, Slots, Understanding
from agent.understanding import merge, understand
from agent.understanding.intents import carrier_keyword

NOW = datetime.fromisoformat("2026-12-01T10:00:00-08:00")  # a Tuesday


def u(text: str, pending: Pending | None = None, known: Slots | None = None, now: datetime = NOW) -> Understanding:
    return understand(text, Context(now=now, pending=pending, known=known or Slots()))


def stated(text: str, pending: Pending | None = None, known: Slots | None = None) -> dict[str, Any]:
    """Only the slots the message stated."""
    return {k: v for k, v in u(text, pending, known).slots.model_dump().items() if v is not None}


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Saturday December 12th", "2026-12-12"),
        ("can we do saturday, december 12?", "2026-12-12"),
        ("12/19", "2026-12-19"),
        ("how about 12/19/2026", "2026-12-19"),
        ("1/9/27 works", "2027-01-09"),
        ("jan 9", "2027-01-09"),  # no year: the next January 9th
        ("Jan. 9th", "2027-01-09"),
        ("the 20th", "2026-12-20"),
        ("on the 1st", "2026-12-01"),  # the next 1st on or after today: today
        ("the 2nd", "2026-12-02"),
        ("on the 30th", "2026-12-30"),
        ("this Saturday", "2026-12-05"),
        ("saturday", "2026-12-05"),
        ("next friday", "2026-12-11"),  # the Friday of next week
        ("friday next week", "2026-12-11"),
        ("this friday", "2026-12-04"),
        ("Sunday this week", "2026-12-06"),
        ("tomorrow night", "2026-12-02"),
        ("today", "2026-12-01"),
        ("tonight", "2026-12-01"),
        ("the day after tomorrow", "2026-12-03"),
        ("in 2 weeks", "2026-12-15"),
        ("the 5th of this month", "2026-12-05"),
        ("the 10th of next month", "2027-01-10"),
        ("March 8", "2027-03-08"),
        ("8 March", "2027-03-08"),
        ("the 14th of March", "2027-03-14"),
        ("December 1", "2026-12-01"),  # today is "on or after today"
        ("November 30", "2027-11-30"),  # yesterday's date is next year's
        ("2026-12-12", "2026-12-12"),
        ("December twelfth", "2026-12-12"),
        ("on the twentieth", "2026-12-20"),
        ("not the 12th, the 19th please", "2026-12-19"),
        ("can we do the 19th instead of the 12th?", "2026-12-19"),
        ("I'd like the 12th. Actually, make it the 19th", "2026-12-19"),
        ("Feb 29", "2028-02-29"),  # the next one that exists
        ("8 people on May 6th", "2027-05-06"),
    ],
)
def test_dates(text: str, expected: str) -> None:
    assert u(text).slots.date == expected


@pytest.mark.parametrize(
    "text",
    [
        "evening works for us",
        "it's our 10th anniversary",
        "we're on the 2nd floor",
        "is it available 24/7?",
        "the first time we booked you it was great",
        "you may 2x the lobster",
        "next week sometime",
        "this month",
        "13/45",
    ],
)
def test_not_dates(text: str) -> None:
    assert u(text).slots.date is None


def test_today_is_the_business_local_date_not_utc() -> None:
    # 05:30 UTC on Dec 2 is still the evening of Dec 1 in Sacramento
    late = datetime.fromisoformat("2026-12-02T05:30:00+00:00")
    assert u("today", now=late).slots.date == "2026-12-01"
    assert u("tomorrow", now=late).slots.date == "2026-12-02"


def test_dates_follow_ctx_now_never_the_wall_clock() -> None:
    sgd_now = datetime.fromisoformat("2019-03-01T09:00:00-08:00")  # a Friday
    assert u("the 8th of this month", now=sgd_now).slots.date == "2019-03-08"
    assert u("next Wednesday", now=sgd_now).slots.date == "2019-03-06"
    assert u("Wednesday next week", now=sgd_now).slots.date == "2019-03-06"
    assert u("Sunday this week", now=sgd_now).slots.date == "2019-03-03"


def test_bare_day_when_the_date_was_asked() -> None:
    assert u("12", pending="date").slots.date == "2026-12-12"
    assert u("the 12th", pending="date").slots.date == "2026-12-12"
    assert u("12", pending="party").slots.date is None


# --- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6pm", "18:00"),
        ("6 PM", "18:00"),
        ("6 p.m.", "18:00"),
        ("6:45 pm", "18:45"),
        ("at noon", "12:00"),
        ("noon", "12:00"),
        ("around 6", "18:00"),  # a dinner party: a small hour without am/pm is pm
        ("at 5", "17:00"),
        ("at 9", "21:00"),
        ("at 10", "10:00"),  # 10 and 11 are morning ...
        ("at 11", "11:00"),
        ("10 at night", "22:00"),  # ... unless it says night
        ("around 11 tonight", "23:00"),
        ("dinner at 10", "22:00"),
        ("12", None),  # a bare number is not a time unless the time was asked
        ("afternoon 12", "12:00"),
        ("afternoon 1", "13:00"),
        ("7 in the evening", "19:00"),
        ("seven in the evening", "19:00"),
        ("half past 7", "19:30"),
        ("quarter past 5 in the evening", "17:15"),
        ("quarter to 8", "19:45"),
        ("a quarter to 1 in the afternoon", "12:45"),
        ("quarter to 12 in the morning", "11:45"),
        ("18:00", "18:00"),
        ("19:00 hours", "19:00"),
        ("06:30", "06:30"),
        ("7:30", "19:30"),
        ("11:30 am", "11:30"),
        ("12 pm", "12:00"),
        ("12am", "00:00"),
        ("six thirty", "18:30"),
        ("at 6ish", "18:00"),
        ("6 o'clock", "18:00"),
        ('5 o"clock in the evening', "17:00"),
        ("evening 6:15", "18:15"),
        ("this evening 7", "19:00"),
        ("morning 11:15", "11:15"),
        ("from 6 to 9pm", "18:00"),  # a range gives its start
        ("6-9pm", "18:00"),
        ("make it 7 instead of 6", "19:00"),
        ("not 6pm, 7pm", "19:00"),
        ("we need it at 5 pm for 2 hours", "17:00"),
        ("Can you book for 11:30?", "11:30"),
        ("midnight", "00:00"),
    ],
)
def test_times(text: str, expected: str | None) -> None:
    assert u(text).slots.time == expected


@pytest.mark.parametrize(
    "text",
    [
        "evening",
        "in the evening please",
        "tomorrow night",
        "dinner for 6",
        "a table for 2 tonight",
        "party of 8",
        "we are 6 people",
        "around 20 guests",
        "for 2 hours",
        "I need a reservation at 1760",
        "the 4 Star Cafe",
        "I'd like Hisui 2.",
        "our 8th anniversary",
    ],
)
def test_not_times(text: str) -> None:
    assert u(text).slots.time is None


def test_bare_time_when_the_time_was_asked() -> None:
    assert u("6", pending="time").slots.time == "18:00"
    assert u("11", pending="time").slots.time == "11:00"
    assert u("6:30", pending="time").slots.time == "18:30"
    assert u("6", pending="party").slots.time is None


# --- party size ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "total", "adults", "kids"),
    [
        ("12 people", 12, None, None),
        ("twelve people", 12, None, None),
        ("twenty-five guests", 25, None, None),
        ("a dozen people", 12, None, None),
        ("two dozen guests", 24, None, None),
        ("two of us", 2, None, None),
        ("there will be four of us", 4, None, None),
        ("party of 6", 6, None, None),
        ("a party of six", 6, None, None),
        ("table for four", 4, None, None),
        ("reservation for 2 at 7pm", 2, None, None),
        ("for 1 person", 1, None, None),
        ("me and my wife", 2, None, None),
        ("my husband and I", 2, None, None),
        ("just me", 1, None, None),
        ("me and 5 friends", 6, None, None),
        ("we are 12", 12, None, None),
        ("number of people is 14", 14, None, None),
        ("about 20 people", 20, None, None),
        ("20 people, 4 of them kids", 20, 16, 4),
        ("we have 20 people including 4 children", 20, 16, 4),
        ("15 adults and 3 kids", 18, 15, 3),
        ("4 adults, 2 children", 6, 4, 2),
        ("10 people plus 3 kids", 13, 10, 3),
        ("16 adults, no kids", 16, 16, 0),
        ("12 people, all adults", 12, 12, 0),
        ("all adults", None, None, 0),
        ("5 adults", None, 5, None),
        ("3 kids", None, None, 3),
        ("It's my son's 10th birthday, 12 kids and 8 adults", 20, 8, 12),
        ("my daughter is turning 8, party of 14", 14, None, None),
        ("party of 6, my wife and I are hosting", 6, None, None),
        ("reservation for 2 at Milpitas", 2, None, None),
    ],
)
def test_party(text: str, total: int | None, adults: int | None, kids: int | None) -> None:
    slots = u(text).slots
    assert (slots.party_total, slots.party_adults, slots.party_kids) == (total, adults, kids)


@pytest.mark.parametrize(
    "text",
    [
        "I'd like to go to 4 Star Cafe",
        "reserve at P.f. Chang's in San Jose",
        "The restaurant is Hisui 2 in Vacaville",
        "Try My No.1 Sushi",
        "we live at 2400 J St",
        "one of us is vegetarian",
        "3 of us are vegetarian",
        "the 12th",
        "at 6pm",
        "my zip is 95816",
        "the deposit is $100",
        "we need the grill for 2 hours",
        "I'll take the one in San Francisco",
        "you mentioned 2 restaurants",
        "4 lobster tails",
    ],
)
def test_numbers_that_are_not_party_sizes(text: str) -> None:
    slots = u(text).slots
    assert (slots.party_total, slots.party_adults, slots.party_kids) == (None, None, None)


def test_bare_count_when_the_party_was_asked() -> None:
    assert u("12", pending="party").slots.party_total == 12
    assert u("twelve", pending="party").slots.party_total == 12
    assert u("a dozen", pending="party").slots.party_total == 12
    assert u("around 12", pending="party").slots.party_total == 12
    assert u("12", pending="party").slots.time is None
    assert u("12").slots.party_total is None


# --- merging -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("known", "text", "expected"),
    [
        (Slots(party_total=20), "4 of them kids", (20, 16, 4)),
        (Slots(party_total=20), "all adults", (20, 20, 0)),
        (Slots(party_total=20), "no kids", (20, 20, 0)),
        (Slots(party_total=20), "15 adults", (20, 15, 5)),
        (Slots(party_adults=15), "and 3 kids", (18, 15, 3)),
        (Slots(party_total=20, party_adults=16, party_kids=4), "actually 22 people", (22, 18, 4)),
        (Slots(party_total=20, party_adults=16, party_kids=4), "12 adults and 2 kids", (14, 12, 2)),
        (Slots(party_total=4), "6 kids", (None, None, 6)),  # no longer fits: ask again
        (Slots(party_total=10, party_adults=10, party_kids=0), "party of 12", (12, 12, 0)),
        (Slots(party_total=5), "party of 4", (4, None, None)),
    ],
)
def test_merge_keeps_party_consistent(known: Slots, text: str, expected: tuple[int | None, ...]) -> None:
    merged = merge(known, u(text, known=known).slots)
    assert (merged.party_total, merged.party_adults, merged.party_kids) == expected


def test_merge_a_later_value_corrects_an_earlier_one() -> None:
    known = Slots()
    for text in ["party of 5 on the 7th", "dec 12 at 6pm", "Book it for four people at 7 pm"]:
        known = merge(known, u(text, known=known).slots)
    assert (known.date, known.time, known.party_total) == ("2026-12-12", "19:00", 4)


def test_merge_keeps_what_the_new_message_does_not_mention() -> None:
    known = Slots(date="2026-12-12", time="18:00", zip="95816", first_name="Dana", upgrades={"lobster_tail": 4})
    merged = merge(known, u("add noodles for 3").slots)
    assert merged.date == "2026-12-12" and merged.time == "18:00" and merged.zip == "95816"
    assert merged.first_name == "Dana"
    assert merged.upgrades == {"lobster_tail": 4, "yakisoba_noodles": 3}


def test_merge_upgrades_removed_and_cleared() -> None:
    known = Slots(upgrades={"lobster_tail": 4, "filet_mignon": 2})
    assert merge(known, u("no lobster").slots).upgrades == {"filet_mignon": 2}
    assert merge(known, u("no upgrades").slots).upgrades == {}
    assert merge(known, u("no", pending="upgrades").slots).upgrades == {}


# --- address, ZIP --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address", "zip_code"),
    [
        ("2400 J St, Sacramento, CA 95816", "2400 J St, Sacramento, CA 95816", "95816"),
        (
            "I live at 2400 J St, Sacramento, CA 95816 and my email is dana@example.com",
            "2400 J St, Sacramento, CA 95816",
            "95816",
        ),
        ("12345 Main Street, Davis, CA 95616", "12345 Main Street, Davis, CA 95616", "95616"),
        ("the party is at 1234 Oak Ave", "1234 Oak Ave", None),
        ("95816", None, "95816"),
        ("my zip is 95816", None, "95816"),
        ("we're in Sacramento 95818", None, "95818"),
        ("Davis, CA 95616", None, "95616"),
        ("call me at 916-555-0123", None, None),  # digits of a phone number are not a ZIP
        ("my number is 9165550123", None, None),
        ("12345 Main Street", "12345 Main Street", None),  # a street number, not a ZIP
        ("we'll be in San Jose", None, None),
    ],
)
def test_address_and_zip(text: str, address: str | None, zip_code: str | None) -> None:
    slots = u(text).slots
    assert (slots.address, slots.zip) == (address, zip_code)


def test_bare_answers_for_zip_and_address() -> None:
    assert u("95816", pending="zip").slots.zip == "95816"
    assert u("it's 95816", pending="zip").slots.zip == "95816"
    slots = u("500 El Camino, Menlo Park 94025", pending="address").slots
    assert slots.address == "500 El Camino, Menlo Park 94025"
    assert slots.zip == "94025"


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pending", "first", "last"),
    [
        ("my name is Dana Lee", None, "Dana", "Lee"),
        ("My name is dana lee and I want to book", None, "Dana", "Lee"),
        ("I'm Dana", None, "Dana", None),
        ("Hi, I am Dana Lee, can I book a party?", None, "Dana", "Lee"),
        ("this is Dana Lee", None, "Dana", "Lee"),
        ("Hi, this is Maria. Looking to book for next Saturday", None, "Maria", None),
        ("Name: Dana Lee", None, "Dana", "Lee"),
        ("Dana Lee", "name", "Dana", "Lee"),
        ("dana lee", "name", "Dana", "Lee"),
        ("it's Dana Lee", "name", "Dana", "Lee"),
        ("Dana Lee, dana@example.com", "name", "Dana", "Lee"),
        ("Mary-Jane O'Neil", "name", "Mary-Jane", "O'Neil"),
    ],
)
def test_names(text: str, pending: Pending | None, first: str, last: str | None) -> None:
    slots = u(text, pending=pending).slots
    assert (slots.first_name, slots.last_name) == (first, last)


@pytest.mark.parametrize(
    ("text", "pending"),
    [
        ("I'm looking for a hibachi chef", None),
        ("I'm good", None),
        ("I'm good", "name"),
        ("I'm in San Jose", None),
        ("I'm starving! Find me food", None),
        ("I am interested in booking", None),
        ("this is perfect", None),
        ("Lalla in San Jose please", None),
        ("Yes, go for Lalla.", None),
        ("I'm craving Mexico Lindo.", None),
        ("P.f. Chang's in Corte Madera", None),
        ("Dana Lee", None),  # a bare name only when the name was asked
        ("yes", "name"),
        ("12 people", "name"),
    ],
)
def test_not_names(text: str, pending: Pending | None) -> None:
    slots = u(text, pending=pending).slots
    assert (slots.first_name, slots.last_name) == (None, None)


# --- email, phone, reference ---------------------------------------------------------------------


def test_email_is_lower_cased() -> None:
    assert u("it's Dana.Lee@Example.COM").slots.email == "dana.lee@example.com"
    assert u("no email here, just an @ sign").slots.email is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me at 916-555-0123", "+19165550123"),
        ("(916) 555 0123", "+19165550123"),
        ("+1 916 555 0123", "+19165550123"),
        ("my cell is 916.555.0123", "+19165550123"),
        ("9165550123", "+19165550123"),
        ("12 people on 12/19 at 6", None),
        ("95816", None),
    ],
)
def test_phone_e164(text: str, expected: str | None) -> None:
    assert u(text).slots.phone == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my booking is MH-7Q3K9", "MH-7Q3K9"),
        ("mh-7q3k9", "MH-7Q3K9"),
        ("cancel MH-ABCDE please", "MH-ABCDE"),
        ("my reference is mh-abcde", "MH-ABCDE"),
        ("I'll re-enter it", None),
        ("my co-worker and I", None),
    ],
)
def test_reference(text: str, expected: str | None) -> None:
    assert u(text).slots.reference == expected


# --- upgrades ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "known_total", "expected"),
    [
        ("4 lobster tails", None, {"lobster_tail": 4}),
        ("four lobster tails please", None, {"lobster_tail": 4}),
        ("filet for everyone", 20, {"filet_mignon": 20}),
        ("filet mignon for everybody", 12, {"filet_mignon": 12}),
        ("20 people and filet for everyone", None, {"filet_mignon": 20}),
        ("add noodles for 3", None, {"yakisoba_noodles": 3}),
        ("extra protein x2", None, {"extra_protein": 2}),
        ("2x extra protein", None, {"extra_protein": 2}),
        ("two filet mignon and three lobster tails", None, {"filet_mignon": 2, "lobster_tail": 3}),
        ("4 of us want lobster", None, {"lobster_tail": 4}),
        ("everyone wants yakisoba", 15, {"yakisoba_noodles": 15}),
        ("no lobster", None, {"lobster_tail": 0}),
        ("filet for everyone", None, None),  # unknown until the party size is known
        ("I love lobster", None, None),  # a mention without a count is not an order
        ("how much is the lobster upgrade?", None, None),
    ],
)
def test_upgrades(text: str, known_total: int | None, expected: dict[str, int] | None) -> None:
    assert u(text, known=Slots(party_total=known_total)).slots.upgrades == expected


def test_upgrade_counts_are_not_party_sizes() -> None:
    slots = u("20 people, 4 of them want lobster").slots
    assert slots.party_total == 20
    assert slots.upgrades == {"lobster_tail": 4}


def test_upgrade_codes_come_from_the_context() -> None:
    ctx = Context(now=NOW, upgrade_codes=("wagyu_steak",))
    assert understand("3 wagyu steaks", ctx).slots.upgrades == {"wagyu_steak": 3}
    assert understand("4 lobster tails", ctx).slots.upgrades is None


# --- consent, confirmation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pending", "expected"),
    [
        ("yes", "consent", True),
        ("sure", "consent", True),
        ("no", "consent", False),
        ("no thanks", "consent", False),
        ("yes", None, None),  # a plain yes is consent only when consent was asked
        ("you can text me", None, True),
        ("texts are fine", None, True),
        ("text me at 916-555-0123", None, True),
        ("please don't text me", None, False),
        ("no texts please, email only", None, False),
        ("12 people", "consent", None),
    ],
)
def test_consent(text: str, pending: Pending | None, expected: bool | None) -> None:
    assert u(text, pending=pending).slots.consent_sms is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True),
        ("Yes!", True),
        ("yep", True),
        ("yeah that's right", True),
        ("sounds good", True),
        ("book it", True),
        ("confirm", True),
        ("looks good, go ahead", True),
        ("perfect", True),
        ("no", False),
        ("nope", False),
        ("not yet", False),
        ("No, the date is wrong", False),
        ("wait", False),
        ("yes but change the time to 7", None),
        ("no problem", None),
        ("no kids", None),
        ("12 people", None),
        ("can you confirm the price?", None),
    ],
)
def test_confirm(text: str, expected: bool | None) -> None:
    assert u(text, pending="confirm").confirm is expected


# --- SMS keywords --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", "stop"),
        ("stop", "stop"),
        ("  Stop. ", "stop"),
        ("STOPALL", "stop"),
        ("unsubscribe", "stop"),
        ("CANCEL", "stop"),
        ("end", "stop"),
        ("Quit!", "stop"),
        ("START", "start"),
        ("unstop", "start"),
        ("HELP", "help"),
        ("help?", "help"),
        ("info", "help"),
        ("cancel my booking", None),
        ("please stop texting me", None),
        ("help me book a party", None),
        ("stop by at 6", None),
    ],
)
def test_sms_keywords(text: str, expected: str | None) -> None:
    assert u(text).sms_keyword == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", "stop"),
        ("HELP", "help"),
        ("please stop texting me", "stop"),
        ("don't text me anymore", "stop"),
        ("unsubscribe me please", "stop"),
        ("opt me out", "stop"),
        ("no more messages thanks", "stop"),
        ("stop sending me texts", "stop"),
        ("can you text me the details", None),
        ("text me at 916-555-0123", None),
        ("cancel my booking", None),
        ("stop by at 6", None),
    ],
)
def test_a_plain_request_to_stop_the_texts_is_an_sms_opt_out(text: str, expected: str | None) -> None:
    assert carrier_keyword(text) == expected


def test_a_lone_keyword_is_nothing_else() -> None:
    result = u("CANCEL")
    assert result.intent is None and result.confirm is None
    assert result.slots == Slots()


# --- intents -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent", "topic"),
    [
        ("I'd like to book a hibachi party for 20 on Dec 12", "book", None),
        ("do you have anything on the 19th?", "book", None),
        ("15 adults and 3 kids", "book", None),
        ("how much for 20 people?", "price_question", None),
        ("what does it cost per person?", "price_question", None),
        ("what's your cancellation policy?", "policy_question", "cancellation"),
        ("what happens if I cancel?", "policy_question", "cancellation"),
        ("is the deposit refundable if we cancel?", "policy_question", "cancellation"),
        ("do we tip the chef?", "policy_question", "gratuity"),
        ("what if it rains?", "policy_question", "rain"),
        ("what do we need to set up?", "policy_question", "setup"),
        ("can you handle a nut allergy?", "policy_question", "allergies"),
        ("what's on the menu?", "policy_question", "menu"),
        ("I need to reschedule my party", "reschedule", None),
        ("can we move our booking MH-7Q3K9 to another date?", "reschedule", None),
        ("cancel my booking", "cancel_booking", None),
        ("I want to cancel the party MH-7Q3K9", "cancel_booking", None),
        ("I want to talk to a real person", "human", None),
        ("can I speak to a manager", "human", None),
        ("this is terrible, I want a refund", "complaint", None),
        ("the chef never showed up", "complaint", None),
        ("hi there", "greeting", None),
        ("ok thanks, ill talk to my wife and get back to u", "later", None),
        ("let me think about it", "later", None),
        ("just checking for now, bye", "later", None),
        ("let me check with my husband about dec 19", "book", None),  # it states a date: still booking
        ("can I get back to you on the kids count?", "other", None),
        ("Hello!", "greeting", None),
        ("what's the capital of France?", "other", None),
        ("thanks!", "other", None),
    ],
)
def test_intents(text: str, intent: str, topic: str | None) -> None:
    result = u(text)
    assert (result.intent, result.topic) == (intent, topic)


def test_policy_topics_come_from_the_context() -> None:
    ctx = Context(now=NOW, policy_topics=("cancellation", "parking"))
    result = understand("is there parking for the chef's truck?", ctx)
    assert (result.intent, result.topic) == ("policy_question", "parking")
    assert understand("what if it rains?", ctx).topic is None


# --- whole messages ------------------------------------------------------------------------------


def test_a_full_booking_message() -> None:
    text = (
        "Hi! I'm Dana Lee. We'd like a hibachi party on Saturday December 12th at 6pm for 15 adults and 3 kids "
        "at 2400 J St, Sacramento, CA 95816. 4 lobster tails please. Email Dana.Lee@example.com, "
        "cell (916) 555-0123, you can text me."
    )
    assert stated(text) == {
        "date": "2026-12-12",
        "time": "18:00",
        "party_total": 18,
        "party_adults": 15,
        "party_kids": 3,
        "first_name": "Dana",
        "last_name": "Lee",
        "email": "dana.lee@example.com",
        "phone": "+19165550123",
        "zip": "95816",
        "address": "2400 J St, Sacramento, CA 95816",
        "upgrades": {"lobster_tail": 4},
        "consent_sms": True,
    }
    assert u(text).intent == "book"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Could you get me a reservation at P.f. Chang's in Corte Madera at afternoon 12?", {"time": "12:00"}),
        ("Yes, go for Lalla.", {}),
        ("Look for restaurants in San Jose", {}),
        ("I'd like to go to 4 Star Cafe at 7 pm", {"time": "19:00"}),
        ('Can you help me make a reservations at " 8 Sushi " restaurant?', {}),
        ("I'd like to make a reservation at My No.1 Sushi for 1.", {"party_total": 1}),
        ("Make it at Pier 29 for today.", {"date": "2026-12-01"}),
        ("The restaurant Up 2u at Alameda for 19:30.", {"time": "19:30"}),
    ],
)
def test_irrelevant_words_are_ignored(text: str, expected: dict[str, Any]) -> None:
    assert stated(text) == expected


def test_understanding_is_fast() -> None:
    messages = [
        "Hi! I'm Dana Lee. Party on Saturday December 12th at 6pm for 15 adults and 3 kids, 95816.",
        "I'd like to reserve a table for 1 at morning 11:30 at P.f. Chang's in San Jose.",
        "call me at 916-555-0123 or dana@example.com",
        "yes",
    ] * 50
    ctx = Context(now=NOW)
    understand(messages[0], ctx)  # warm-up
    started = time.perf_counter()
    for text in messages:
        understand(text, ctx)
    per_message = (time.perf_counter() - started) / len(messages)
    assert per_message < 0.001
