"""The agent books a party: in one message or step by step, with corrections at the summary, a
full slot, an off-slot time, dates out of the window and an out-of-area ZIP; a "no" books nothing.
Outcomes are read from the database."""

from __future__ import annotations

from datetime import date, time
from typing import Any

from hibachi.bootstrap import Container
from tests.factories import create_booking_cmd
from tests.graph_support import Chat, all_bookings

ONE_MESSAGE = (
    "Hibachi for 12 adults and 3 kids on Saturday December 12th at 6pm, 2400 J St Sacramento CA 95816, "
    "I'm Dana Lee, dana@example.com, 916-555-0123, 4 lobster tails"
)


def only_booking(container: Container) -> dict[str, Any]:
    rows = all_bookings(container)
    assert len(rows) == 1, rows
    return rows[0]


def test_a_single_message_booking(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    first = chat.say(ONE_MESSAGE)
    assert first is not None and "text you at (916) 555-0123" in first  # consent: the one thing not said

    summary = chat.say("yes")
    assert summary is not None
    assert "Saturday, December 12 at 6pm" in summary
    assert "15 guests (12 adults, 3 kids)" in summary
    assert "4 × lobster tail" in summary
    assert "Total $870.00" in summary and "$100.00 deposit" in summary
    assert summary.endswith("Shall I book it? (yes/no)")
    assert all_bookings(container) == []  # nothing before the yes

    done = chat.say("yes")
    booking = only_booking(container)
    assert (booking["event_date"], booking["slot"]) == (date(2026, 12, 12), time(18, 0))
    assert (booking["adults"], booking["kids"], booking["zip"], booking["zone_id"]) == (12, 3, "95816", "A")
    assert booking["upgrades"] == {"lobster_tail": 4}
    assert (booking["total_due_cents"], booking["deposit_due_cents"]) == (87000, 10000)
    assert (booking["status"], booking["source"]) == ("deposit_pending", "web")
    customer = booking["customer"]
    assert (customer.first_name, customer.last_name) == ("Dana", "Lee")
    assert (customer.email, customer.phone, customer.consent_sms) == ("dana@example.com", "+19165550123", True)
    assert done is not None and booking["reference"] in done
    assert "Total $870.00" in done and f"https://myhibachi.example/pay/{booking['reference']}" in done
    assert chat.state["payment_link"]["url"].endswith(booking["reference"])

    after = chat.say("yes")  # a stray yes after the booking books nothing more
    assert after is not None and "all set" in after
    assert len(all_bookings(container)) == 1


def test_step_by_step_one_question_at_a_time(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    script = [
        ("Hi, I'd like to book a hibachi party", "what date"),
        ("December 12 at 6pm", "how many guests"),
        ("15 people", "how many of them are kids"),
        ("3", "address"),
        ("2400 J St, Sacramento, CA 95816", "first and last name"),
        ("Dana Lee", "email and phone"),
        ("dana@example.com", "phone number"),
        ("916-555-0123", "upgrade"),
        ("2 filet mignon", "ok to text you"),
        ("yes", "total $820.00"),
    ]
    for said, asked in script:
        reply = chat.say(said)
        assert reply is not None and asked in reply.lower(), (said, reply)
    # Nothing known was asked again.
    assert sum("what date" in (r or "").lower() for r in chat.replies) == 1
    assert sum("first and last name" in (r or "").lower() for r in chat.replies) == 1
    assert all_bookings(container) == []

    done = chat.say("yes, book it")
    booking = only_booking(container)
    assert (booking["adults"], booking["kids"], booking["upgrades"]) == (12, 3, {"filet_mignon": 2})
    assert booking["address_enc"] is not None and booking["total_due_cents"] == 82000
    assert done is not None and "$820.00" in done


def test_corrections_at_the_summary_go_back_to_the_right_step(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    chat.say(ONE_MESSAGE)
    assert "Total $870.00" in (chat.say("yes") or "")

    moved = chat.say("can we do the 19th instead?")
    assert moved is not None and "Saturday, December 19 at 6pm" in moved and "Shall I book it?" in moved
    bigger = chat.say("actually make it 20 people")
    assert bigger is not None and "20 guests (17 adults, 3 kids)" in bigger
    assert "Total $1,170.00" in bigger  # 17 x $60 + 3 x $30 + 4 lobster tails, as quote_price said
    earlier = chat.say("3pm would be better")
    assert earlier is not None and "Saturday, December 19 at 3pm" in earlier
    assert all_bookings(container) == []

    chat.say("yes")
    booking = only_booking(container)
    assert (booking["event_date"], booking["slot"]) == (date(2026, 12, 19), time(15, 0))
    assert (booking["adults"], booking["kids"], booking["total_due_cents"]) == (17, 3, 117000)


def test_a_full_slot_offers_alternatives_and_books_one(agent: Any, container: Container) -> None:
    for i in range(3):  # every chef serving zone A is taken at 18:00 on the 12th
        container.bus.handle(create_booking_cmd(email=f"guest{i}@example.com", phone=f"+1916555020{i}"))
    chat = Chat(agent, container)
    offer = chat.say(ONE_MESSAGE)
    assert offer is not None and "Saturday, December 12 at 6pm is already booked" in offer
    assert "1) Sat Dec 12 at 12pm" in offer and "2) Sat Dec 12 at 3pm" in offer and "Fri Dec 11 at 6pm" in offer
    assert chat.state["pending"] == "choice"

    assert "text you" in (chat.say("2") or "")
    assert "Saturday, December 12 at 3pm" in (chat.say("yes") or "")
    chat.say("yes")
    mine = [b for b in all_bookings(container) if b["customer"].email == "dana@example.com"]
    assert len(mine) == 1 and mine[0]["slot"] == time(15, 0) and mine[0]["event_date"] == date(2026, 12, 12)
    assert len(all_bookings(container)) == 4


def test_an_off_slot_time_maps_to_the_nearest_offered_slots(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    reply = chat.say("can we do a party on dec 12 at 7pm?")
    assert reply is not None and "7pm" in reply and "6pm or 9pm" in reply
    assert "time" not in chat.state["slots"]
    assert [o["slot"] for o in chat.state["alternatives"]] == ["18:00", "21:00"]

    nxt = chat.say("the later one")
    assert nxt is not None and "how many guests" in nxt.lower()
    assert chat.state["slots"]["time"] == "21:00"


def test_a_date_too_soon_or_too_far_is_explained(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    soon = chat.say("can you do tomorrow at 6pm?")
    assert soon is not None and "earliest date we can do is Thursday, December 3" in soon
    assert "date" not in chat.state["slots"] and chat.state["pending"] == "date"
    far = chat.say("July 4th then")
    assert far is not None and "latest date we can do right now is Sunday, May 30" in far
    ok = chat.say("December 5")
    assert ok is not None and "how many guests" in ok.lower()
    assert chat.state["slots"]["date"] == "2026-12-05" and chat.state["slots"]["time"] == "18:00"


def test_an_out_of_area_zip_books_nothing(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    reply = chat.say("dec 12 6pm for 10 adults at 123 Main St, New York, NY 10001")
    assert reply is not None and "10001 is outside our service area" in reply and "Sacramento" in reply
    assert "zip" not in chat.state["slots"] and chat.state["pending"] == "address"
    assert all_bookings(container) == [] and chat.waiting is None


def test_no_at_the_summary_books_nothing(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    chat.say(ONE_MESSAGE)
    chat.say("yes")
    declined = chat.say("no")
    assert declined is not None and "nothing is booked" in declined.lower()
    dropped = chat.say("no")
    assert dropped is not None and "nothing is booked" in dropped.lower()
    assert all_bookings(container) == [] and chat.waiting is None


def test_an_address_or_upgrade_change_at_the_summary_is_requoted(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    chat.say(ONE_MESSAGE)
    assert "Total $870.00" in (chat.say("yes") or "")

    moved = chat.say("actually the party is at 500 Castro St, Mountain View CA 94041")
    assert moved is not None and "500 Castro St" in moved
    assert "Total $970.00" in moved  # zone C: the $100.00 Bay Area travel fee, as quote_price said
    fewer = chat.say("make it 2 lobster tails")
    assert fewer is not None and "2 × lobster tail" in fewer and "Total $940.00" in fewer
    assert all_bookings(container) == []

    chat.say("yes")
    booking = only_booking(container)
    assert (booking["zip"], booking["zone_id"], booking["total_due_cents"]) == ("94041", "C", 94000)
