"""Rescheduling and cancelling an existing booking: found by the SMS phone, or by email plus
reference on the web; nothing changes without a yes."""

from __future__ import annotations

from datetime import date, time
from typing import Any

from hibachi.bootstrap import Container
from tests.factories import create_booking_cmd
from tests.graph_support import Chat, all_bookings

PHONE = "+19165550123"


def existing(container: Container) -> str:
    result = container.bus.handle(
        create_booking_cmd(
            day="2026-12-19",
            email="ana@example.com",
            phone=PHONE,
            first_name="Ana",
            last_name="Ruiz",
            adults=10,
            kids=0,
        )
    )
    return str(result.body["reference"])


def test_reschedule_by_the_sms_phone(agent: Any, container: Container) -> None:
    reference = existing(container)
    chat = Chat(agent, container, channel="sms", phone=PHONE)
    found = chat.say("I need to reschedule my party")
    assert found is not None and reference in found and "Saturday, December 19 at 6pm" in found
    off = chat.say("December 26 at 7pm")
    assert off is not None and "6pm or 9pm" in off
    ask = chat.say("6pm")
    assert ask is not None and "to Saturday, December 26 at 6pm? (yes/no)" in ask
    assert all_bookings(container)[0]["event_date"] == date(2026, 12, 19)  # not before the yes

    done = chat.say("yes")
    assert done is not None and "now on Saturday, December 26 at 6pm" in done
    (booking,) = all_bookings(container)
    assert (booking["reference"], booking["event_date"], booking["slot"]) == (reference, date(2026, 12, 26), time(18))
    assert booking["reschedule_count"] == 1


def test_cancel_by_the_sms_phone(agent: Any, container: Container) -> None:
    reference = existing(container)
    chat = Chat(agent, container, channel="sms", phone=PHONE)
    ask = chat.say("please cancel my booking")
    assert ask is not None and reference in ask and "(yes/no)" in ask
    policy = chat.say("what's the cancellation policy?")
    assert policy is not None and "refundable" in policy and policy.endswith("(yes/no)")
    assert all_bookings(container)[0]["status"] == "deposit_pending"

    done = chat.say("yes")
    assert done is not None and "cancelled" in done
    (booking,) = all_bookings(container)
    assert booking["status"] == "cancelled"


def test_no_leaves_the_booking_as_it_is(agent: Any, container: Container) -> None:
    existing(container)
    chat = Chat(agent, container, channel="sms", phone=PHONE)
    chat.say("cancel my reservation")
    kept = chat.say("no")
    assert kept is not None and "left your booking" in kept
    (booking,) = all_bookings(container)
    assert booking["status"] == "deposit_pending"


def test_web_cancel_needs_the_email_and_the_reference(agent: Any, container: Container) -> None:
    reference = existing(container)
    chat = Chat(agent, container)
    assert "email you booked with and your booking reference" in (chat.say("I want to cancel my booking") or "")
    assert "booking reference" in (chat.say("ana@example.com") or "")
    ask = chat.say(reference)
    assert ask is not None and f"Cancel your party {reference}" in ask
    chat.say("yes")
    assert all_bookings(container)[0]["status"] == "cancelled"


def test_web_reference_with_another_email_is_not_found(agent: Any, container: Container) -> None:
    reference = existing(container)
    chat = Chat(agent, container)
    reply = chat.say(f"I want to cancel booking {reference}, my email is someone.else@example.com")
    assert reply is not None and "couldn't find" in reply
    assert all_bookings(container)[0]["status"] == "deposit_pending"


def test_a_second_reschedule_is_handed_to_staff(agent: Any, container: Container) -> None:
    reference = existing(container)
    chat = Chat(agent, container, channel="sms", phone=PHONE)
    ask = chat.say("I need to reschedule my party to December 26 at 6pm")
    assert ask is not None and "to Saturday, December 26 at 6pm? (yes/no)" in ask  # one message: found and checked
    assert "now on Saturday, December 26" in (chat.say("yes") or "")
    assert all_bookings(container)[0]["event_date"] == date(2026, 12, 26)

    reply = chat.say("sorry, can we reschedule again to January 9 at 6pm?")
    assert reply is not None and "follow up" in reply
    assert chat.waiting is not None and chat.waiting["reason"] == "change_needs_staff"
    (booking,) = all_bookings(container)
    assert (booking["reference"], booking["event_date"]) == (reference, date(2026, 12, 26))


def test_web_reschedule_with_the_email_and_the_reference(agent: Any, container: Container) -> None:
    reference = existing(container)
    chat = Chat(agent, container)
    chat.say(f"hi, I'd like to reschedule booking {reference}, my email is ana@example.com")
    ask = chat.say("January 9 at 3pm")
    assert ask is not None and "January 9 at 3pm" in ask and "(yes/no)" in ask
    done = chat.say("yes")
    assert done is not None and "January 9" in done
    (booking,) = all_bookings(container)
    assert (booking["event_date"], booking["slot"]) == (date(2027, 1, 9), time(15))


def test_rescheduling_into_a_full_slot_offers_what_is_free(agent: Any, container: Container) -> None:
    reference = existing(container)
    for i in range(3):  # every chef who serves zone A is booked on Dec 26 at 6pm
        container.bus.handle(create_booking_cmd(day="2026-12-26", email=f"full{i}@example.com", phone=None))
    chat = Chat(agent, container, channel="sms", phone=PHONE)
    chat.say("I need to reschedule my party")
    offer = chat.say("December 26 at 6pm")
    assert offer is not None and "3pm" in offer  # the day's other times (the chefs can cook 3pm before 6pm)
    mine = next(b for b in all_bookings(container) if b["reference"] == reference)
    assert mine["event_date"] == date(2026, 12, 19)  # nothing moved yet
