"""SMS: carrier keywords (STOP: one confirmation, then silence until START; HELP) and booking by
the sender's phone."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage

from hibachi.bootstrap import Container
from tests.factories import create_booking_cmd
from tests.graph_support import Chat, all_bookings, consent_rows, customer_consent_sms

PHONE = "+19165550123"


def existing_customer(container: Container) -> str:
    result = container.bus.handle(
        create_booking_cmd(day="2026-12-19", email="ana@example.com", phone=PHONE, consent_sms=True)
    )
    return str(result.body["customer_id"])


def test_stop_withdraws_consent_confirms_once_and_then_stays_silent(agent: Any, container: Container) -> None:
    customer_id = existing_customer(container)
    assert customer_consent_sms(container, customer_id) is True
    chat = Chat(agent, container, channel="sms", phone=PHONE)

    reply = chat.say("STOP")
    assert reply is not None and "unsubscribed" in reply and "START" in reply
    assert customer_consent_sms(container, customer_id) is False
    last = consent_rows(container)[-1]
    assert (last["customer_id"], last["channel"], last["granted"], last["source"]) == (customer_id, "sms", False, "sms")

    for text in ("hello?", "I want to book a party on dec 12", "HELP", "stop"):
        assert chat.say(text) is None
    assert sum(isinstance(m, AIMessage) for m in chat.state["messages"]) == 1  # exactly one reply

    back = chat.say("START")
    assert back is not None and "resubscribed" in back
    assert customer_consent_sms(container, customer_id) is True
    assert chat.say("HELP") is not None


def test_stop_from_a_number_that_is_not_a_customer_still_silences_the_agent(agent: Any, container: Container) -> None:
    chat = Chat(agent, container, channel="sms", phone="+19165550999")
    assert "unsubscribed" in (chat.say("unsubscribe") or "")
    assert chat.say("hi") is None
    assert chat.state["opted_out"] is True


def test_help_names_the_business_its_phone_and_how_to_opt_out(agent: Any, container: Container) -> None:
    chat = Chat(agent, container, channel="sms", phone=PHONE)
    reply = chat.say("HELP")
    assert reply is not None
    assert "MyHibachi (demo)" in reply and "(916) 555-0100" in reply and "Reply STOP to opt out" in reply


def test_a_lone_cancel_on_the_web_is_not_an_opt_out(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    reply = chat.say("cancel")
    assert reply is not None and "booking reference" in reply
    assert chat.state.get("opted_out") is not True


def test_an_sms_booking_uses_the_senders_phone(agent: Any, container: Container) -> None:
    chat = Chat(agent, container, channel="sms", phone=PHONE)
    script = [
        "hi can I book a party for dec 12 at 6pm, 10 adults",
        "no kids",
        "2400 J St, Sacramento, CA 95816",
        "Ana Ruiz",
        "no upgrades",
        "yes",
    ]
    for text in script:
        reply = chat.say(text)
        assert reply is not None and "email" not in reply.lower()  # the phone is known: no contact question
    assert "Total $600.00" in (chat.replies[-1] or "")
    chat.say("yes")
    (booking,) = all_bookings(container)
    assert booking["source"] == "sms" and booking["customer"].phone == PHONE and booking["customer"].consent_sms
    assert (booking["adults"], booking["kids"], booking["total_due_cents"]) == (10, 0, 60000)
