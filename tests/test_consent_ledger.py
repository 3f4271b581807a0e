"""The consent ledger: every opt-in and opt-out with its evidence (channel, source message, the
words, time; the web's IP and page), found by phone without the phone in clear; the current state
is the latest entry."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from domain.commands import UpdateConsent
from hibachi.bootstrap import Container
from services.conversations import receive_sms
from tests.graph_support import all_bookings
from tests.test_graph_booking import ONE_MESSAGE

PHONE = "+19165550142"


def ledger(container: Container) -> list[Any]:
    with container.uow() as uow:
        ids = [
            str(r.customer_id)
            for r in uow.conn.execute(text("SELECT DISTINCT customer_id FROM core.consents")).fetchall()
        ]
        return sorted(
            (entry for cid in ids for entry in uow.consents.history(cid)), key=lambda e: (e.recorded_at, e.granted)
        )


def sms_state(container: Container, phone: str) -> bool | None:
    with container.uow() as uow:
        return uow.consents.sms_state(phone)


def test_web_consent_is_recorded_with_the_words_ip_and_page(container: Container) -> None:
    session = str(uuid.uuid4())
    page = "https://hibachi.example/book?utm=spring"
    with TestClient(create_app(container)) as client:
        for said in (ONE_MESSAGE, "yes, you can text me", "yes"):
            response = client.post("/channels/web/messages", json={"session_id": session, "text": said, "page": page})
            assert response.status_code == 200, response.text
    (booking,) = all_bookings(container)
    (entry,) = ledger(container)
    assert (entry.customer_id, entry.channel, entry.granted, entry.source) == (
        booking["customer_id"],
        "sms",
        True,
        "web",
    )
    assert entry.text == "yes, you can text me" and entry.source_message_id
    assert entry.ip == "testclient" and entry.page == page
    assert sms_state(container, "+19165550123") is True  # found by the booking's phone
    with container.engine.connect() as conn:  # where they were is theirs too: sealed, not in clear
        dump = conn.execute(text("SELECT string_agg(c::text, ' ') FROM core.consents c")).scalar() or ""
    assert "hibachi.example" not in dump and "testclient" not in dump
    assert b"hibachi.example".hex() not in dump


def test_the_page_falls_back_to_the_referer(container: Container) -> None:
    session = str(uuid.uuid4())
    with TestClient(create_app(container)) as client:
        for said in (ONE_MESSAGE, "sure, text me", "yes"):
            client.post(
                "/channels/web/messages",
                json={"session_id": session, "text": said},
                headers={"Referer": "https://hibachi.example/menu"},
            )
    (entry,) = ledger(container)
    assert entry.page == "https://hibachi.example/menu"


def test_stop_and_start_by_text_are_ledger_entries_with_the_message(container: Container, agent: Any) -> None:
    receive_sms(container, PHONE, "STOP", "rc-l-1", graph=agent)
    assert sms_state(container, PHONE) is False
    receive_sms(container, PHONE, "START", "rc-l-2", graph=agent)  # same instant (fixed clock): seq orders
    assert sms_state(container, PHONE) is True
    stop, start = ledger(container)
    assert (stop.granted, stop.text, stop.source) == (False, "STOP", "sms")
    assert (start.granted, start.text) == (True, "START")
    with container.uow() as uow:
        assert uow.threads.message(str(stop.source_message_id)) is not None
        record = uow.customers.find(phone=PHONE)
    assert record is not None and record.consent_sms is True  # the cache follows the latest entry


def test_a_plain_language_opt_out_is_recorded_with_its_words(container: Container, agent: Any) -> None:
    receive_sms(container, PHONE, "hi, do you do parties in Davis?", "rc-l-3", graph=agent)
    receive_sms(container, PHONE, "please stop texting me", "rc-l-4", graph=agent)
    (entry,) = ledger(container)
    assert (entry.granted, entry.text) == (False, "please stop texting me")
    assert sms_state(container, PHONE) is False


def test_the_ledger_holds_no_phone_or_words_in_clear(container: Container, agent: Any) -> None:
    receive_sms(container, PHONE, "STOP", "rc-l-5", graph=agent)
    with container.engine.connect() as conn:
        dump = conn.execute(text("SELECT string_agg(c::text, ' ') FROM core.consents c")).scalar()
        raw = conn.execute(text("SELECT encode(text_enc, 'escape') FROM core.consents")).scalar()
    assert dump and "9165550142" not in dump and "STOP" not in str(raw)


def test_latest_entry_wins_and_the_api_writes_through_the_same_function(container: Container) -> None:
    for granted in (True, False, True):
        container.bus.handle(UpdateConsent(channel="sms", granted=granted, source="api", phone=PHONE))
    assert len(ledger(container)) == 3 and sms_state(container, PHONE) is True
    container.bus.handle(UpdateConsent(channel="sms", granted=False, source="staff", phone=PHONE))
    assert sms_state(container, PHONE) is False
    assert sms_state(container, "+19165550000") is None  # never asked
