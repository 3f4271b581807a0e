"""Booking emails: confirmation, reschedule and cancellation notices, payment receipts and reminders,
each plain text plus HTML with the booking's summary, sent through the SMTP adapter
(integrations/email) as outbox targets.

- Which email an outbox target sends: EMAIL_KINDS. The payload names the booking; the email is
  rendered at send time from the booking as it stands then (a receipt shows what is paid by then).
- Transactional mail needs no marketing consent; a customer without an email (or erased) gets
  none: the row is done with `skipped`, not dead-lettered.
- Message-ID is the outbox row's id, so a retried send carries the same id (see the adapter).
- Templates: services/email_templates/<kind>.txt and .html (Jinja2, HTML autoescaped).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from agent import wording
from db.outbox import OutboxMessage
from db.sql import execute
from db.uow import UnitOfWork
from domain.business import Business
from domain.clock import Clock
from domain.money import format_usd
from services import handlers
from services.outbox_dispatcher import Target

TEMPLATES = Path(__file__).parent / "email_templates"

# outbox target -> (template, subject); `{reference}` and `{day}` are filled in
EMAIL_KINDS: dict[str, tuple[str, str]] = {
    handlers.NOTIFY_CONFIRMED: ("confirmation", "Your hibachi party is booked ({reference})"),
    handlers.NOTIFY_RESCHEDULED: ("rescheduled", "Your party moved to {day} ({reference})"),
    handlers.NOTIFY_CANCELLED: ("cancelled", "Your party is cancelled ({reference})"),
    handlers.NOTIFY_RECEIPT: ("receipt", "Receipt for your hibachi party ({reference})"),
    handlers.NOTIFY_REMINDER: ("reminder", "See you on {day} ({reference})"),
}


# A journey's email (its `send_email` template, in the reminder row's payload): subject and lead.
JOURNEY_EMAILS: dict[str, tuple[str, str]] = {
    "deposit_reminder": (
        "The deposit holds your date ({reference})",
        "A reminder: the deposit holds your date. Pay it from the secure link we sent, or reply and we will"
        " send it again.",
    ),
    "menu_and_allergies": (
        "Your party is in three days ({reference})",
        "Your party is coming up! Reply with everyone's protein choices and any allergies so the chef can prepare.",
    ),
    "thank_you": (
        "Thank you for having us ({reference})",
        "Thank you for having us! If you enjoyed it, a short review would mean a lot. Reply anytime to book again.",
    ),
    "balance_reminder": (
        "Your balance is due on the day ({reference})",
        "A reminder: the balance is due on the day of the party.",
    ),
}


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.globals["usd"] = format_usd
    return env


class BookingEmails:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        business: Business,
        mailer: Mailer,
        clock: Clock,
        *,
        sender: str,
        deposit_link: Callable[[str], str | None],
    ) -> None:
        self.uow_factory = uow_factory
        self.business = business
        self.mailer = mailer
        self.clock = clock
        self.sender = sender
        self.deposit_link = deposit_link
        self.env = _environment()

    def targets(self) -> dict[str, Target]:
        return {name: self.send for name in EMAIL_KINDS}

    def send(self, message: OutboxMessage) -> Mapping[str, Any]:
        composed = self.compose(message)
        if composed is None:
            return {"skipped": "no email address"}
        self.mailer.send(composed)
        return {"emailed": True, "message_id": composed["Message-ID"]}

    def compose(self, message: OutboxMessage) -> EmailMessage | None:
        """The email for this outbox row, or None when the customer has no address."""
        template, subject = EMAIL_KINDS[message.target]
        lead = ""
        journey_email = message.payload.get("template")
        if message.target == handlers.NOTIFY_REMINDER and journey_email in JOURNEY_EMAILS:
            template = "journey"
            subject, lead = JOURNEY_EMAILS[str(journey_email)]
        facts = self._facts(str(message.payload["booking_id"]))
        if facts is None or not facts["to"]:
            return None
        b = facts["b"]
        values = facts | {
            "business": self.business,
            "day": wording.day_text(b["date"]),
            "time": wording.time_text(b["slot"]),
            "party": wording.party_text(b["adults"], b["kids"], b["adults"] + b["kids"]),
            "upgrades": wording.upgrades_text(b["upgrades"]) if b["upgrades"] else "",
            "policy": wording.policy_answer("cancellation", self.business) or "",
            "amount_cents": int(message.payload.get("amount_cents") or 0),
            "refund_cents": int(message.payload.get("refund_cents") or 0),
            "balance_cents": max(b["total_due_cents"] - b["deposit_paid_cents"], 0),
            "link": self.deposit_link(b["reference"]) if template == "confirmation" else None,
            "lead": lead,
        }
        values["subject"] = subject.format(reference=b["reference"], day=values["day"])
        email = EmailMessage()
        email["Subject"] = values["subject"]
        email["From"] = formataddr((self.business.name, self.sender))
        email["To"] = facts["to"]
        email["Date"] = format_datetime(self.clock.now())
        email["Message-ID"] = f"<{message.id}@{self.sender.rpartition('@')[2] or 'localhost'}>"
        email.set_content(self.env.get_template(f"{template}.txt").render(values))
        email.add_alternative(self.env.get_template(f"{template}.html").render(values), subtype="html")
        return email

    def _facts(self, booking_id: str) -> dict[str, Any] | None:
        with self.uow_factory() as uow:
            row = execute(
                uow.conn,
                "SELECT id, reference, customer_id, chef_id, event_date, slot, adults, kids, total_due_cents,"
                " deposit_due_cents, deposit_paid_cents, address_enc FROM core.bookings WHERE id = %s",
                (booking_id,),
            ).fetchone()
            if row is None:
                return None
            customer = uow.customers.get(str(row.customer_id))
            address = uow.cipher.readable(
                row.address_enc, table="core.bookings", column="address_enc", row_id=str(row.id)
            )
            upgrades = {
                u.code: u.guests
                for u in execute(
                    uow.conn, "SELECT code, guests FROM core.booking_upgrades WHERE booking_id = %s", (booking_id,)
                )
            }
        b = {
            "reference": row.reference,
            "date": row.event_date.isoformat(),
            "slot": row.slot.strftime("%H:%M"),
            "adults": row.adults,
            "kids": row.kids,
            "upgrades": upgrades,
            "chef_name": self.business.chef_name(str(row.chef_id)),
            "total_due_cents": row.total_due_cents,
            "deposit_due_cents": row.deposit_due_cents,
            "deposit_paid_cents": row.deposit_paid_cents,
        }
        email = customer.email if customer else None
        first = customer.first_name if customer else ""
        to = formataddr((f"{first} {customer.last_name}".strip(), email)) if customer and email else None
        return {"b": b, "to": to, "first_name": first, "address": address}
