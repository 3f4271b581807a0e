"""The staff inbox's core: thread status, assignment, snooze, notes, staff replies (as themselves or
as the AI), the handoff alert, payments staff record, NOTIFY at commit, the read side the pages use
(inbox filters and search, thread view, customer 360, schedule, booking detail, payments feed),
hand back with corrected slots, and a takeover racing running turns."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from datetime import date, timedelta
from typing import Any, ClassVar

import psycopg
import pytest
from sqlalchemy import text

from db.engine import libpq_url
from db.projections import INBOX_CHANNEL
from domain.commands import (
    AddThreadNote,
    AssignThread,
    HandBackThread,
    HandOffThread,
    MarkDepositPaid,
    ReceiveMessage,
    ReopenThread,
    ResendPaymentLink,
    ResolveThread,
    SendStaffReply,
    SnoozeThread,
)
from domain.errors import DomainError, NotFound
from hibachi.bootstrap import Container
from services import admin
from services.admin import InboxFilter
from services.conversations import hand_back_with_corrections, hand_off, handle_inbound, receive_sms, thread_slots
from services.handlers import DEPOSIT_LINK, NOTIFY_PAYMENT_LINK, SEND_SMS
from tests.conftest import START
from tests.factories import create_booking_cmd
from tests.test_channels import GraphSpy, transcript
from tests.test_graph_booking import ONE_MESSAGE

PHONE = "+19165550142"


def staff_user(container: Container, name: str = "Sam Rivera", role: str = "staff") -> str:
    user_id = str(uuid.uuid4())
    with container.uow() as uow:
        uow.staff.add(
            user_id=user_id,
            email=f"{uuid.uuid4().hex[:8]}@staff.example.com",
            role=role,  # type: ignore[arg-type]
            password_hash=None,
            name=name,
        )
        uow.commit()
    return user_id


def receive(container: Container, said: str = "hi", *, channel: str = "sms", contact: str = PHONE) -> str:
    """A customer message stored (no agent turn); the thread id."""
    body = container.bus.handle(ReceiveMessage(channel, contact, said)).body
    return str(body["thread_id"])


def row(container: Container, thread_id: str) -> dict[str, Any]:
    with container.engine.connect() as conn:
        found = conn.execute(text("SELECT * FROM read.inbox_threads WHERE thread_id = :t"), {"t": thread_id}).one()
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in found._mapping.items()}


def core_status(container: Container, thread_id: str) -> str:
    with container.uow() as uow:
        thread = uow.threads.get(thread_id)
    assert thread is not None
    return thread.status


def events_of(container: Container, aggregate_id: str) -> list[tuple[str, dict[str, Any]]]:
    with container.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT event_type, payload FROM events.domain_events WHERE aggregate_id = :a ORDER BY version"),
            {"a": aggregate_id},
        ).all()
    return [(r.event_type, r.payload) for r in rows]


def outbox(container: Container, target: str) -> list[dict[str, Any]]:
    with container.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT payload FROM events.outbox WHERE target = :t ORDER BY created_at"), {"t": target}
        ).all()
    return [r.payload for r in rows]


# ---------------------------------------------------------------- status


def test_status_follows_who_has_the_thread_and_a_customer_message_reopens_it(container: Container) -> None:
    me = staff_user(container)
    thread_id = receive(container)
    assert core_status(container, thread_id) == row(container, thread_id)["status"] == "pending"  # the agent's

    hand_off(container, thread_id, "staff took over", by=f"user:{me}")
    assert (row(container, thread_id)["status"], row(container, thread_id)["handoff_requested"]) == ("open", False)

    until = START + timedelta(hours=4)
    container.bus.handle(SnoozeThread(thread_id, until, by=me))
    snoozed = row(container, thread_id)
    assert (snoozed["status"], snoozed["snoozed_until"]) == ("snoozed", until)
    assert core_status(container, thread_id) == "snoozed"

    receive(container, "hello? still there?")  # the customer writes: open again (staff have it)
    woke = row(container, thread_id)
    assert (woke["status"], woke["snoozed_until"]) == ("open", None)
    assert ("ThreadReopened", {"thread_id": thread_id, "status": "open", "by": "customer"}) in events_of(
        container, thread_id
    )

    container.bus.handle(ResolveThread(thread_id, by=me))
    assert row(container, thread_id)["status"] == "resolved" and row(container, thread_id)["waiting_since"] is None
    assert container.bus.handle(ResolveThread(thread_id, by=me)).body["changed"] is False
    receive(container, "one more thing")
    assert row(container, thread_id)["status"] == "open"

    container.bus.handle(HandBackThread(thread_id, by=me))
    assert row(container, thread_id)["status"] == "pending" and core_status(container, thread_id) == "pending"
    container.bus.handle(ResolveThread(thread_id, by=me))
    receive(container, "hi again")  # the agent has it: pending
    assert row(container, thread_id)["status"] == "pending"

    container.bus.handle(ResolveThread(thread_id, by=me))
    assert container.bus.handle(ReopenThread(thread_id, by=me)).body["status"] == "pending"
    assert container.bus.handle(ReopenThread(thread_id, by=me)).body["changed"] is False

    with pytest.raises(DomainError) as past:
        container.bus.handle(SnoozeThread(thread_id, START - timedelta(minutes=1), by=me))
    assert past.value.field == "until"
    with pytest.raises(NotFound):
        container.bus.handle(ResolveThread(str(uuid.uuid4()), by=me))
    with pytest.raises(NotFound):
        container.bus.handle(ResolveThread("not-a-thread", by=me))


def test_assignment_and_the_mine_and_unassigned_filters(container: Container) -> None:
    me, other = staff_user(container, "Sam Rivera"), staff_user(container, "Ana Ortiz")
    first = receive(container, contact="+19165550101")
    second = receive(container, contact="+19165550102")
    container.bus.handle(AssignThread(first, me, by=other))
    container.bus.handle(AssignThread(second, other, by=other))
    assert row(container, first)["assignee_id"] == me

    mine = admin.inbox(container, me, InboxFilter(mine=True))
    assert [(r.thread_id, r.assignee_name) for r in mine] == [(first, "Sam Rivera")]
    assert [r.thread_id for r in admin.inbox(container, other, InboxFilter(mine=True))] == [second]
    assert admin.inbox(container, me, InboxFilter(unassigned=True)) == []

    container.bus.handle(AssignThread(first, None, by=me))
    assert [r.thread_id for r in admin.inbox(container, me, InboxFilter(unassigned=True))] == [first]
    assert ("ThreadAssigned", {"thread_id": first, "assignee_id": None, "by": me}) in events_of(container, first)
    with pytest.raises(NotFound):
        container.bus.handle(AssignThread(first, str(uuid.uuid4()), by=me))
    assert [m.name for m in admin.staff_members(container)] == ["Ana Ortiz", "Sam Rivera"]


def test_notes_are_private_and_encrypted_at_rest(container: Container, agent: Any) -> None:
    me = staff_user(container, "Sam Rivera")
    thread_id = receive(container)
    secret = "Customer Quintessa says the gate code is 4471"
    note_id = container.bus.handle(AddThreadNote(thread_id, secret, by=me)).body["note_id"]
    with container.engine.connect() as conn:
        raw = conn.execute(text("SELECT string_agg(n::text, ' ') FROM core.thread_notes n")).scalar()
        body = conn.execute(text("SELECT encode(body_enc, 'escape') FROM core.thread_notes")).scalar()
        payloads = conn.execute(text("SELECT string_agg(payload::text, ' ') FROM events.domain_events")).scalar()
    for dump in (raw, body, payloads):
        assert dump and "Quintessa" not in dump and "4471" not in dump
    assert ("ThreadNoteAdded", {"thread_id": thread_id, "note_id": note_id, "by": me}) in events_of(
        container, thread_id
    )
    view = admin.thread_view(container, thread_id, graph=agent)
    assert [(n.body, n.author_name) for n in view.notes] == [(secret, "Sam Rivera")]
    assert all(m.author == "customer" for m in view.messages)  # a note is never a message

    with pytest.raises(DomainError) as long:
        container.bus.handle(AddThreadNote(thread_id, "x" * 4001, by=me))
    assert long.value.field == "body"
    with pytest.raises(NotFound):
        container.bus.handle(AddThreadNote(thread_id, "hi", by=str(uuid.uuid4())))


# ---------------------------------------------------------------- staff replies and the alert


def test_staff_reply_as_me_and_as_ai_in_human_mode(container: Container) -> None:
    me = staff_user(container, "Sam Rivera")
    thread_id = receive(container, "can someone call me?")
    with pytest.raises(DomainError) as refused:  # the agent has the thread: take it over first
        container.bus.handle(SendStaffReply(thread_id, "Hi!", as_ai=False, by=me))
    assert refused.value.field == "thread_id"

    hand_off(container, thread_id, "staff took over", by=me)
    receive(container, "hello?")
    assert row(container, thread_id)["waiting_since"] is not None
    own = container.bus.handle(SendStaffReply(thread_id, "Hi, this is Sam.", as_ai=False, by=me)).body
    as_ai = container.bus.handle(SendStaffReply(thread_id, "Happy to help with your party!", as_ai=True, by=me)).body
    assert (own["author"], as_ai["author"]) == ("staff", "ai")

    messages = transcript(container, thread_id)
    assert [(m.author, m.staff_id) for m in messages[-2:]] == [("staff", me), ("ai", me)]
    after = row(container, thread_id)
    assert (after["waiting_since"], after["unread_count"], after["last_author"]) == (None, 0, "ai")
    assert after["last_message_id"] == as_ai["message_id"]
    sent = outbox(container, SEND_SMS)
    assert [p["message_id"] for p in sent] == [own["message_id"], as_ai["message_id"]]  # texted like any reply

    view = admin.thread_view(container, thread_id, graph=_no_graph())
    assert [(m.author, m.staff_name) for m in view.messages[-2:]] == [("staff", "Sam Rivera"), ("ai", "Sam Rivera")]
    assert view.row.last_preview == "Happy to help with your party!"


def test_a_web_staff_reply_goes_out_with_no_text(container: Container) -> None:
    me = staff_user(container)
    thread_id = receive(container, channel="web", contact="session-0001")
    hand_off(container, thread_id, "staff took over", by=me)
    container.bus.handle(SendStaffReply(thread_id, "Hi there", as_ai=False, by=me))
    assert outbox(container, SEND_SMS) == []


def test_an_agent_handoff_raises_the_alert_first_in_the_inbox_until_staff_reply(container: Container) -> None:
    me = staff_user(container)
    quiet = receive(container, contact="+19165550101")
    clock_now = container.clock.now()
    asked = receive(container, contact="+19165550102")
    container.bus.handle(HandOffThread(asked, "customer_asked", "agent"))
    staff_took = receive(container, contact="+19165550103")
    hand_off(container, staff_took, "staff took over", by=me)

    alert = row(container, asked)
    assert (alert["handoff_requested"], alert["handoff_reason"], alert["status"]) == (True, "customer_asked", "open")
    assert row(container, staff_took)["handoff_requested"] is False

    rows = admin.inbox(container, me, InboxFilter())
    assert rows[0].thread_id == asked and rows[0].handoff_requested and rows[0].handoff_reason == "customer_asked"
    assert {r.thread_id for r in rows} == {quiet, asked, staff_took}
    assert [r.thread_id for r in admin.inbox(container, me, InboxFilter(handoff=True))] == [asked]
    assert {r.thread_id for r in admin.inbox(container, me, InboxFilter(human=True))} == {asked, staff_took}
    assert [r.thread_id for r in admin.inbox(container, me, InboxFilter(status="pending"))] == [quiet]
    assert rows[0].waiting_since is not None and rows[0].waiting_since >= clock_now

    container.bus.handle(SendStaffReply(asked, "Hi, Sam here.", as_ai=False, by=me))
    cleared = row(container, asked)
    assert (cleared["handoff_requested"], cleared["waiting_since"], cleared["status"]) == (False, None, "open")
    assert admin.inbox(container, me, InboxFilter(handoff=True)) == []


def test_assigning_or_resolving_an_alert_clears_it(container: Container) -> None:
    me = staff_user(container)
    one, two = receive(container, contact="+19165550101"), receive(container, contact="+19165550102")
    for thread_id in (one, two):
        container.bus.handle(HandOffThread(thread_id, "complaint", "agent"))
    container.bus.handle(AssignThread(one, me, by=me))
    container.bus.handle(ResolveThread(two, by=me))
    assert not row(container, one)["handoff_requested"] and not row(container, two)["handoff_requested"]


# ---------------------------------------------------------------- inbox search and the page's rows


def test_inbox_search_by_reference_phone_email_and_exact_name(container: Container) -> None:
    me = staff_user(container)
    booked = container.bus.handle(create_booking_cmd(first_name="Dana", last_name="Lee")).body
    dana_sms = receive(container, "about my party", contact="+19165550123")  # Dana's phone: her thread
    stranger = receive(container, "hi", contact="+19165550199")  # no customer: found by the sender's phone
    web = receive(container, "hello", channel="web", contact="session-0001")

    def found(search: str) -> set[str]:
        return {r.thread_id for r in admin.inbox(container, me, InboxFilter(search=search))}

    reference = booked["reference"]
    assert found(reference) == found(reference.lower()) == {dana_sms}
    for typed in ("+19165550123", "(916) 555-0123", "916.555.0123", "9165550123", "1 916 555 0123"):
        assert found(typed) == {dana_sms}, typed
    assert found("916-555-0199") == {stranger}
    assert found("Dana") == found("lee") == found("  dana   LEE ") == found("dana.lee@example.com") == {dana_sms}
    assert found("Dan") == found("Dana Le") == found("MH-22222") == found("916-555-0000") == set()
    assert web not in found("Dana")

    (dana,) = admin.inbox(container, me, InboxFilter(search="Dana Lee"))
    assert (dana.customer_name, dana.customer_id, dana.last_preview, dana.last_author) == (
        "Dana Lee",
        booked["customer_id"],
        "about my party",
        "customer",
    )
    assert {r.thread_id for r in admin.inbox(container, me, InboxFilter(channel="web"))} == {web}
    with pytest.raises(DomainError):
        admin.inbox(container, me, InboxFilter(status="closed"))


def test_a_booking_made_in_a_thread_links_the_thread_to_its_customer(container: Container) -> None:
    thread_id = receive(container, "hello", channel="web", contact="session-0002")
    assert row(container, thread_id)["customer_id"] is None
    cmd = create_booking_cmd()
    booked = container.bus.handle(type(cmd)(cmd.source, cmd.customer, cmd.booking, thread_id=thread_id)).body
    assert row(container, thread_id)["customer_id"] == booked["customer_id"]
    me = staff_user(container)
    assert [r.thread_id for r in admin.inbox(container, me, InboxFilter(search="Dana Lee"))] == [thread_id]


def test_previews_are_cut_to_120_characters(container: Container) -> None:
    me = staff_user(container)
    receive(container, "word " * 100)
    (only,) = admin.inbox(container, me, InboxFilter())
    assert only.last_preview is not None and len(only.last_preview) == 120 and only.last_preview.endswith("…")


# ---------------------------------------------------------------- thread view


def test_thread_view_shows_slots_and_in_human_mode_the_agents_suggested_reply(container: Container, agent: Any) -> None:
    session = str(uuid.uuid4())
    first = handle_inbound(container, channel="web", contact=session, text="dec 12 at 6pm", graph=agent)
    assert first.reply and "how many guests" in first.reply.lower()
    view = admin.thread_view(container, first.thread_id, graph=agent)
    assert view.slots == {"date": "2026-12-12", "time": "18:00"}
    assert view.suggested_reply is None  # the agent has the thread: nothing to suggest
    assert [(m.author, m.body) for m in view.messages] == [("customer", "dec 12 at 6pm"), ("ai", first.reply)]

    hand_off(container, first.thread_id, "staff took over")
    view = admin.thread_view(container, first.thread_id, graph=agent)
    assert view.suggested_reply is not None and "How many guests" in view.suggested_reply
    with container.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM core.bookings")).scalar() == 0


def test_the_suggested_reply_is_the_summary_once_everything_is_known(container: Container, agent: Any) -> None:
    session = str(uuid.uuid4())
    first = handle_inbound(container, channel="web", contact=session, text=ONE_MESSAGE, graph=agent)
    handle_inbound(container, channel="web", contact=session, text="yes", graph=agent)  # texts are fine
    hand_off(container, first.thread_id, "staff took over")
    view = admin.thread_view(container, first.thread_id, graph=agent)
    assert view.suggested_reply is not None
    assert "Shall I book it?" in view.suggested_reply and "$870" in view.suggested_reply
    with container.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM core.bookings")).scalar() == 0  # suggesting books nothing


# ---------------------------------------------------------------- customer 360, schedule, booking, payments


def test_customer_360_masks_contact_unless_revealed(container: Container) -> None:
    me = staff_user(container, "Sam Rivera")
    booked = container.bus.handle(create_booking_cmd(consent_sms=True)).body
    thread_id = receive(container, "about my party", contact="+19165550123")
    container.bus.handle(AddThreadNote(thread_id, "prefers calls after 5", by=me))

    masked = admin.customer_360(container, booked["customer_id"], reveal_contact=False)
    assert (masked["name"], masked["email"], masked["phone"]) == ("Dana Lee", "d***@example.com", "(***) ***-0123")
    shown = admin.customer_360(container, booked["customer_id"], reveal_contact=True)
    assert (shown["email"], shown["phone"]) == ("dana.lee@example.com", "+19165550123")

    assert masked["consent"] == {"sms": True, "email": False}
    assert [(c["channel"], c["granted"]) for c in masked["consent_history"]] == [("sms", True)]
    assert [b["reference"] for b in masked["bookings"]] == [booked["reference"]]
    assert [(p["kind"], p["amount_cents"]) for p in masked["payments"]] == [("deposit_due", 10000)]
    assert [t["thread_id"] for t in masked["threads"]] == [thread_id]
    assert [(n["body"], n["author_name"]) for n in masked["notes"]] == [("prefers calls after 5", "Sam Rivera")]
    kinds = [e["type"] for e in masked["timeline"]]
    assert {"LeadCreated", "ConsentUpdated", "BookingCreated", "ThreadStarted", "ThreadNoteAdded"} <= set(kinds)
    assert masked["summary"]["bookings_count"] == 1
    dump = json.dumps(masked, default=str)
    assert "dana.lee@" not in dump and "5550123" not in dump
    with pytest.raises(NotFound):
        admin.customer_360(container, str(uuid.uuid4()), reveal_contact=False)


def test_schedule_week_places_bookings_and_counts_free_chefs(container: Container) -> None:
    before = admin.schedule_week(container, date(2026, 12, 10))
    booked = container.bus.handle(create_booking_cmd(day="2026-12-12", slot="18:00")).body
    week = admin.schedule_week(container, date(2026, 12, 10))
    assert week["days"][0] == "2026-12-10" and len(week["days"]) == 7
    (placed,) = week["bookings"]
    assert (placed["reference"], placed["date"], placed["slot"], placed["guests"], placed["zone"]) == (
        booked["reference"],
        "2026-12-12",
        "18:00",
        15,
        booked["zone"],
    )
    chef_id = placed["chef_id"]
    assert week["grid"][chef_id]["2026-12-12"] == [placed]
    slot_before = before["capacity"]["2026-12-12"]["18:00"]["by_zone"][booked["zone"]]
    assert week["capacity"]["2026-12-12"]["18:00"]["by_zone"][booked["zone"]] == slot_before - 1
    assert week["capacity"]["2026-12-13"] == before["capacity"]["2026-12-13"]  # another day: untouched
    assert {c["id"] for c in week["chefs"]} == {c.id for c in container.business.chefs}


def test_booking_detail_mark_paid_and_resend_link(container: Container) -> None:
    me = staff_user(container)
    booked = container.bus.handle(create_booking_cmd(consent_sms=True, upgrades={"lobster_tail": 4})).body
    reference = booked["reference"]
    detail = admin.booking_detail(container, reference.lower())
    price = detail["price"]
    assert (detail["status"], detail["payment_status"], detail["deposit_link"]) == (
        "deposit_pending",
        "deposit_due",
        None,
    )
    assert price["food_cents"] + price["upgrades_cents"] + price["travel_fee_cents"] == price["total_due_cents"]
    assert detail["upgrades"][0]["code"] == "lobster_tail" and detail["upgrades"][0]["guests"] == 4
    assert [e["type"] for e in detail["events"]] == ["BookingCreated"]
    assert detail["address"] is None
    assert admin.booking_detail(container, reference, reveal_contact=True)["address"].startswith("2400 J St")

    resent = container.bus.handle(ResendPaymentLink(reference, by=me)).body
    assert resent == {"reference": reference, "amount_cents": booked["deposit_due_cents"], "sms": True}
    assert len(outbox(container, DEPOSIT_LINK)) == 2
    assert outbox(container, NOTIFY_PAYMENT_LINK) == [
        {"booking_id": booked["booking_id"], "reference": reference, "channel": "sms"}
    ]

    with pytest.raises(DomainError) as too_much:
        container.bus.handle(MarkDepositPaid(reference, booked["total_due_cents"] + 1, by=me))
    assert too_much.value.field == "amount_cents"
    paid = container.bus.handle(MarkDepositPaid(reference, booked["deposit_due_cents"], by=me)).body
    assert (paid["status"], paid["deposit_paid_cents"]) == ("deposit_paid", booked["deposit_due_cents"])
    after = admin.booking_detail(container, reference)
    assert (after["status"], after["payment_status"], after["price"]["paid_cents"]) == (
        "deposit_paid",
        "deposit_paid",
        booked["deposit_due_cents"],
    )
    assert [e["type"] for e in after["events"]] == ["BookingCreated", "PaymentLinkResent", "DepositPaid"]
    with container.engine.connect() as conn:
        board = conn.execute(text("SELECT status FROM read.schedule_board")).scalar()
    assert board == "deposit_paid"
    feed = admin.payments_feed(container)
    assert [f["kind"] for f in feed] == ["deposit_paid", "deposit_link_sent", "deposit_due"] or {
        f["kind"] for f in feed
    } == {"deposit_paid", "deposit_link_sent", "deposit_due"}
    with pytest.raises(DomainError):  # paid: no link to send
        container.bus.handle(ResendPaymentLink(reference, by=me))


def test_a_resent_link_is_not_texted_without_consent(container: Container) -> None:
    me = staff_user(container)
    booked = container.bus.handle(create_booking_cmd(consent_sms=False)).body
    assert container.bus.handle(ResendPaymentLink(booked["reference"], by=me)).body["sms"] is False
    assert outbox(container, NOTIFY_PAYMENT_LINK) == []


def test_payments_feed_is_newest_first(container: Container, clock: Any) -> None:
    me = staff_user(container)
    booked = container.bus.handle(create_booking_cmd()).body
    clock.current = START + timedelta(minutes=5)
    container.bus.handle(MarkDepositPaid(booked["reference"], 5000, by=me))
    feed = admin.payments_feed(container)
    assert [(f["kind"], f["amount_cents"]) for f in feed] == [("deposit_paid", 5000), ("deposit_due", 10000)]
    assert admin.booking_detail(container, booked["reference"])["payment_status"] == "partially_paid"


# ---------------------------------------------------------------- NOTIFY at commit


def test_every_thread_change_is_notified_at_commit_only(container: Container) -> None:
    me = staff_user(container)
    thread_id = receive(container)
    with psycopg.connect(libpq_url(container.engine.url.render_as_string(hide_password=False)), autocommit=True) as ear:
        ear.execute(f"LISTEN {INBOX_CHANNEL}")
        with container.uow() as uow:
            from services.handlers import assign_thread

            assign_thread(AssignThread(thread_id, me, by=me), uow, container.bus.context)
            assert list(ear.notifies(timeout=0.3)) == []  # not before the commit
            uow.commit()
        heard = list(ear.notifies(timeout=2, stop_after=1))
        assert [json.loads(n.payload) for n in heard] == [{"thread_id": thread_id, "kind": "ThreadAssigned"}]

        with container.uow() as uow:  # rolled back: never heard
            assign_thread(AssignThread(thread_id, None, by=me), uow, container.bus.context)
        assert list(ear.notifies(timeout=0.3)) == []

        container.bus.handle(AddThreadNote(thread_id, "note", by=me))
        receive(container, "another")
        heard = list(ear.notifies(timeout=2, stop_after=2))
        assert [json.loads(n.payload)["kind"] for n in heard] == ["ThreadNoteAdded", "MessageReceived"]


# ---------------------------------------------------------------- hand back with corrections


def test_hand_back_with_a_corrected_date_continues_the_booking_on_that_date(container: Container, agent: Any) -> None:
    me = staff_user(container)
    session = str(uuid.uuid4())
    first = handle_inbound(container, channel="web", contact=session, text="dec 12 at 6pm", graph=agent)
    thread_id = first.thread_id
    asked = handle_inbound(container, channel="web", contact=session, text="can I talk to a real person", graph=agent)
    assert asked.mode == "human" and row(container, thread_id)["handoff_requested"]

    with pytest.raises(DomainError) as bad:
        hand_back_with_corrections(container, thread_id, {"date": "12/14"}, by=me, graph=agent)
    assert bad.value.field == "date"
    with pytest.raises(DomainError):
        hand_back_with_corrections(container, thread_id, {"colour": "red"}, by=me, graph=agent)
    assert row(container, thread_id)["mode"] == "human"  # refused corrections hand nothing back

    hand_back_with_corrections(container, thread_id, {"date": "2026-12-14", "time": "18:00"}, by=me, graph=agent)
    assert row(container, thread_id)["mode"] == "ai" and row(container, thread_id)["status"] == "pending"
    assert thread_slots(container, thread_id, graph=agent) == {"date": "2026-12-14", "time": "18:00"}
    assert ("ThreadSlotsCorrected", {"thread_id": thread_id, "slots": ["date"], "by": me}) in events_of(
        container, thread_id
    )

    said = "12 adults and 3 kids at 2400 J St Sacramento CA 95816, I'm Dana Lee, dana@example.com, 916-555-0123"
    nxt = handle_inbound(container, channel="web", contact=session, text=said, graph=agent)
    assert nxt.reply and "?" in nxt.reply
    for answer in ("no thanks", "yes", "yes", "yes"):
        done = handle_inbound(container, channel="web", contact=session, text=answer, graph=agent)
        with container.engine.connect() as conn:
            booked = conn.execute(text("SELECT event_date, reference FROM core.bookings")).all()
        if booked:
            break
    assert [b.event_date for b in booked] == [date(2026, 12, 14)], done.reply
    assert booked[0].reference in (done.reply or "")
    assert row(container, thread_id)["customer_id"] is not None  # the booking linked the thread


# ---------------------------------------------------------------- takeover racing turns


def _no_graph() -> Any:
    """A graph stand-in for threads the agent never ran on: an empty state."""

    class Snapshot:
        values: ClassVar[dict[str, Any]] = {}

    class Empty:
        def get_state(self, config: Any) -> Snapshot:
            return Snapshot()

    return Empty()


def test_a_takeover_racing_running_turns_never_lets_an_ai_reply_through(container: Container, agent: Any) -> None:
    """Many rounds of a customer's text (its turn running, paused a random moment after the graph)
    against a staff takeover arriving a random moment later: whichever wins, an AI reply is stored
    (and texted) only if it was stored before the takeover, never after."""
    rng = random.Random(6)
    for n in range(24):
        _race_once(container, agent, f"+1916555{1000 + n:04d}", f"race-{n}", rng.uniform(0, 0.05), rng.uniform(0, 0.12))


def _race_once(container: Container, agent: Any, phone: str, provider_id: str, pause: float, delay: float) -> None:
    spy = GraphSpy(agent, pause=pause)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def customer() -> None:
        try:
            start.wait()
            receive_sms(container, phone, "dec 12 at 6pm", provider_id, graph=spy.compiled)
        except BaseException as error:  # reported below
            errors.append(error)

    def staff() -> None:
        try:
            start.wait()
            time.sleep(delay)
            for _ in range(400):  # the thread exists once the customer's message is stored
                if _thread_of(container, phone):
                    break
                time.sleep(0.005)
            hand_off(container, _thread_of(container, phone) or "", "staff took over")
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=customer), threading.Thread(target=staff)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert not errors, errors
    thread_id = _thread_of(container, phone)
    assert thread_id is not None
    stream = events_of(container, thread_id)
    handoff_at = next(i for i, (kind, _) in enumerate(stream) if kind == "ThreadHandedOff")
    ai_replies = [i for i, (kind, p) in enumerate(stream) if kind == "ReplyRecorded" and p["author"] == "ai"]
    assert all(i < handoff_at for i in ai_replies), stream  # an AI reply only ever before the takeover
    stored_ai = [m for m in transcript(container, thread_id) if m.author == "ai"]
    assert len(stored_ai) == len(ai_replies) <= 1
    texts = [p for p in outbox(container, SEND_SMS) if p["thread_id"] == thread_id]
    assert len(texts) == len(stored_ai)  # nothing was texted that was not stored before the takeover


def _thread_of(container: Container, phone: str) -> str | None:
    with container.uow() as uow:
        found = uow.conn.execute(
            text("SELECT id FROM core.message_threads WHERE channel = 'sms' AND contact_bidx = :b"),
            {"b": uow.threads.contact_index("sms", phone)},
        ).scalar()
    return str(found) if found else None


def test_housekeeping_reopens_a_snoozed_thread_when_its_time_comes(container: Container, clock: Any) -> None:
    from services.maintenance import wake_snoozed_threads

    me = staff_user(container)
    thread_id = receive(container, "hi, question about my party")
    hand_off(container, thread_id, "staff took over", by=f"user:{me}")
    container.bus.handle(SnoozeThread(thread_id, START + timedelta(hours=2), by=me))
    clock.advance(timedelta(hours=1))
    assert wake_snoozed_threads(container) == 0 and row(container, thread_id)["status"] == "snoozed"
    clock.advance(timedelta(hours=1, seconds=1))
    assert wake_snoozed_threads(container) == 1
    assert (row(container, thread_id)["status"], row(container, thread_id)["snoozed_until"]) == ("open", None)
    assert ("ThreadReopened", {"thread_id": thread_id, "status": "open", "by": "system"}) in events_of(
        container, thread_id
    )
    assert wake_snoozed_threads(container) == 0
