"""Data subject requests: export everything held about a customer, and erase it.

Export (`ExportCustomerData`, `hibachi customer export`, the customer page's "Export data"): one JSON
bundle, decrypted: profile, consents, threads with their messages and staff notes, bookings with
address and notes, payments (provider events, links, bank credits matched to the bookings with payer
and memo) and the domain events of the customer, their bookings and threads.

Erase (`EraseCustomer`, `hibachi customer erase`, the customer page's "Erase", owner and admin only),
one transaction:
- refused while the customer has an upcoming active booking (cancel it first: the chef would
  otherwise arrive at an address we no longer hold);
- the customer's and their threads' data keys are destroyed (crypto-shredding, db/envelope.py): every
  value sealed with them, wherever a copy lives (backups included), is unreadable from now on;
- their LangGraph checkpoints are deleted;
- free text is replaced by a tombstone (TOMBSTONE, sealed with the master key so pages still render):
  message bodies, staff notes, names, booking addresses; booking notes, contacts, the payer and memo
  of bank credits matched to their bookings and the payer aliases learnt for them are removed;
- bookings keep their non-personal facts (date, slot, zone, party size, amounts, status) for the
  accounts; payments and domain events stay (events carry ids, never personal data);
- the consent ledger keeps each entry's channel, choice, source and time, and an SMS entry its keyed
  phone index, so a STOP stays honoured (a legal duty that outlives the erasure); the customer's
  words, IP and page go.
A `CustomerErased` event records that it happened.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime, time
from typing import Any, LiteralString

from sqlalchemy import text

from db.envelope import DataKeyStore
from db.pii import ERASED
from db.repositories import CustomerRecord
from db.sql import execute
from db.threads import thread_lock_key
from db.uow import UnitOfWork
from domain.booking import ACTIVE_STATUSES
from domain.contact import normalize_email, normalize_phone
from domain.errors import DomainError, NotFound

TOMBSTONE = ERASED
CHECKPOINT_TABLES = ("agent.checkpoint_writes", "agent.checkpoint_blobs", "agent.checkpoints")


def find_customer(uow: UnitOfWork, who: str) -> CustomerRecord:
    """A customer by id, email or phone (however typed)."""
    value = who.strip()
    record: CustomerRecord | None
    try:
        record = uow.customers.get(str(uuid.UUID(value)))
    except ValueError:
        if "@" in value:
            record = uow.customers.find(email=normalize_email(value, field="customer"))
        else:
            record = uow.customers.find(phone=normalize_phone(value, field="customer"))
    if record is None:
        raise NotFound("no customer with this id, email or phone", field="customer")
    return record


def _opener(uow: UnitOfWork) -> Callable[[bytes | None, str, str, Any], str | None]:
    def open_(blob: bytes | None, table: str, column: str, row_id: Any) -> str | None:
        if blob is None:
            return None
        return uow.cipher.readable(bytes(blob), table=table, column=column, row_id=str(row_id))

    return open_


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _rows(
    uow: UnitOfWork, sql: LiteralString, params: tuple[Any, ...], skip: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    return [
        {k: _plain(v) for k, v in row._asdict().items() if k not in skip and not k.endswith(("_enc", "_bidx"))}
        for row in execute(uow.conn, sql, params)
    ]


def _thread_ids(uow: UnitOfWork, customer_id: str, phone_bidx: bytes | None) -> list[str]:
    rows = execute(
        uow.conn,
        "SELECT id FROM core.message_threads WHERE customer_id = %s"
        " OR (channel = 'sms' AND contact_bidx IS NOT NULL AND contact_bidx = %s) ORDER BY created_at",
        (customer_id, phone_bidx),
    )
    return [str(r.id) for r in rows]


def export_bundle(uow: UnitOfWork, customer_id: str, *, at: datetime) -> dict[str, Any]:
    """Everything held about the customer, decrypted (see the module docstring)."""
    open_ = _opener(uow)
    row = execute(uow.conn, "SELECT * FROM core.customers WHERE id = %s", (customer_id,)).fetchone()
    if row is None:
        raise NotFound("no such customer", field="customer")
    profile = {
        "id": str(row.id),
        "first_name": open_(row.first_name_enc, "core.customers", "first_name_enc", row.id),
        "last_name": open_(row.last_name_enc, "core.customers", "last_name_enc", row.id),
        "email": open_(row.email_enc, "core.customers", "email_enc", row.id),
        "phone": open_(row.phone_enc, "core.customers", "phone_enc", row.id),
        "consent_sms": row.consent_sms,
        "consent_email": row.consent_email,
        "created_at": _plain(row.created_at),
        "erased_at": _plain(row.erased_at),
    }
    consents = [
        {k: _plain(v) for k, v in asdict(entry).items() if k != "customer_id"}
        for entry in uow.consents.history(customer_id)
    ]
    threads: list[dict[str, Any]] = []
    thread_ids = _thread_ids(uow, customer_id, row.phone_bidx)
    for thread_id in thread_ids:
        t = execute(uow.conn, "SELECT * FROM core.message_threads WHERE id = %s", (thread_id,)).fetchone()
        assert t is not None
        messages = [
            {
                "id": str(m.id),
                "direction": m.direction,
                "author": m.author,
                "body": open_(m.body_enc, "core.messages", "body_enc", m.id),
                "at": _plain(m.created_at),
            }
            for m in execute(uow.conn, "SELECT * FROM core.messages WHERE thread_id = %s ORDER BY seq", (thread_id,))
        ]
        notes = [
            {
                "id": str(n.id),
                "body": open_(n.body_enc, "core.thread_notes", "body_enc", n.id),
                "at": _plain(n.created_at),
            }
            for n in execute(
                uow.conn, "SELECT * FROM core.thread_notes WHERE thread_id = %s ORDER BY created_at", (thread_id,)
            )
        ]
        threads.append(
            {
                "id": thread_id,
                "channel": t.channel,
                "contact": open_(t.contact_enc, "core.message_threads", "contact_enc", thread_id),
                "status": t.status,
                "mode": t.mode,
                "created_at": _plain(t.created_at),
                "messages": messages,
                "staff_notes": notes,
            }
        )
    bookings: list[dict[str, Any]] = []
    booking_ids: list[str] = []
    for b in execute(
        uow.conn, "SELECT * FROM core.bookings WHERE customer_id = %s ORDER BY created_at", (customer_id,)
    ):
        booking_ids.append(str(b.id))
        facts = {k: _plain(v) for k, v in b._asdict().items() if not k.endswith("_enc")}
        facts["address"] = open_(b.address_enc, "core.bookings", "address_enc", b.id)
        facts["notes"] = open_(b.notes_enc, "core.bookings", "notes_enc", b.id)
        facts["upgrades"] = _rows(
            uow, "SELECT code, guests, unit_cents FROM core.booking_upgrades WHERE booking_id = %s", (str(b.id),)
        )
        bookings.append(facts)
    credits = [
        {
            "id": str(c.id),
            "provider": c.provider,
            "amount_cents": c.amount_cents,
            "posted_on": _plain(c.posted_on),
            "payer": open_(c.payer_enc, "integra.bank_transactions", "payer_enc", c.id),
            "memo": open_(c.memo_enc, "integra.bank_transactions", "memo_enc", c.id),
            "booking_id": str(c.booking_id),
        }
        for c in execute(
            uow.conn,
            "SELECT * FROM integra.bank_transactions WHERE booking_id = ANY(%s::uuid[]) ORDER BY posted_on",
            (booking_ids,),
        )
    ]
    payments = {
        "events": _rows(
            uow,
            "SELECT * FROM integra.payment_events WHERE booking_id = ANY(%s::uuid[]) ORDER BY occurred_at",
            (booking_ids,),
        ),
        "links": _rows(
            uow,
            "SELECT * FROM integra.payment_links WHERE booking_id = ANY(%s::uuid[]) ORDER BY created_at",
            (booking_ids,),
        ),
        "bank_credits": credits,
    }
    events = _rows(
        uow,
        "SELECT event_id, aggregate_type, aggregate_id, version, event_type, payload, occurred_at"
        " FROM events.domain_events WHERE aggregate_id = ANY(%s::uuid[]) ORDER BY occurred_at, version",
        ([customer_id, *booking_ids, *thread_ids],),
    )
    return {
        "exported_at": at.isoformat(),
        "customer": profile,
        "consents": consents,
        "threads": threads,
        "bookings": bookings,
        "payments": payments,
        "events": events,
    }


def _tombstone_all(
    uow: UnitOfWork, table: LiteralString, column: LiteralString, where: LiteralString, params: tuple[Any, ...]
) -> int:
    """Replace `column` of the matching rows with the tombstone, sealed to each row."""
    rows = execute(uow.conn, f"SELECT id FROM {table} WHERE {where}", params).fetchall()
    for r in rows:
        sealed = uow.cipher.master().encrypt(TOMBSTONE, table=table, column=column, row_id=str(r.id))
        execute(uow.conn, f"UPDATE {table} SET {column} = %s WHERE id = %s", (sealed, str(r.id)))
    return len(rows)


def erase(uow: UnitOfWork, customer: CustomerRecord, *, at: datetime, today: date) -> dict[str, Any]:
    """Erase the customer (see the module docstring), in the caller's transaction; counts of what went."""
    row = execute(
        uow.conn, "SELECT erased_at, phone_bidx FROM core.customers WHERE id = %s FOR UPDATE", (customer.id,)
    ).fetchone()
    assert row is not None
    if row.erased_at is not None:
        return {"customer_id": customer.id, "erased": False, "already_erased_at": row.erased_at.isoformat()}
    upcoming = [
        r.reference
        for r in execute(
            uow.conn,
            "SELECT reference FROM core.bookings WHERE customer_id = %s AND status = ANY(%s) AND event_date >= %s"
            " ORDER BY event_date",
            (customer.id, list(ACTIVE_STATUSES), today),
        )
    ]
    if upcoming:
        raise DomainError(f"has upcoming bookings {', '.join(upcoming)}: cancel them before erasing", field="customer")
    phone_bidx = bytes(row.phone_bidx) if row.phone_bidx else None
    thread_ids = _thread_ids(uow, customer.id, phone_bidx)
    booking_ids = [
        str(r.id) for r in execute(uow.conn, "SELECT id FROM core.bookings WHERE customer_id = %s", (customer.id,))
    ]
    counts: dict[str, Any] = {"customer_id": customer.id, "erased": True, "threads": len(thread_ids)}
    for thread_id in sorted(thread_ids):
        # The agent's per-thread lock (services.conversations.thread_lock): a turn running now
        # finishes first, so it cannot write a checkpoint after they are deleted.
        execute(uow.conn, "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (thread_lock_key(thread_id),))
    for table in CHECKPOINT_TABLES:
        uow.conn.execute(text(f"DELETE FROM {table} WHERE thread_id = ANY(:ids)"), {"ids": thread_ids})
    counts["messages"] = _tombstone_all(uow, "core.messages", "body_enc", "thread_id = ANY(%s::uuid[])", (thread_ids,))
    counts["staff_notes"] = _tombstone_all(
        uow, "core.thread_notes", "body_enc", "thread_id = ANY(%s::uuid[])", (thread_ids,)
    )
    execute(
        uow.conn,
        "UPDATE core.message_threads SET contact_enc = NULL, contact_bidx = NULL WHERE id = ANY(%s::uuid[])",
        (thread_ids,),
    )
    counts["bookings"] = _tombstone_all(uow, "core.bookings", "address_enc", "customer_id = %s", (customer.id,))
    execute(uow.conn, "UPDATE core.bookings SET notes_enc = NULL WHERE customer_id = %s", (customer.id,))
    execute(
        uow.conn,
        "UPDATE integra.bank_transactions SET payer_enc = NULL, memo_enc = NULL WHERE booking_id = ANY(%s::uuid[])",
        (booking_ids,),
    )
    execute(uow.conn, "DELETE FROM integra.payer_aliases WHERE customer_id = %s", (customer.id,))
    # The ledger keeps what was agreed when (and an opt-out's phone index, so it stays honoured).
    execute(
        uow.conn,
        "UPDATE core.consents SET text_enc = NULL, ip_enc = NULL, page_enc = NULL WHERE customer_id = %s",
        (customer.id,),
    )
    master = uow.cipher.master()
    execute(
        uow.conn,
        "UPDATE core.customers SET first_name_enc = %s, last_name_enc = %s, email_enc = NULL, email_bidx = NULL,"
        " phone_enc = NULL, phone_bidx = NULL, first_name_bidx = NULL, last_name_bidx = NULL, full_name_bidx = NULL,"
        " consent_sms = false, consent_email = false, erased_at = %s, updated_at = %s WHERE id = %s",
        (
            master.encrypt(TOMBSTONE, table="core.customers", column="first_name_enc", row_id=customer.id),
            master.encrypt(TOMBSTONE, table="core.customers", column="last_name_enc", row_id=customer.id),
            at,
            at,
            customer.id,
        ),
    )
    store = uow.cipher.data_keys
    owners = [customer.id, *thread_ids]
    counts["data_keys_destroyed"] = store.destroy(uow.conn, owners, at) if isinstance(store, DataKeyStore) else 0
    return counts
