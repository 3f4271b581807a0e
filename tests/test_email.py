"""Booking emails over SMTP (aiosmtplib) to a local SMTP server (aiosmtpd): confirmation, reschedule,
cancellation, receipt and reminder, plain text plus HTML with the booking summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from db.outbox import OutboxMessage
from domain.commands import CancelBooking, MarkDepositPaid, RescheduleBooking
from hibachi.bootstrap import LOGGING_TARGETS, Container
from integrations.email import MailCatcher, SmtpConfig, SmtpMailer
from services import handlers
from services.email import BookingEmails
from services.outbox_dispatcher import OutboxDispatcher
from tests.factories import create_booking_cmd


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[tuple[MailCatcher, SmtpConfig]]:
    server = MailCatcher(tmp_path / "mail")
    config = server.start()
    yield server, config
    server.stop()


def emails_for(container: Container, config: SmtpConfig) -> BookingEmails:
    return BookingEmails(
        container.uow,
        container.business,
        SmtpMailer(config),
        container.clock,
        sender="bookings@myhibachi.example",
        deposit_link=lambda reference: container.queries.deposit_link(reference, wait=False),
    )


def dispatch(container: Container, emails: BookingEmails) -> int:
    return OutboxDispatcher(container.uow, LOGGING_TARGETS | emails.targets(), container.clock).dispatch_due()


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return str(plain.get_content()), str(html.get_content())


def outbox(container: Container, target: str) -> list[Any]:
    with container.engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT id, status, result, last_error FROM events.outbox WHERE target = :t ORDER BY created_at"),
                {"t": target},
            )
        )


def test_a_booking_is_confirmed_by_email_with_its_summary(
    container: Container, catcher: tuple[MailCatcher, SmtpConfig]
) -> None:
    server, config = catcher
    booked = container.bus.handle(create_booking_cmd(upgrades={"lobster_tail": 4})).body
    dispatch(container, emails_for(container, config))
    (mail,) = server.messages
    (row,) = outbox(container, handlers.NOTIFY_CONFIRMED)
    assert row.status == "done" and row.result["emailed"] is True
    assert mail["To"] == "Dana Lee <dana.lee@example.com>" and "bookings@myhibachi.example" in mail["From"]
    assert mail["Subject"] == f"Your hibachi party is booked ({booked['reference']})"
    assert mail["Message-ID"] == f"<{row.id}@myhibachi.example>"
    plain, html = parts(mail)
    for words in (booked["reference"], "Saturday, December 12", "6pm", "2400 J St", "$100.00", "Dana"):
        assert words in plain and words in html, words
    assert "lobster" in plain and "refundable" in plain  # the upgrade and the cancellation policy
    assert (server.handler.folder / "00001.eml").exists()  # type: ignore[operator]


def test_receipt_reschedule_cancel_and_reminder(container: Container, catcher: tuple[MailCatcher, SmtpConfig]) -> None:
    server, config = catcher
    emails = emails_for(container, config)
    reference = container.bus.handle(create_booking_cmd()).body["reference"]
    container.bus.handle(MarkDepositPaid(reference, 10000, by="staff"))
    container.bus.handle(RescheduleBooking(reference, dt.date(2026, 12, 19), "18:00"))
    container.bus.handle(CancelBooking(reference, reason="changed plans"))
    with container.uow() as uow:
        uow.outbox.add_many([(handlers.NOTIFY_REMINDER, {"booking_id": booking_id(container, reference)})])
        uow.commit()
    dispatch(container, emails)
    subjects = [m["Subject"] for m in server.messages]
    assert subjects == [
        f"Your hibachi party is booked ({reference})",
        f"Receipt for your hibachi party ({reference})",
        f"Your party moved to Saturday, December 19 ({reference})",
        f"Your party is cancelled ({reference})",
        f"See you on Saturday, December 19 ({reference})",
    ]
    receipt, _ = parts(server.messages[1])
    assert "we received $100.00" in receipt and "balance of $710.00" in receipt
    cancelled, _ = parts(server.messages[3])
    assert "refunding $100.00" in cancelled  # more than 7 days before: the deposit comes back


def booking_id(container: Container, reference: str) -> str:
    with container.engine.connect() as conn:
        return str(conn.execute(text("SELECT id FROM core.bookings WHERE reference = :r"), {"r": reference}).scalar())


def test_a_retried_send_carries_the_same_message_id_and_html_is_escaped(
    container: Container, catcher: tuple[MailCatcher, SmtpConfig]
) -> None:
    server, config = catcher
    emails = emails_for(container, config)
    container.bus.handle(create_booking_cmd(address="<b>12 Oak St</b> & Co, Sacramento"))
    (row,) = outbox(container, handlers.NOTIFY_CONFIRMED)
    message = OutboxMessage(str(row.id), handlers.NOTIFY_CONFIRMED, dict(row_payload(container, row.id)), 0, 8)
    emails.send(message)
    emails.send(message)  # the outbox retried after a broken connection
    first, second = server.messages
    assert first["Message-ID"] == second["Message-ID"]
    plain, html = parts(first)
    assert "<b>12 Oak St</b> & Co" in plain and "&lt;b&gt;12 Oak St&lt;/b&gt; &amp; Co" in html


def row_payload(container: Container, outbox_id: Any) -> dict[str, Any]:
    with container.engine.connect() as conn:
        payload: dict[str, Any] = conn.execute(
            text("SELECT payload FROM events.outbox WHERE id = :i"), {"i": outbox_id}
        ).scalar_one()
    return payload


def test_no_address_no_email_and_a_down_server_is_retried(
    container: Container, catcher: tuple[MailCatcher, SmtpConfig]
) -> None:
    server, config = catcher
    container.bus.handle(create_booking_cmd(email=None))
    dispatch(container, emails_for(container, config))
    (row,) = outbox(container, handlers.NOTIFY_CONFIRMED)
    assert row.status == "done" and row.result == {"skipped": "no email address"} and server.messages == []
    container.bus.handle(create_booking_cmd(slot="12:00", email="kim@example.com", phone="+19165550999"))
    server.stop()
    dispatch(container, emails_for(container, config))
    pending = outbox(container, handlers.NOTIFY_CONFIRMED)[-1]
    assert pending.status == "pending" and pending.last_error  # tried, failed, will be retried


def test_smtp_settings_name_what_is_wrong(settings_env: pytest.MonkeyPatch) -> None:
    from hibachi.settings import SettingsError, load_settings

    monkeypatch = settings_env
    monkeypatch.delenv("SMTP_HOST", raising=False)
    assert load_settings().smtp() is None  # the local mail catcher's cue
    monkeypatch.setenv("SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("SMTP_USERNAME", "apikey")
    with pytest.raises(SettingsError, match="SMTP_PASSWORD"):
        load_settings().smtp()
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("SMTP_SECURITY", "tls")
    config = load_settings().smtp()
    assert config is not None and (config.host, config.port, config.security) == ("smtp.example.com", 587, "tls")
    assert config.password == "s3cret"


def test_a_journey_email_has_its_own_subject_and_lead(
    container: Container, catcher: tuple[MailCatcher, SmtpConfig]
) -> None:
    server, config = catcher
    reference = container.bus.handle(create_booking_cmd()).body["reference"]
    with container.uow() as uow:
        payload = {"booking_id": booking_id(container, reference), "template": "menu_and_allergies"}
        uow.outbox.add_many([(handlers.NOTIFY_REMINDER, payload)])
        uow.commit()
    dispatch(container, emails_for(container, config))
    journey = next(m for m in server.messages if "three days" in m["Subject"])
    plain, html = parts(journey)
    assert "protein choices" in plain and "protein choices" in html and reference in plain
