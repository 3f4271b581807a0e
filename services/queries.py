"""Queries: read-only answers (availability, quotes, a booking by reference). They never write."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, time, timedelta
from time import monotonic, sleep
from typing import Any

from sqlalchemy import or_, select

from db.tables import booking_upgrades, bookings, outbox, payment_links, schedule_board
from db.uow import UnitOfWork
from domain import availability
from domain.availability import ALTERNATIVE_SEARCH_DAYS
from domain.booking import ACTIVE_STATUSES
from domain.contact import normalize_email, normalize_phone
from domain.errors import NotFound
from domain.money import format_usd
from domain.pricing import Party, quote
from domain.zones import normalize_zip, zone_for_zip
from services.context import ServiceContext
from services.handlers import DEPOSIT_LINK

# What every booking query shows: its non-personal facts.
BOOKING_COLUMNS = (
    bookings.c.id,
    bookings.c.reference,
    bookings.c.status,
    bookings.c.event_date,
    bookings.c.slot,
    bookings.c.zone_id,
    bookings.c.adults,
    bookings.c.kids,
    bookings.c.total_due_cents,
    bookings.c.deposit_due_cents,
    bookings.c.deposit_paid_cents,
)


def _booking_facts(row: Any) -> dict[str, Any]:
    return {
        "reference": row.reference,
        "status": row.status,
        "date": row.event_date.isoformat(),
        "slot": _hhmm(row.slot),
        "zone": row.zone_id,
        "party": {"adults": row.adults, "kids": row.kids},
        "total_due_cents": row.total_due_cents,
        "deposit_due_cents": row.deposit_due_cents,
        "deposit_paid_cents": row.deposit_paid_cents,
        "total_due": format_usd(row.total_due_cents),
        "deposit_due": format_usd(row.deposit_due_cents),
    }


class Queries:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], context: ServiceContext) -> None:
        self.uow_factory = uow_factory
        self.context = context

    def availability(self, day: date, zip_code: str) -> dict[str, Any]:
        business = self.context.business
        zone = zone_for_zip(business, zip_code)
        today = availability.local_today(self.context.clock.now(), business.timezone)
        availability.check_lead_time(business.calendar, today, day)
        # Neighbouring days matter only when buffers cross midnight; read them to be exact.
        touched = [d for s in business.calendar.slots for d in availability.days_to_lock(business.calendar, day, s)]
        with self.uow_factory() as uow:
            schedules = uow.chefs.schedules(min(touched), max(touched))
        open_slots = availability.open_slots(business.calendar, schedules, zone.id, day)
        return {
            "date": day.isoformat(),
            "zip": normalize_zip(zip_code),
            "zone": {"id": zone.id, "name": zone.name, "travel_fee_cents": zone.travel_fee_cents},
            "slots": [
                {"slot": slot.strftime("%H:%M"), "available": count > 0, "chefs_free": count}
                for slot, count in open_slots.items()
            ],
        }

    def quote(self, adults: int, kids: int, zip_code: str, upgrades: Mapping[str, int]) -> dict[str, Any]:
        business = self.context.business
        zone = zone_for_zip(business, zip_code)
        party = Party(adults, kids)
        availability.check_party(business.party, party)
        price = quote(business.pricing, zone, party, upgrades)
        return {
            "zone": zone.id,
            "party": {"adults": adults, "kids": kids},
            "food_cents": price.food_cents,
            "upgrades": [
                {"code": code, "guests": count, "unit_cents": unit, "cents": count * unit}
                for code, count, unit in price.upgrade_lines
            ],
            "upgrades_cents": price.upgrades_cents,
            "minimum_cents": price.minimum_cents,
            "minimum_applied": price.minimum_applied,
            "travel_fee_cents": price.travel_fee_cents,
            "total_due_cents": price.total_due_cents,
            "deposit_due_cents": price.deposit_due_cents,
            "total_due": format_usd(price.total_due_cents),
            "deposit_due": format_usd(price.deposit_due_cents),
        }

    def booking(self, reference: str) -> dict[str, Any]:
        """A booking's non-personal facts (who booked it is not shown to an unauthenticated caller)."""
        with self.uow_factory() as uow:
            row = uow.conn.execute(
                select(*BOOKING_COLUMNS, schedule_board.c.chef_name)
                .join(schedule_board, schedule_board.c.booking_id == bookings.c.id)
                .where(bookings.c.reference == reference.strip().upper())
            ).first()
            if row is None:
                raise NotFound(f"no booking {reference!r}", field="reference")
            upgrades = {
                r.code: r.guests
                for r in uow.conn.execute(
                    select(booking_upgrades.c.code, booking_upgrades.c.guests).where(
                        booking_upgrades.c.booking_id == row.id
                    )
                )
            }
        return _booking_facts(row) | {"chef_name": row.chef_name, "upgrades": upgrades}

    def availability_anywhere(self, day: date) -> dict[str, Any]:
        """Before the address is known: for each offered start time, how many chefs are free in the
        zone with the most free (0 means no chef anywhere could take it: the time is full for everyone)."""
        business = self.context.business
        today = availability.local_today(self.context.clock.now(), business.timezone)
        availability.check_lead_time(business.calendar, today, day)
        touched = [d for s in business.calendar.slots for d in availability.days_to_lock(business.calendar, day, s)]
        with self.uow_factory() as uow:
            schedules = uow.chefs.schedules(min(touched), max(touched))
        by_zone = [availability.open_slots(business.calendar, schedules, zone.id, day) for zone in business.zones]
        return {
            "date": day.isoformat(),
            "slots": [
                {"slot": slot.strftime("%H:%M"), "available": most > 0, "chefs_free": most}
                for slot in business.calendar.slots
                for most in [max(counts[slot] for counts in by_zone)]
            ],
        }

    def alternatives(self, day: date, slot: str, zip_code: str | None) -> list[dict[str, str]]:
        """What a customer could take instead of a full (day, slot): the same rule create-booking
        answers a 409 with (the day's other free slots, then the nearest dates with that slot).
        Without a ZIP, for the zone the most chefs serve."""
        business = self.context.business
        if zip_code is None:
            zone = max(business.zones, key=lambda z: sum(z.id in chef.zones for chef in business.chefs))
        else:
            zone = zone_for_zip(business, zip_code)
        wanted = availability.parse_slot(business.calendar, slot)
        today = availability.local_today(self.context.clock.now(), business.timezone)
        window = timedelta(days=ALTERNATIVE_SEARCH_DAYS + 1)
        with self.uow_factory() as uow:
            schedules = uow.chefs.schedules(day - window, day + window)
        options = availability.alternatives(business, schedules, zone.id, today, day, wanted)
        return [{"date": option.date, "slot": option.slot} for option in options]

    def customer_bookings(
        self, *, phone: str | None = None, email: str | None = None, customer_id: str | None = None
    ) -> dict[str, Any] | None:
        """A customer (found by id, else email, else phone) and their active bookings, soonest first;
        None when no customer matches. For the agent's manage flow: the caller has already proved
        who they are (the SMS sender's phone, or an email plus a booking reference)."""
        with self.uow_factory() as uow:
            if customer_id:
                record = uow.customers.get(customer_id)
            else:
                record = uow.customers.find(
                    email=normalize_email(email) if email else None,
                    phone=normalize_phone(phone) if phone else None,
                )
            if record is None:
                return None
            rows = uow.conn.execute(
                select(*BOOKING_COLUMNS, bookings.c.zip, bookings.c.reschedule_count)
                .where(bookings.c.customer_id == record.id, bookings.c.status.in_(ACTIVE_STATUSES))
                .order_by(bookings.c.event_date, bookings.c.slot)
            ).all()
        return {
            "customer_id": record.id,
            "first_name": record.first_name,
            "bookings": [
                _booking_facts(row) | {"zip": row.zip, "reschedule_count": row.reschedule_count} for row in rows
            ],
        }

    # How long deposit_link waits for a link still being made (bootstrap sets it when a payments
    # adapter is wired): the agent's booking reply is written right after the booking commits,
    # while the outbox is still asking Stripe for the Checkout Session.
    deposit_link_wait_seconds: float = 0.0

    def deposit_link(self, reference: str, *, wait: bool = True) -> str | None:
        """The booking's newest open, unexpired deposit link (a Stripe Checkout URL); None when
        there is none (not made yet, paid, expired, or no payments adapter gives URLs). With `wait`,
        a link still being made is waited for (up to deposit_link_wait_seconds)."""
        deadline = monotonic() + (self.deposit_link_wait_seconds if wait else 0.0)
        now = self.context.clock.now()
        while True:
            with self.uow_factory() as uow:
                url = uow.conn.execute(
                    select(payment_links.c.url)
                    .join(bookings, bookings.c.id == payment_links.c.booking_id)
                    .where(
                        bookings.c.reference == reference.strip().upper(),
                        payment_links.c.status == "open",
                        or_(payment_links.c.expires_at.is_(None), payment_links.c.expires_at > now),
                    )
                    .order_by(payment_links.c.created_at.desc())
                    .limit(1)
                ).scalar()
                pending = (
                    url is None
                    and monotonic() < deadline
                    and uow.conn.execute(
                        select(outbox.c.id)
                        .join(bookings, bookings.c.id == outbox.c.aggregate_id)
                        .where(
                            bookings.c.reference == reference.strip().upper(),
                            outbox.c.target == DEPOSIT_LINK,
                            outbox.c.status == "pending",
                        )
                        .limit(1)
                    ).first()
                    is not None
                )
            if not pending:
                return url if isinstance(url, str) and url else None
            sleep(0.1)

    def schedule(self, start: date, end: date, chef_id: str | None = None) -> list[dict[str, Any]]:
        """Events on the schedule board (the read model) between two dates, one chef's or all."""
        query = (
            select(schedule_board)
            .where(schedule_board.c.event_date.between(start, end))
            .order_by(schedule_board.c.event_date, schedule_board.c.slot, schedule_board.c.chef_name)
        )
        if chef_id is not None:
            query = query.where(schedule_board.c.chef_id == chef_id)
        with self.uow_factory() as uow:
            rows = uow.conn.execute(query).all()
        return [
            {
                "reference": row.reference,
                "chef_id": str(row.chef_id),
                "chef_name": row.chef_name,
                "date": row.event_date.isoformat(),
                "slot": _hhmm(row.slot),
                "zone": row.zone_id,
                "guests": row.guests,
                "status": row.status,
            }
            for row in rows
        ]

    def web_messages(self, session_id: str, after_seq: int) -> list[dict[str, Any]]:
        """The web widget's poll: what the business sent to this session after `after_seq` (staff
        replies while they have the conversation, notices), each with its `seq`."""
        with self.uow_factory() as uow:
            sent = uow.threads.sent_to("web", session_id, after_seq)
        return [{"seq": m.seq, "from": m.author, "text": m.body} for m in sent]

    def sms_opted_out(self, phone: str) -> bool:
        """True when this number withdrew its SMS consent and has not given it again."""
        with self.uow_factory() as uow:
            return uow.consents.sms_state(normalize_phone(phone)) is False


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")
