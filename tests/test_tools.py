"""The tools: what the model sees (never the injected caller, customer or idempotency key) and
what they return on the business's refusals."""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.utils.function_calling import convert_to_openai_tool

from hibachi.bootstrap import Container
from tests.factories import create_booking_cmd
from tools import TOOLS, Caller, cancel_booking, check_availability, create_booking, quote_price, reschedule_booking

INJECTED = {"caller", "customer_id", "idempotency_key"}


def test_injected_arguments_are_hidden_from_the_model_and_every_tool_is_documented() -> None:
    for tool in TOOLS:
        visible = set(convert_to_openai_tool(tool)["function"]["parameters"]["properties"])  # what a model sees
        assert not visible & INJECTED, tool.name
        assert "caller" in getattr(tool.args_schema, "model_fields", {}), tool.name  # injected at call time
        assert tool.description and len(tool.description) > 80, tool.name


def test_check_availability_explains_window_off_slot_area_and_taken(container: Container) -> None:
    caller = Caller(container, "t-1")

    def check(**args: Any) -> dict[str, Any]:
        return dict(check_availability.invoke({**args, "caller": caller}))

    soon = check(date="2026-12-02")
    assert soon["ok"] is False and soon["error"]["field"] == "date" and soon["earliest"] == "2026-12-03"
    off = check(date="2026-12-12", time="19:00")
    assert off["time_offered"] is False and off["nearest_times"] == ["18:00", "21:00"]
    far = check(date="2026-12-12", zip_code="10001", time="18:00")
    assert far["error"]["code"] == "outside_service_area" and "Sacramento" in far["areas"]
    for i in range(3):
        container.bus.handle(create_booking_cmd(email=f"g{i}@example.com", phone=f"+1916555030{i}"))
    taken = check(date="2026-12-12", zip_code="95816", time="18:00")
    assert taken["available"] is False
    assert taken["alternatives"][:3] == [
        {"date": "2026-12-12", "slot": "12:00"},
        {"date": "2026-12-12", "slot": "15:00"},
        {"date": "2026-12-12", "slot": "21:00"},
    ]


def test_without_a_zip_a_time_full_in_every_zone_is_full_and_one_open_somewhere_is_not_promised(
    container: Container,
) -> None:
    caller = Caller(container, "t-4")

    def check(**args: Any) -> dict[str, Any]:
        return dict(check_availability.invoke({**args, "caller": caller}))

    open_ = check(date="2026-12-12", time="18:00")
    assert "available" not in open_ and "18:00" in open_["free_times"]
    # Maria serves zones A and B only: with Kenji and Tony booked, 6pm is open in Sacramento, not the Bay Area.
    for i in range(2):
        container.bus.handle(
            create_booking_cmd(
                email=f"h{i}@example.com",
                phone=f"+1916555040{i}",
                zip_code="94110",
                address="500 Valencia St, San Francisco, CA 94110",
            )
        )
    somewhere = check(date="2026-12-12", time="18:00")
    assert "available" not in somewhere and "18:00" in somewhere["free_times"]
    assert check(date="2026-12-12", zip_code="94110", time="18:00")["available"] is False
    container.bus.handle(create_booking_cmd(email="h9@example.com", phone="+19165550409"))
    full = check(date="2026-12-12", time="18:00")
    assert full["available"] is False and "18:00" not in full["free_times"]
    assert full["alternatives"][0] == {"date": "2026-12-12", "slot": "12:00"}


def test_quote_price_returns_the_formatted_total_and_refuses_a_too_large_party(container: Container) -> None:
    caller = Caller(container, "t-2")
    quote = quote_price.invoke(
        {"adults": 12, "kids": 3, "zip_code": "95816", "upgrades": {"lobster_tail": 4}, "caller": caller}
    )
    assert (quote["ok"], quote["total_due"], quote["deposit_due"]) == (True, "$870.00", "$100.00")
    big = quote_price.invoke({"adults": 61, "kids": 0, "zip_code": "95816", "caller": caller})
    assert big["ok"] is False and big["error"]["field"] == "party"


def test_create_booking_with_the_same_key_books_once(container: Container) -> None:
    caller = Caller(container, "t-3", "sms", customer_phone="+19165550123")
    args = {
        "date": "2026-12-12",
        "time": "18:00",
        "address": "2400 J St, Sacramento, CA 95816",
        "adults": 10,
        "kids": 0,
        "first_name": "Ana",
        "last_name": "Ruiz",
        "phone": "+15555550100",  # by SMS the sender's number wins
        "caller": caller,
        "idempotency_key": "agent:t-3:create-booking:0",
    }
    first = create_booking.invoke(args)
    again = create_booking.invoke(args)
    assert first["ok"] and again["replayed"] and again["reference"] == first["reference"]
    with container.uow() as uow:
        customer = uow.customers.get(first["customer_id"])
    assert customer is not None and customer.phone == "+19165550123"


def test_reschedule_and_cancel_refuse_another_customers_booking(container: Container) -> None:
    theirs = container.bus.handle(create_booking_cmd(email="other@example.com", phone="+19165550177")).body
    mine = container.bus.handle(create_booking_cmd(day="2026-12-19", email="me@example.com", phone="+19165550188")).body
    caller = Caller(container, "t-4", "sms", customer_phone="+19165550188")
    common = {"reference": theirs["reference"], "caller": caller, "customer_id": mine["customer_id"]}
    moved = reschedule_booking.invoke({**common, "date": "2026-12-26", "time": "18:00", "idempotency_key": "k1"})
    gone = cancel_booking.invoke({**common, "idempotency_key": "k2"})
    assert moved["error"]["code"] == "not_found" and gone["error"]["code"] == "not_found"
    assert container.queries.booking(theirs["reference"])["status"] == "deposit_pending"


def test_handoff_to_staff_puts_the_thread_in_human_mode(container: Container) -> None:
    from domain.commands import ReceiveMessage
    from tools.staff import handoff_to_staff

    thread_id = container.bus.handle(ReceiveMessage("sms", "+19165550177", "I want a person")).body["thread_id"]
    result = handoff_to_staff.invoke(
        {"reason": "customer_asked", "caller": Caller(container, thread_id, "sms", customer_phone="+19165550177")}
    )
    assert result["ok"] and result["handed_off"] and result["mode"] == "human"
    with container.uow() as uow:
        thread = uow.threads.get(thread_id)
    assert thread is not None and (thread.mode, thread.handoff_reason) == ("human", "customer_asked")

    studio = handoff_to_staff.invoke({"reason": "complaint", "caller": Caller(container, str(uuid.uuid4()))})
    assert studio["ok"] and not studio["handed_off"]  # no inbox thread: the graph's interrupt alone pauses it
