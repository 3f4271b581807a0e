"""The SMS sender: every text passes its send-time check. Opted out and no express consent are
refused with a recorded reason; a notice in quiet hours is held until the window opens; a direct
reply goes at any hour; the number's area code picks the local time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.security import SESSION_COOKIE
from domain.clock import FixedClock
from domain.commands import RecordReply, UpdateConsent
from domain.texting import decide, next_allowed
from hibachi.bootstrap import Container
from services import handlers
from services.admin import thread_view
from services.conversations import receive_sms
from services.sms import SEND_SMS, candidate_zones, enqueue_notice
from tests.factories import create_booking_cmd
from tests.test_admin_pages import login

LA = ZoneInfo("America/Los_Angeles")
PHONE = "+19165550142"  # Sacramento: Pacific time
NEW_YORK = "+12125550142"


def at_local(clock: FixedClock, hour: int, minute: int = 0, zone: ZoneInfo = LA) -> None:
    clock.current = datetime(2026, 12, 1, hour, minute, tzinfo=zone)


def outbox_rows(container: Container, target: str) -> list[dict[str, Any]]:
    with container.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM events.outbox WHERE target = :t ORDER BY created_at, id"), {"t": target}
        ).fetchall()
    return [dict(r._mapping) for r in rows]


def refusals(container: Container) -> list[str]:
    with container.engine.connect() as conn:
        return [r.reason for r in conn.execute(text("SELECT reason FROM integra.sms_refusals ORDER BY recorded_at"))]


def notice_for(container: Container, *, phone: str, consent: bool) -> str:
    command = create_booking_cmd(phone=phone, email=f"{phone[1:]}@example.com", consent_sms=consent)
    booking = container.bus.handle(command).body
    with container.uow() as uow:
        enqueue_notice(
            uow,
            handlers.NOTIFY_PAYMENT_LINK,
            {"booking_id": booking["booking_id"], "reference": booking["reference"]},
            aggregate_id=booking["booking_id"],
        )
        uow.commit()
    return str(booking["booking_id"])


# ---------------------------------------------------------------- the rules (pure)


def test_the_window_and_the_stricter_zone() -> None:
    late_pacific = datetime(2026, 12, 1, 18, 30, tzinfo=LA)  # 21:30 in New York
    assert next_allowed(late_pacific, ["America/Los_Angeles"]) == late_pacific
    held = next_allowed(late_pacific, ["America/New_York"])
    assert held == datetime(2026, 12, 2, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    both = next_allowed(datetime(2026, 12, 1, 6, 0, tzinfo=LA), ["America/Los_Angeles", "America/New_York"])
    assert both == datetime(2026, 12, 1, 8, 0, tzinfo=LA)  # 08:00 in both: the later opening
    assert decide(latest_consent=None, direct_reply=True, confirms_opt_out=False, now=held, zones=["UTC"]).send
    refused = decide(latest_consent=False, direct_reply=True, confirms_opt_out=False, now=held, zones=["UTC"])
    assert refused.reason == "opted_out"


def test_local_zones_come_from_the_area_code() -> None:
    assert candidate_zones(PHONE, "America/Los_Angeles") == ["America/Los_Angeles"]
    assert candidate_zones(NEW_YORK, "America/Los_Angeles") == ["America/New_York"]
    toll_free = candidate_zones("+18005550142", "America/Los_Angeles")  # ambiguous: all of them and ours
    assert {"America/New_York", "America/Los_Angeles", "Pacific/Honolulu"} <= set(toll_free)


# ---------------------------------------------------------------- sending


def test_an_opted_out_number_gets_only_the_confirmation(container: Container, agent: Any) -> None:
    stop = receive_sms(container, PHONE, "STOP", "rc-s-1", graph=agent)
    container.bus.handle(RecordReply(stop.thread_id, "One more thing about your party...", "system"))
    container.dispatcher.dispatch_due()
    confirmation, later = outbox_rows(container, SEND_SMS)
    assert confirmation["status"] == "done"
    assert (later["status"], later["last_error"]) == ("dead", "permanent: refused: opted_out")
    assert refusals(container) == ["opted_out"]
    # Staff see it on the thread.
    view = thread_view(container, stop.thread_id, graph=agent)
    assert [t["why"] for t in view.texts_not_sent] == ["the number opted out (STOP)"]
    member = login(container)
    with TestClient(create_app(container), base_url="https://testserver") as client:
        client.cookies.set(SESSION_COOKIE, member.cookie)
        page = client.get(f"/admin/threads/{stop.thread_id}")
    assert page.status_code == 200 and "Texts not sent" in page.text and "opted out (STOP)" in page.text


def test_consent_withdrawn_after_enqueue_is_caught_at_send_time(container: Container, agent: Any) -> None:
    first = receive_sms(container, PHONE, "hi, what do you charge?", "rc-s-2", graph=agent)
    assert first.reply
    container.bus.handle(UpdateConsent(channel="sms", granted=False, source="staff", phone=PHONE))
    container.dispatcher.dispatch_due()
    (reply,) = outbox_rows(container, SEND_SMS)
    assert (reply["status"], reply["last_error"]) == ("dead", "permanent: refused: opted_out")


def test_without_express_consent_a_reply_goes_but_a_notice_is_refused(
    container: Container, agent: Any, clock: FixedClock
) -> None:
    first = receive_sms(container, PHONE, "hi, what do you charge?", "rc-s-3", graph=agent)
    notice_for(container, phone=PHONE, consent=False)
    container.dispatcher.dispatch_due()
    (reply,) = outbox_rows(container, SEND_SMS)
    assert reply["status"] == "done"  # the customer texted us: conversational consent
    (notice,) = outbox_rows(container, handlers.NOTIFY_PAYMENT_LINK)
    assert (notice["status"], notice["last_error"]) == ("dead", "permanent: refused: no_consent")
    # Two days on, a message out of the blue on the thread is not a reply any more.
    clock.advance(timedelta(days=2))
    container.bus.handle(RecordReply(first.thread_id, "Still interested?", "system"))
    container.dispatcher.dispatch_due()
    assert outbox_rows(container, SEND_SMS)[-1]["last_error"] == "permanent: refused: no_consent"
    assert refusals(container) == ["no_consent", "no_consent"]


def test_a_notice_at_2130_local_is_held_until_0800_then_sent(container: Container, clock: FixedClock) -> None:
    at_local(clock, 21, 30)
    notice_for(container, phone=PHONE, consent=True)
    container.dispatcher.dispatch_due()
    (held,) = outbox_rows(container, handlers.NOTIFY_PAYMENT_LINK)
    morning = datetime(2026, 12, 2, 8, 0, tzinfo=LA)
    assert (held["status"], held["attempts"], held["available_at"]) == ("pending", 0, morning)
    assert held["last_error"].startswith("held: quiet_hours until 2026-12-02T08:00:00-08:00")
    assert refusals(container) == ["quiet_hours"]
    clock.current = morning - timedelta(minutes=1)
    container.dispatcher.dispatch_due()
    assert outbox_rows(container, handlers.NOTIFY_PAYMENT_LINK)[0]["status"] == "pending"
    clock.current = morning
    container.dispatcher.dispatch_due()
    assert outbox_rows(container, handlers.NOTIFY_PAYMENT_LINK)[0]["status"] == "done"


def test_a_reply_at_2300_is_sent(container: Container, agent: Any, clock: FixedClock) -> None:
    at_local(clock, 23, 0)
    result = receive_sms(container, PHONE, "hi, are you free dec 12?", "rc-s-4", graph=agent)
    assert result.reply
    container.dispatcher.dispatch_due()
    assert [r["status"] for r in outbox_rows(container, SEND_SMS)] == ["done"]
    assert refusals(container) == []


def test_a_new_york_number_uses_the_stricter_window(container: Container, clock: FixedClock) -> None:
    at_local(clock, 18, 30)  # 18:30 here, 21:30 in New York
    notice_for(container, phone=NEW_YORK, consent=True)
    container.dispatcher.dispatch_due()
    (held,) = outbox_rows(container, handlers.NOTIFY_PAYMENT_LINK)
    assert held["status"] == "pending"
    assert held["available_at"] == datetime(2026, 12, 2, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    notice_for_pacific = notice_for(container, phone=PHONE, consent=True)
    container.dispatcher.dispatch_due()
    statuses = {str(r["aggregate_id"]): r["status"] for r in outbox_rows(container, handlers.NOTIFY_PAYMENT_LINK)}
    assert statuses[notice_for_pacific] == "done"  # still inside the window in Sacramento


def test_resending_a_link_texts_only_with_express_consent(container: Container) -> None:
    from domain.commands import ResendPaymentLink

    no = container.bus.handle(create_booking_cmd(phone=PHONE, consent_sms=False)).body
    assert container.bus.handle(ResendPaymentLink(no["reference"], "staff")).body["sms"] is False
    yes = container.bus.handle(create_booking_cmd(phone=NEW_YORK, email="b@example.com", consent_sms=True)).body
    assert container.bus.handle(ResendPaymentLink(yes["reference"], "staff")).body["sms"] is True
