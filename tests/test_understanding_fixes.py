"""Rules-engine bugs found in review, one test each (and their neighbours that must not regress)."""

from __future__ import annotations

from datetime import datetime

import pytest

from agent.schema import Context, Pending
from agent.understanding import understand

NOW = datetime.fromisoformat("2026-12-01T10:00:00-08:00")  # a Tuesday


def u(text: str, pending: Pending | None = None, topics: tuple[str, ...] | None = None) -> tuple[object, ...]:
    ctx = (
        Context(now=NOW, pending=pending) if topics is None else Context(now=NOW, pending=pending, policy_topics=topics)
    )
    result = understand(text, ctx)
    return result.intent, result.topic, result.slots.address, result.slots.zip


# (a) a bare answer to the address question is an address only with a street number and a street name


@pytest.mark.parametrize(
    ("text", "address", "zip_code"),
    [
        ("what about 95816", None, "95816"),
        ("its 95816", None, "95816"),
        ("95816", None, "95816"),
        ("2 guests, 95816", None, "95816"),
        ("1234 Elm", "1234 Elm", None),  # no street suffix, still a street number and a name
        ("500 El Camino, Menlo Park 94025", "500 El Camino, Menlo Park 94025", "94025"),
        ("it's 77 Sunset, 95816", "77 Sunset, 95816", "95816"),
        ("2 lobster tails", None, None),  # an answer to the upgrade offer, not a street
        ("3 extra proteins please", None, None),
    ],
)
def test_a_zip_alone_is_not_an_address(text: str, address: str | None, zip_code: str | None) -> None:
    _, _, got_address, got_zip = u(text, pending="address")
    assert (got_address, got_zip) == (address, zip_code)


# (b) a policy question about a topic the business file does not name is still a policy question


def test_an_unknown_policy_is_a_policy_question() -> None:
    assert u("whats your pet policy?")[:2] == ("policy_question", None)
    assert u("do you have a policy on parking")[:2] == ("policy_question", None)


def test_a_topic_named_in_the_plural_matches_the_singular() -> None:
    assert u("whats your pet policy?", topics=("cancellation", "pets"))[:2] == ("policy_question", "pets")
    assert u("can I bring my dog?", topics=("cancellation", "pets"))[:2] != ("policy_question", "pets")


def test_known_policies_and_prices_are_unchanged() -> None:
    assert u("what's your cancellation policy?")[:2] == ("policy_question", "cancellation")
    assert u("what's your pricing?")[:2] == ("price_question", None)
    assert u("what's the minimum?")[:2] == ("price_question", None)


# (c) moving "it" to a new date and time is a reschedule


@pytest.mark.parametrize(
    "text",
    [
        "move it to 12/26 at 6pm",
        "can we move the party to saturday",
        "push it back to the 20th",
        "please move my booking to Dec 19",
    ],
)
def test_moving_it_is_a_reschedule(text: str) -> None:
    assert u(text, pending="date")[0] == "reschedule"
    assert u(text)[0] == "reschedule"


def test_move_keeps_its_date_and_time() -> None:
    result = understand("move it to 12/26 at 6pm", Context(now=NOW))
    assert (result.intent, result.slots.date, result.slots.time) == ("reschedule", "2026-12-26", "18:00")


def test_a_correction_while_booking_stays_a_booking() -> None:
    assert u("change it to 7pm", pending="confirm")[0] == "book"
    assert u("can we do the 19th instead?")[0] == "book"


@pytest.mark.parametrize("text", ["this is terrible, the food was cold", "this is urgent", "I'm so upset"])
def test_feelings_after_this_is_or_im_are_not_names(text: str) -> None:
    slots = understand(text, Context(now=NOW)).slots
    assert (slots.first_name, slots.last_name) == (None, None)


def test_a_count_of_upgrades_is_not_a_time() -> None:
    heard = understand("make it 2 lobster tails", Context(now=NOW, pending="confirm"))
    assert (heard.slots.time, heard.slots.upgrades) == (None, {"lobster_tail": 2})
    assert understand("make it 2", Context(now=NOW, pending="confirm")).slots.time == "14:00"  # a bare 2 still is
