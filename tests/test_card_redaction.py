"""Card numbers typed into a chat never reach storage, logs, the agent's checkpoint or the inbox;
the customer is told we never take cards by text."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import pytest
from sqlalchemy import text

from domain.cards import CARD_MARKER, luhn_valid, redact_card_numbers
from graph.context import Context
from graph.turns import config_for
from hibachi.bootstrap import Container
from services.admin import InboxFilter, inbox, thread_view
from services.conversations import hand_off, handle_inbound, receive_sms

PHONE = "+19165550142"
CARD = "4111 1111 1111 1111"
CARD_DIGITS = "4111111111111111"


@pytest.mark.parametrize(
    "said",
    [
        "my card is 4111 1111 1111 1111 exp 12/27",
        "4111-1111-1111-1111",
        "amex 378282246310005 please",
        "5555555555554444, cvv 123",
        "card#4111111111111111",
        "4111 1111 1111 1111 12 27",
        "4111  1111  1111  1111",
        "4111.1111.1111.1111",
        "4111\n1111\n1111\n1111",
        "4111\u00a01111\u00a01111\u00a01111",
        "4111 - 1111 - 1111 - 1111",
    ],
)
def test_luhn_valid_card_numbers_are_replaced_by_the_marker(said: str) -> None:
    redacted, count = redact_card_numbers(said)
    assert count == 1 and CARD_MARKER in redacted
    assert "1111" not in redacted and "0005" not in redacted and "4444" not in redacted


@pytest.mark.parametrize(
    "said",
    [
        "call me at 916-555-0142 or +19165550142",
        "zip 95816, on 2026-12-12 at 6pm",
        "booking MH-7Q3K9 for 12 adults and 3 kids",
        "4111 1111 1111 1112",  # 16 digits, Luhn fails: not a card
        "12345678901234567890123",  # longer than any card
        "(916) 555-0142 and 95816",
    ],
)
def test_numbers_that_are_not_cards_are_untouched(said: str) -> None:
    assert redact_card_numbers(said) == (said, 0)


def test_luhn() -> None:
    assert luhn_valid(CARD_DIGITS) and luhn_valid("79927398713") and not luhn_valid("79927398710")


def _no_card_anywhere(
    container: Container, agent: Any, thread_id: str, channel: Literal["web", "sms"], log_text: str
) -> None:
    with container.engine.connect() as conn:
        dumps = [
            conn.execute(text("SELECT string_agg(i::text, ' ') FROM read.inbox_threads i")).scalar() or "",
            conn.execute(text("SELECT string_agg(payload::text, ' ') FROM events.domain_events")).scalar() or "",
            conn.execute(text("SELECT string_agg(payload::text, ' ') FROM events.outbox")).scalar() or "",
        ]
    with container.uow() as uow:
        bodies = [m.body for m in uow.threads.transcript(thread_id)]
    phone = PHONE if channel == "sms" else None
    state = agent.get_state(config_for(Context(container, thread_id, channel, customer_phone=phone))).values
    checkpointed = " ".join(str(m.content) for m in state.get("messages") or []) + str(state.get("slots"))
    shown = [str(row) for row in inbox(container, str(uuid.uuid4()), InboxFilter())]
    shown += [str(thread_view(container, thread_id, graph=agent))]
    for where, dump in {
        "bodies": " ".join(bodies),
        "checkpoint": checkpointed,
        "logs": log_text,
        "read models": " ".join(dumps),
        "inbox pages": " ".join(shown),
    }.items():
        for piece in (CARD_DIGITS, CARD, "4111-1111"):
            assert piece not in dump, where
    assert bodies[0].startswith("my card is " + CARD_MARKER)
    assert CARD_MARKER in checkpointed


def test_a_card_typed_into_the_web_chat_is_removed_and_the_customer_told(
    container: Container, agent: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    result = handle_inbound(
        container,
        channel="web",
        contact=str(uuid.uuid4()),
        text=f"my card is {CARD} exp 12/27, book dec 12 for 10 adults",
        graph=agent,
    )
    assert result.reply and "never takes card numbers by text or chat" in result.reply
    assert "payment link" in result.reply
    _no_card_anywhere(container, agent, result.thread_id, "web", caplog.text)


def test_a_card_texted_by_sms_is_removed_and_the_customer_told(
    container: Container, agent: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    result = receive_sms(container, PHONE, f"my card is {CARD}", "rc-card-1", graph=agent)
    assert result.reply and "never takes card numbers" in result.reply
    _no_card_anywhere(container, agent, result.thread_id, "sms", caplog.text)


def test_while_staff_have_the_thread_the_system_still_warns(container: Container, agent: Any) -> None:
    first = receive_sms(container, PHONE, "hi there", "rc-card-2", graph=agent)
    hand_off(container, first.thread_id, "test")
    receive_sms(container, PHONE, f"here it is {CARD}", "rc-card-3", graph=agent)
    with container.uow() as uow:
        messages = uow.threads.transcript(first.thread_id)
    assert messages[-2].body == f"here it is {CARD_MARKER}"
    assert messages[-1].author == "system" and "never takes card numbers" in messages[-1].body


def test_a_message_without_a_card_is_stored_as_typed(container: Container, agent: Any) -> None:
    said = "party of 12 on 2026-12-12, call 916-555-0142, zip 95816"
    result = handle_inbound(container, channel="web", contact=str(uuid.uuid4()), text=said, graph=agent)
    with container.uow() as uow:
        assert uow.threads.transcript(result.thread_id)[0].body == said
    assert result.reply and "card" not in result.reply
