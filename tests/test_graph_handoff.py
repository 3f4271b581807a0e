"""Handoff to staff (an interrupt with the reason; silence until staff resume the thread) and FAQ
detours that come back to the question the conversation was waiting on."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage

from hibachi.bootstrap import Container
from tests.graph_support import Chat, all_bookings


def ai_messages(chat: Chat) -> int:
    return sum(isinstance(m, AIMessage) for m in chat.state["messages"])


def test_a_party_above_max_guests_is_handed_off(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    reply = chat.say("I need hibachi for 61 guests on dec 12 at 6pm")
    assert reply is not None and "over 60 guests" in reply and "follow up" in reply
    assert chat.waiting is not None and chat.waiting["reason"] == "large_party"
    assert all_bookings(container) == []
    assert chat.say("hello? can we book it?") is None  # waiting for staff: the agent is silent
    assert chat.waiting is not None  # and the handoff still stands


def test_asking_for_a_person_hands_off_and_the_agent_continues_after_resume(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    chat.say("hi")
    reply = chat.say("can I talk to a real person please")
    assert reply is not None and "follow up" in reply
    assert chat.waiting is not None and chat.waiting["reason"] == "customer_asked"
    count = ai_messages(chat)
    assert chat.say("hello?") is None
    assert ai_messages(chat) == count

    assert chat.resume({"by": "staff"}) is None  # staff hand the thread back
    assert chat.waiting is None
    nxt = chat.say("dec 12 at 6pm")
    assert nxt is not None and "how many guests" in nxt.lower()


def test_a_complaint_or_refund_request_is_handed_off(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    reply = chat.say("the chef never showed up and I want a refund")
    assert reply is not None and "sorry" in reply.lower() and "follow up" in reply
    assert chat.waiting is not None and chat.waiting["reason"] == "complaint"


def test_three_turns_without_progress_are_handed_off(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    chat.say("hi")
    assert chat.say("blah") is not None and chat.waiting is None
    assert chat.say("asdf") is not None and chat.waiting is None
    reply = chat.say("hmm")
    assert reply is not None and "follow up" in reply
    assert chat.waiting is not None and chat.waiting["reason"] == "no_progress"


def test_a_question_the_policies_do_not_answer_is_handed_off(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    chat.say("dec 12 at 6pm")
    reply = chat.say("do you have insurance?")
    assert reply is not None and "follow up" in reply
    assert chat.waiting is not None and chat.waiting["reason"] == "unanswered_question"


def test_a_faq_detour_mid_intake_asks_the_pending_question_again(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    asked = chat.say("dec 12 at 6pm")
    assert asked is not None and "How many guests" in asked
    reply = chat.say("what if it rains?")
    assert reply is not None
    assert "covered patio or garage" in reply  # the business file's rain policy
    assert reply.rstrip().endswith(asked.split("MyHibachi (demo). ")[-1])  # then the same question
    assert chat.state["pending"] == "party" and chat.waiting is None
    nxt = chat.say("15 people, 3 kids")
    assert nxt is not None and "address" in nxt


def test_a_price_question_is_answered_from_the_business_file(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    reply = chat.say("how much does it cost?")
    assert reply is not None
    assert "$60.00 per adult" in reply and "$30.00 per kid" in reply and "$600.00 food minimum" in reply
    assert "Bay Area $100.00" in reply
    # Once the party is quoted, a price question gets the customer's own total.
    chat.say("dec 12 at 6pm, 12 adults and 3 kids, 2400 J St, Sacramento, CA 95816")
    own = chat.say("how much will it be?")
    assert own is not None and "total is $810.00" in own and "deposit is $100.00" in own


def test_after_a_handoff_a_yes_does_not_book_an_old_summary(agent: Any, container: Container) -> None:
    from tests.test_graph_booking import ONE_MESSAGE

    chat = Chat(agent, container)
    chat.say(ONE_MESSAGE)
    assert "Shall I book it?" in (chat.say("yes") or "")
    chat.say("can I speak to a manager")
    chat.resume()
    again = chat.say("yes")  # may answer staff, not the summary: show the summary again first
    assert again is not None and "Shall I book it?" in again
    assert all_bookings(container) == []
    chat.say("yes")
    assert len(all_bookings(container)) == 1


@pytest.mark.parametrize("question", ["do you take credit cards?", "Do you accept Venmo?"])
def test_any_question_outside_the_business_file_is_handed_off(agent: Any, container: Container, question: str) -> None:
    chat = Chat(agent, container)
    chat.say("dec 12 at 6pm")
    reply = chat.say(question)
    assert reply is not None and "follow up" in reply
    assert chat.waiting is not None and chat.waiting["reason"] == "unanswered_question"


@pytest.mark.parametrize("question", ["what times do you have?", "how much is it per person?"])
def test_questions_about_the_booking_itself_stay_with_the_agent(
    agent: Any, container: Container, question: str
) -> None:
    chat = Chat(agent, container)
    chat.say("dec 12 at 6pm")
    chat.say(question)
    assert chat.waiting is None
