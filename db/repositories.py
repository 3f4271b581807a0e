"""Repositories: load and save aggregates. They encrypt personal data on the way in and decrypt it
on the way out; callers never see a ciphertext or write a plaintext column."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select, text, update

from db.envelope import owner_key
from db.pii import BlindIndex, FieldCipher
from db.sql import execute, executemany
from db.tables import booking_upgrades, bookings, customers
from domain.availability import ChefSchedule
from domain.booking import Booking
from domain.business import Business
from domain.errors import ConcurrencyConflict


def normalize_name(value: str) -> str:
    """A name as its blind index sees it: lower-case, inner whitespace collapsed to one space."""
    return " ".join(value.split()).lower()


def name_index(blind: BlindIndex, value: str | None) -> bytes | None:
    """The keyed hash staff search a first, last or full name by (None for no name)."""
    normalized = normalize_name(value or "")
    return blind.of("name", normalized) if normalized else None


def name_indexes(blind: BlindIndex, first_name: str | None, last_name: str | None) -> dict[str, bytes | None]:
    full = f"{first_name or ''} {last_name or ''}"
    return {
        "first_name_bidx": name_index(blind, first_name),
        "last_name_bidx": name_index(blind, last_name),
        "full_name_bidx": name_index(blind, full),
    }


@dataclass
class CustomerRecord:
    id: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    consent_sms: bool
    consent_email: bool
    version: int


class CustomerRepository:
    def __init__(self, conn: Connection, cipher: FieldCipher, blind: BlindIndex) -> None:
        self.conn = conn
        self.cipher = cipher
        self.blind = blind

    def _enc(self, column: str, row_id: str, value: str | None) -> bytes | None:
        """Sealed with the customer's own data key (db/envelope.py)."""
        if value is None:
            return None
        key = owner_key(self.cipher, self.conn, row_id, "customer")
        return self.cipher.encrypt(value, table="core.customers", column=column, row_id=row_id, data_key=key)

    def _dec(self, column: str, row_id: str, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        return self.cipher.readable(blob, table="core.customers", column=column, row_id=row_id)

    def _record(self, row: Any) -> CustomerRecord:
        return CustomerRecord(
            id=str(row.id),
            first_name=self._dec("first_name_enc", row.id, row.first_name_enc) or "",
            last_name=self._dec("last_name_enc", row.id, row.last_name_enc) or "",
            email=self._dec("email_enc", row.id, row.email_enc),
            phone=self._dec("phone_enc", row.id, row.phone_enc),
            consent_sms=row.consent_sms,
            consent_email=row.consent_email,
            version=row.version,
        )

    def get(self, customer_id: str) -> CustomerRecord | None:
        row = execute(self.conn, f"SELECT {CUSTOMER_COLUMNS} FROM core.customers WHERE id = %s", (customer_id,))
        found = row.fetchone()
        return self._record(found) if found else None

    def erased(self, customer_id: str) -> bool:
        """Whether the customer was erased on request (services/privacy.py)."""
        row = execute(self.conn, "SELECT erased_at FROM core.customers WHERE id = %s", (customer_id,)).fetchone()
        return row is not None and row.erased_at is not None

    def many(self, customer_ids: list[str]) -> dict[str, CustomerRecord]:
        """The customers of these ids (one query), by id; unknown ids are absent."""
        if not customer_ids:
            return {}
        rows = execute(
            self.conn, f"SELECT {CUSTOMER_COLUMNS} FROM core.customers WHERE id = ANY(%s::uuid[])", (customer_ids,)
        )
        return {str(row.id): self._record(row) for row in rows}

    def find(self, *, email: str | None = None, phone: str | None = None) -> CustomerRecord | None:
        """By normalised email first, then phone (one query)."""
        email_bidx = self.blind.of("email", email) if email else None
        phone_bidx = self.blind.of("phone", phone) if phone else None
        if email_bidx is None and phone_bidx is None:
            return None
        rows = execute(
            self.conn,
            f"SELECT {CUSTOMER_COLUMNS} FROM core.customers WHERE email_bidx = %s OR phone_bidx = %s",
            (email_bidx, phone_bidx),
        ).fetchall()
        # the email match first
        found = sorted(rows, key=lambda row: email_bidx is not None and row.email_bidx != email_bidx)
        return self._record(found[0]) if found else None

    def insert_if_absent(
        self,
        *,
        first_name: str,
        last_name: str,
        email: str | None,
        phone: str | None,
        consent_sms: bool = False,
        version: int = 0,
    ) -> CustomerRecord | None:
        """Insert a new customer (at `version`, the one after the events the caller publishes for it);
        None when a customer with this email or phone exists (or is being created concurrently)."""
        row_id = str(uuid.uuid4())
        owner_key(self.cipher, self.conn, row_id, "customer", new=True)  # _enc below seals with it
        names = name_indexes(self.blind, first_name, last_name)
        created = execute(
            self.conn,
            INSERT_CUSTOMER,
            (
                row_id,
                self._enc("first_name_enc", row_id, first_name),
                self._enc("last_name_enc", row_id, last_name),
                self._enc("email_enc", row_id, email),
                self.blind.of("email", email) if email else None,
                self._enc("phone_enc", row_id, phone),
                self.blind.of("phone", phone) if phone else None,
                consent_sms,
                version,
                names["first_name_bidx"],
                names["last_name_bidx"],
                names["full_name_bidx"],
            ),
        ).fetchone()
        if created is None:
            self.conn.execute(text("DELETE FROM core.data_keys WHERE owner_id = :id"), {"id": row_id})
            return None
        return CustomerRecord(row_id, first_name, last_name, email, phone, consent_sms, False, version)

    def add_missing_details(
        self,
        record: CustomerRecord,
        *,
        first_name: str | None,
        last_name: str | None,
        email: str | None,
        phone: str | None,
    ) -> None:
        """Fill in what the customer's row lacks: a name (a contact-only customer, made by an SMS
        STOP or START before any booking, has none) and an email or phone, unless someone else holds it."""
        values: dict[str, Any] = {}
        if first_name and not record.first_name:
            values["first_name_enc"] = self._enc("first_name_enc", record.id, first_name)
            record.first_name = first_name
        if last_name and not record.last_name:
            values["last_name_enc"] = self._enc("last_name_enc", record.id, last_name)
            record.last_name = last_name
        if values:  # a name was filled in: index it for staff search
            values |= name_indexes(self.blind, record.first_name, record.last_name)
        if email and not record.email and not self.find(email=email):
            values |= {
                "email_enc": self._enc("email_enc", record.id, email),
                "email_bidx": self.blind.of("email", email),
            }
        if phone and not record.phone and not self.find(phone=phone):
            values |= {
                "phone_enc": self._enc("phone_enc", record.id, phone),
                "phone_bidx": self.blind.of("phone", phone),
            }
        if values:
            self.conn.execute(update(customers).where(customers.c.id == record.id).values(**values))

    def cache_consent(self, record: CustomerRecord, channel: str, granted: bool) -> None:
        """Set customers.consent_<channel>, the cache of the consent ledger's current state (written by
        services.consent.record_consent only)."""
        column = {"sms": "consent_sms", "email": "consent_email"}[channel]
        self.conn.execute(update(customers).where(customers.c.id == record.id).values({column: granted}))
        setattr(record, column, granted)

    def bump_version(self, record: CustomerRecord, new_version: int, at: datetime) -> None:
        """Move the customer to `new_version` (optimistically: fails if another writer moved it first)."""
        result = execute(
            self.conn,
            "UPDATE core.customers SET version = %s, updated_at = %s WHERE id = %s AND version = %s",
            (new_version, at, record.id, record.version),
        )
        if result.rowcount != 1:
            raise ConcurrencyConflict(f"customer {record.id} changed concurrently")
        record.version = new_version


INSERT_CUSTOMER = (
    "INSERT INTO core.customers"
    " (id, first_name_enc, last_name_enc, email_enc, email_bidx, phone_enc, phone_bidx, consent_sms, version,"
    " first_name_bidx, last_name_bidx, full_name_bidx)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id"
)
CUSTOMER_COLUMNS = (
    "id, first_name_enc, last_name_enc, email_enc, email_bidx, phone_enc, phone_bidx,"
    " consent_sms, consent_email, version"
)


class ChefRepository:
    """Chefs' schedules. The roster (ids, order, zones) comes from the business file; only their
    events are read from the database."""

    def __init__(self, conn: Connection, business: Business) -> None:
        self.conn = conn
        self.business = business

    def _events(
        self, first_day: date, last_day: date, *, exclude_booking: str | None, chef_id: str | None = None
    ) -> dict[str, list[datetime]]:
        rows = execute(
            self.conn,
            "SELECT chef_id, event_date, slot FROM core.bookings"
            " WHERE event_date BETWEEN %(first)s AND %(last)s AND status IN ('deposit_pending', 'deposit_paid')"
            " AND (%(exclude)s::uuid IS NULL OR id <> %(exclude)s::uuid)"
            " AND (%(chef)s::uuid IS NULL OR chef_id = %(chef)s::uuid)",
            {"first": first_day, "last": last_day, "exclude": exclude_booking, "chef": chef_id},
        )
        events: dict[str, list[datetime]] = defaultdict(list)
        for chef, day, slot in rows:
            events[str(chef)].append(datetime.combine(day, slot))
        return events

    def _busy(self, first_day: date, last_day: date, chef_id: str | None) -> dict[str, list[tuple[datetime, datetime]]]:
        # A day either side: a busy interval there can still reach a slot's travel buffer.
        tz = ZoneInfo(self.business.timezone)
        since = datetime.combine(first_day - timedelta(days=1), time(), tz)
        until = datetime.combine(last_day + timedelta(days=2), time(), tz)
        rows = execute(
            self.conn,
            "SELECT chef_id, starts_at, ends_at FROM integra.calendar_busy"
            " WHERE starts_at < %(until)s AND ends_at > %(since)s"
            " AND (%(chef)s::uuid IS NULL OR chef_id = %(chef)s::uuid)",
            {"since": since, "until": until, "chef": chef_id},
        )
        busy: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for chef, starts, ends in rows:  # local wall-clock time, as availability reads it
            busy[str(chef)].append(
                (starts.astimezone(tz).replace(tzinfo=None), ends.astimezone(tz).replace(tzinfo=None))
            )
        return busy

    def schedules(
        self, first_day: date, last_day: date, *, exclude_booking: str | None = None, chef_id: str | None = None
    ) -> list[ChefSchedule]:
        """The roster's chefs (or one of them) with the start times of their active events between the
        days, and their own busy time (their calendars) around them."""
        events = self._events(first_day, last_day, exclude_booking=exclude_booking, chef_id=chef_id)
        busy = self._busy(first_day, last_day, chef_id)
        return [
            ChefSchedule(cid, ordinal, zones, tuple(sorted(events.get(cid, ()))), tuple(sorted(busy.get(cid, ()))))
            for cid, ordinal, zones in self.business.roster
            if chef_id is None or cid == chef_id
        ]

    def lock_days(self, chef_id: str, days: list[date]) -> None:
        """Hold the chef's days until the transaction ends; a concurrent command placing an event on
        one of them waits here. Transaction-level advisory locks: nothing to write or clean up."""
        for day in sorted(days):  # one fixed order, so two commands never deadlock
            self.conn.execute(LOCK_CHEF_DAY, {"key": f"chef-day:{chef_id}:{day.isoformat()}"})


LOCK_CHEF_DAY = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


class BookingRepository:
    def __init__(self, conn: Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    def add(
        self, booking: Booking, *, address: str, notes: str | None, source: str, unit_prices: dict[str, int]
    ) -> None:
        key = owner_key(self.cipher, self.conn, booking.customer_id, "customer")

        def enc(column: str, value: str) -> bytes:
            return self.cipher.encrypt(value, table="core.bookings", column=column, row_id=booking.id, data_key=key)

        execute(
            self.conn,
            "INSERT INTO core.bookings (id, reference, customer_id, chef_id, event_date, slot, zone_id, zip,"
            " address_enc, notes_enc, adults, kids, food_cents, upgrades_cents, travel_fee_cents, total_due_cents,"
            " deposit_due_cents, status, source, version)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                booking.id,
                booking.reference,
                booking.customer_id,
                booking.chef_id,
                booking.date,
                booking.slot,
                booking.zone_id,
                booking.zip,
                enc("address_enc", address),
                enc("notes_enc", notes) if notes else None,
                booking.adults,
                booking.kids,
                booking.food_cents,
                booking.upgrades_cents,
                booking.travel_fee_cents,
                booking.total_due_cents,
                booking.deposit_due_cents,
                booking.status,
                source,
                booking.version,
            ),
        )
        if booking.upgrades:
            executemany(
                self.conn,
                "INSERT INTO core.booking_upgrades (booking_id, code, guests, unit_cents) VALUES (%s, %s, %s, %s)",
                [(booking.id, code, count, unit_prices[code]) for code, count in booking.upgrades.items()],
            )

    def by_reference(self, reference: str) -> Booking | None:
        row = self.conn.execute(select(bookings).where(bookings.c.reference == reference)).first()
        if row is None:
            return None
        upgrades = {
            r.code: r.guests
            for r in self.conn.execute(
                select(booking_upgrades.c.code, booking_upgrades.c.guests).where(
                    booking_upgrades.c.booking_id == row.id
                )
            )
        }
        return Booking(
            id=row.id,
            reference=row.reference,
            customer_id=row.customer_id,
            chef_id=row.chef_id,
            date=row.event_date,
            slot=row.slot,
            zone_id=row.zone_id,
            zip=row.zip,
            adults=row.adults,
            kids=row.kids,
            upgrades=upgrades,
            food_cents=row.food_cents,
            upgrades_cents=row.upgrades_cents,
            travel_fee_cents=row.travel_fee_cents,
            total_due_cents=row.total_due_cents,
            deposit_due_cents=row.deposit_due_cents,
            deposit_paid_cents=row.deposit_paid_cents,
            status=row.status,
            reschedule_count=row.reschedule_count,
            version=row.version,
        )

    def save(self, booking: Booking, expected_version: int, at: datetime) -> None:
        """Write a changed booking; fails with ConcurrencyConflict if another writer got there first."""
        result = self.conn.execute(
            update(bookings)
            .where(bookings.c.id == booking.id, bookings.c.version == expected_version)
            .values(
                chef_id=booking.chef_id,
                event_date=booking.date,
                slot=booking.slot,
                status=booking.status,
                deposit_paid_cents=booking.deposit_paid_cents,
                reschedule_count=booking.reschedule_count,
                version=booking.version,
                updated_at=at,
            )
        )
        if result.rowcount != 1:
            raise ConcurrencyConflict(f"booking {booking.reference} changed concurrently")
