"""Each command's state, events and outbox rows, on the real database through the bus."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from db.event_store import EventStore
from db.tables import bookings, consents, customer_360, customers, domain_events, outbox, payments_feed, schedule_board
from domain.commands import CancelBooking, RescheduleBooking, UpdateConsent
from domain.errors import ConcurrencyConflict, DomainError, NotFound, OutsideServiceArea, SlotUnavailable
from domain.events import LeadCreated
from hibachi.bootstrap import Container
from tests.factories import create_booking_cmd


def rows(container: Container, query: Any) -> list[Any]:
    with container.engine.connect() as conn:
        return list(conn.execute(query).all())


def events_of(container: Container, aggregate_id: str) -> list[tuple[int, str]]:
    return [
        (r.version, r.event_type)
        for r in rows(
            container,
            select(domain_events.c.version, domain_events.c.event_type)
            .where(domain_events.c.aggregate_id == aggregate_id)
            .order_by(domain_events.c.version),
        )
    ]


def outbox_targets(container: Container, aggregate_id: str) -> list[str]:
    return sorted(
        r.target for r in rows(container, select(outbox.c.target).where(outbox.c.aggregate_id == aggregate_id))
    )


def test_create_booking_writes_booking_events_outbox_and_read_models(container: Container) -> None:
    result = container.bus.handle(create_booking_cmd(upgrades={"lobster_tail": 4}, consent_sms=True))

    assert result.status == 201
    body = result.body
    assert body["reference"].startswith("MH-") and len(body["reference"]) == 8
    assert (body["total_due_cents"], body["deposit_due_cents"], body["total_due"]) == (87000, 10000, "$870.00")
    assert body["status"] == "deposit_pending"

    assert events_of(container, body["booking_id"]) == [(1, "BookingCreated")]
    assert events_of(container, body["customer_id"]) == [(1, "LeadCreated"), (2, "ConsentUpdated")]
    assert outbox_targets(container, body["booking_id"]) == [
        "calendar.booking_event",
        "notify.booking_confirmation",
        "payments.create_deposit_link",
    ]
    board = rows(container, select(schedule_board))
    assert [(r.reference, r.guests, r.status) for r in board] == [(body["reference"], 15, "deposit_pending")]
    assert [(r.kind, r.amount_cents) for r in rows(container, select(payments_feed))] == [("deposit_due", 10000)]
    c360 = rows(container, select(customer_360))[0]
    assert (c360.bookings_count, c360.lifetime_value_cents, c360.consent_sms) == (1, 87000, True)
    assert c360.next_event_date == dt.date(2026, 12, 12)
    ledger = rows(container, select(consents.c.channel, consents.c.granted, consents.c.source))
    assert [tuple(r) for r in ledger] == [("sms", True, "web")]


def test_returning_customer_is_found_by_blind_index_and_gets_no_new_lead(container: Container) -> None:
    first = container.bus.handle(create_booking_cmd(email="Dana.Lee@Example.com", phone=None))
    second = container.bus.handle(
        create_booking_cmd(day="2026-12-19", email=" dana.lee@example.COM ", phone="(916) 555-0123")
    )

    assert first.body["customer_id"] == second.body["customer_id"]
    assert rows(container, select(func.count()).select_from(customers))[0][0] == 1
    assert events_of(container, first.body["customer_id"]) == [(1, "LeadCreated")]
    with container.uow() as uow:
        record = uow.customers.get(first.body["customer_id"])
    assert record is not None
    # the phone given the second time is attached to the customer found by email
    assert (record.email, record.phone) == ("dana.lee@example.com", "+19165550123")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"zip_code": "10001"}, "booking.zip"),
        ({"zip_code": "9581"}, "booking.zip"),
        ({"slot": "19:00"}, "booking.slot"),
        ({"day": "2026-12-02"}, "booking.date"),  # today + 1: inside the lead time
        ({"day": "2027-06-01"}, "booking.date"),  # beyond 180 days
        ({"adults": 50, "kids": 11}, "booking.party"),
        ({"adults": 0, "kids": 0}, "booking.party"),
        ({"upgrades": {"caviar": 2}}, "booking.upgrades.caviar"),
        ({"upgrades": {"lobster_tail": 16}}, "booking.upgrades.lobster_tail"),
        ({"email": "not-an-email"}, "customer.email"),
        ({"phone": "12", "email": None}, "customer.phone"),
        ({"phone": None, "email": None}, "customer.email"),
        ({"first_name": "  "}, "customer.first_name"),
        ({"address": " "}, "booking.address"),
        ({"source": "fax"}, "source"),
    ],
)
def test_create_booking_refuses_bad_input_naming_the_field_and_writes_nothing(
    container: Container, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(DomainError) as caught:
        container.bus.handle(create_booking_cmd(**changes))
    assert caught.value.field == field
    for table in (bookings, customers, domain_events, outbox):
        assert rows(container, select(func.count()).select_from(table))[0][0] == 0, table.name


def test_outside_service_area_is_its_own_error(container: Container) -> None:
    with pytest.raises(OutsideServiceArea, match="outside the service area"):
        container.bus.handle(create_booking_cmd(zip_code="90210"))


def test_zone_limits_which_chefs_can_take_a_slot(container: Container) -> None:
    # Zone C (Bay Area) is served by Kenji and Tony only: the third request finds no chef.
    for i in range(2):
        container.bus.handle(create_booking_cmd(zip_code="94105", email=f"bay{i}@example.com", phone=None))
    with pytest.raises(SlotUnavailable) as caught:
        container.bus.handle(create_booking_cmd(zip_code="94105", email="bay3@example.com", phone=None))
    alternatives = [(a.date, a.slot) for a in caught.value.alternatives]
    # same day, other slots first (the two chefs can still do 12:00, 15:00 and 21:00), then nearby dates
    assert alternatives[:3] == [("2026-12-12", "12:00"), ("2026-12-12", "15:00"), ("2026-12-12", "21:00")]
    assert alternatives[3:] == [("2026-12-11", "18:00"), ("2026-12-13", "18:00"), ("2026-12-10", "18:00")]


def test_reschedule_moves_the_booking_and_is_free_once(container: Container) -> None:
    created = container.bus.handle(create_booking_cmd()).body
    moved = container.bus.handle(RescheduleBooking(created["reference"], dt.date(2026, 12, 20), "15:00")).body

    assert (moved["date"], moved["slot"], moved["version"]) == ("2026-12-20", "15:00", 2)
    assert moved["chef_name"] == created["chef_name"]  # the same chef is kept when free
    assert events_of(container, created["booking_id"]) == [(1, "BookingCreated"), (2, "BookingRescheduled")]
    assert "notify.booking_rescheduled" in outbox_targets(container, created["booking_id"])
    board = rows(container, select(schedule_board.c.event_date, schedule_board.c.slot))[0]
    assert (board.event_date, board.slot) == (dt.date(2026, 12, 20), dt.time(15, 0))

    with pytest.raises(DomainError, match="already rescheduled"):
        container.bus.handle(RescheduleBooking(created["reference"], dt.date(2026, 12, 21), "15:00"))
    staff = container.bus.handle(
        RescheduleBooking(created["reference"], dt.date(2026, 12, 21), "15:00", source="staff")
    )
    assert staff.body["date"] == "2026-12-21"


def test_reschedule_into_a_full_slot_offers_alternatives(container: Container) -> None:
    for i in range(3):
        container.bus.handle(create_booking_cmd(day="2026-12-20", email=f"full{i}@example.com", phone=None))
    mine = container.bus.handle(create_booking_cmd(email="me@example.com", phone=None)).body
    with pytest.raises(SlotUnavailable) as caught:
        container.bus.handle(RescheduleBooking(mine["reference"], dt.date(2026, 12, 20), "18:00"))
    assert caught.value.alternatives
    assert events_of(container, mine["booking_id"]) == [(1, "BookingCreated")]


def test_cancel_refunds_the_deposit_only_a_week_ahead(container: Container) -> None:
    early = container.bus.handle(create_booking_cmd(day="2026-12-08", email="a@example.com", phone=None)).body
    late = container.bus.handle(create_booking_cmd(day="2026-12-07", email="b@example.com", phone=None)).body
    with container.engine.begin() as conn:  # deposits paid (the payments issue records these)
        conn.execute(bookings.update().values(deposit_paid_cents=10000))

    refunded = container.bus.handle(CancelBooking(early["reference"], "plans changed")).body
    kept = container.bus.handle(CancelBooking(late["reference"])).body

    assert (refunded["status"], refunded["deposit_refundable"], refunded["refund_cents"]) == ("cancelled", True, 10000)
    assert (kept["deposit_refundable"], kept["refund_cents"]) == (False, 0)
    assert outbox_targets(container, early["booking_id"]) == [
        "calendar.booking_event",
        "calendar.booking_event",
        "notify.booking_cancelled",
        "notify.booking_confirmation",
        "payments.create_deposit_link",
        "payments.refund_deposit",
    ]
    assert "payments.refund_deposit" not in outbox_targets(container, late["booking_id"])
    assert events_of(container, early["booking_id"])[-1] == (2, "BookingCancelled")
    with pytest.raises(DomainError, match="is cancelled"):
        container.bus.handle(CancelBooking(early["reference"]))


def test_cancelled_booking_frees_the_chef(container: Container) -> None:
    refs = [
        container.bus.handle(create_booking_cmd(email=f"c{i}@example.com", phone=None)).body["reference"]
        for i in range(3)
    ]
    with pytest.raises(SlotUnavailable):
        container.bus.handle(create_booking_cmd(email="late@example.com", phone=None))
    container.bus.handle(CancelBooking(refs[0]))
    assert container.bus.handle(create_booking_cmd(email="late@example.com", phone=None)).status == 201


def test_unknown_booking_is_not_found(container: Container) -> None:
    with pytest.raises(NotFound) as caught:
        container.bus.handle(CancelBooking("MH-ZZZZZ"))
    assert caught.value.field == "reference"


def test_update_consent_records_the_ledger_and_state(container: Container) -> None:
    created = container.bus.handle(create_booking_cmd(consent_sms=True)).body
    result = container.bus.handle(
        UpdateConsent(channel="sms", granted=False, source="sms", phone="916-555-0123", source_message_id="rc-1")
    )
    assert result.body == {"customer_id": created["customer_id"], "channel": "sms", "granted": False}
    ledger = rows(container, select(consents.c.granted, consents.c.source_message_id).order_by(consents.c.recorded_at))
    assert [tuple(r) for r in ledger] == [(True, None), (False, "rc-1")]
    assert rows(container, select(customers.c.consent_sms))[0][0] is False
    assert events_of(container, created["customer_id"])[-1] == (3, "ConsentUpdated")
    assert rows(container, select(customer_360.c.consent_sms))[0][0] is False

    with pytest.raises(NotFound):
        container.bus.handle(UpdateConsent(channel="sms", granted=False, source="sms", customer_id=str(uuid.uuid4())))
    with pytest.raises(DomainError) as caught:
        container.bus.handle(UpdateConsent(channel="fax", granted=True, source="sms", phone="+19165550123"))
    assert caught.value.field == "channel"


def test_a_stop_from_an_unknown_number_is_recorded(container: Container) -> None:
    result = container.bus.handle(
        UpdateConsent(channel="sms", granted=False, source="sms", phone="(916) 555-0999", source_message_id="rc-9")
    ).body
    with container.uow() as uow:
        record = uow.customers.find(phone="+19165550999")
    assert record is not None and record.id == result["customer_id"]
    assert (record.first_name, record.consent_sms) == ("", False)
    assert events_of(container, record.id) == [(1, "LeadCreated"), (2, "ConsentUpdated")]
    ledger = rows(container, select(consents.c.granted, consents.c.source_message_id))
    assert [tuple(r) for r in ledger] == [(False, "rc-9")]
    # the same number booking later is the same customer, with the opt-out kept
    created = container.bus.handle(create_booking_cmd(email="new@example.com", phone="+19165550999")).body
    assert created["customer_id"] == record.id
    with container.uow() as uow:
        booked = uow.customers.get(record.id)
    # ...and the booking fills in the name and email the contact-only row lacked
    assert booked is not None
    assert (booked.first_name, booked.last_name, booked.email) == ("Dana", "Lee", "new@example.com")
    # a name already on file is not overwritten by a later booking under another name
    container.bus.handle(create_booking_cmd(first_name="Dee", phone="+19165550999", email=None, day="2026-12-19"))
    with container.uow() as uow:
        again = uow.customers.get(record.id)
    assert again is not None and again.first_name == "Dana"


def test_event_store_refuses_a_stale_expected_version(container: Container) -> None:
    created = container.bus.handle(create_booking_cmd()).body
    with container.uow() as uow, pytest.raises(ConcurrencyConflict):
        store = EventStore(uow.conn)
        store.append(
            created["customer_id"],
            0,  # the customer is already at version 1
            [LeadCreated(customer_id=created["customer_id"], source="web")],
            occurred_at=container.clock.now(),
        )
        store.flush()
