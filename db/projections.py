"""Read models, projected from events inside the command's own transaction.

Projecting synchronously (same transaction as the events) means a read model is never behind
its events and never skips one that committed late; a rebuild replays `events.domain_events`
in `(txid, position)` order.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time

from sqlalchemy import Connection, ScalarSelect, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db.sql import execute
from db.tables import bookings, chefs, customer_360, inbox_threads, payments_feed, schedule_board
from domain.booking import ACTIVE_STATUSES
from domain.events import (
    BookingCancelled,
    BookingCreated,
    BookingRescheduled,
    ConsentUpdated,
    CustomerErased,
    DepositPaid,
    DepositRefunded,
    DomainEvent,
    LeadCreated,
    MessageReceived,
    PaymentLinkResent,
    ReplyRecorded,
    ThreadAssigned,
    ThreadCustomerLinked,
    ThreadHandedBack,
    ThreadHandedOff,
    ThreadReopened,
    ThreadResolved,
    ThreadSnoozed,
    ThreadStarted,
)

Projection = Callable[[Connection, DomainEvent, datetime], None]


def _ensure_customer(conn: Connection, customer_id: str) -> None:
    conn.execute(pg_insert(customer_360).values(customer_id=customer_id).on_conflict_do_nothing())


def _chef_name(chef_id: str) -> ScalarSelect[str]:
    return select(chefs.c.name).where(chefs.c.id == chef_id).scalar_subquery()


def _next_event_date(conn: Connection, customer_id: str) -> None:
    """Recompute the customer's next event from their active bookings, in one statement."""
    earliest = (
        select(func.min(bookings.c.event_date))
        .where(bookings.c.customer_id == customer_id, bookings.c.status.in_(ACTIVE_STATUSES))
        .scalar_subquery()
    )
    conn.execute(update(customer_360).where(customer_360.c.customer_id == customer_id).values(next_event_date=earliest))


def lead_created(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, LeadCreated)
    execute(
        conn, "INSERT INTO read.customer_360 (customer_id) VALUES (%s) ON CONFLICT DO NOTHING", (event.customer_id,)
    )


def consent_updated(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, ConsentUpdated)
    _ensure_customer(conn, event.customer_id)
    conn.execute(
        update(customer_360)
        .where(customer_360.c.customer_id == event.customer_id)
        .values(**{f"consent_{event.channel}": event.granted})
    )


def customer_erased(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, CustomerErased)
    conn.execute(
        update(customer_360)
        .where(customer_360.c.customer_id == event.customer_id)
        .values(consent_sms=False, consent_email=False)
    )


def booking_created(conn: Connection, event: DomainEvent, at: datetime) -> None:
    # Plain SQL (db.sql): this runs on every booking, and Core's statement building was most of its cost.
    assert isinstance(event, BookingCreated)
    event_date = date.fromisoformat(event.date)
    execute(
        conn,
        "INSERT INTO read.schedule_board (booking_id, reference, chef_id, chef_name, event_date, slot, zone_id,"
        " guests, status, total_due_cents, deposit_due_cents, updated_at)"
        " VALUES (%(booking)s, %(reference)s, %(chef)s, (SELECT name FROM core.chefs WHERE id = %(chef)s),"
        " %(date)s, %(slot)s, %(zone)s, %(guests)s, 'deposit_pending', %(total)s, %(deposit)s, %(at)s)",
        {
            "booking": event.booking_id,
            "reference": event.reference,
            "chef": event.chef_id,
            "date": event_date,
            "slot": time.fromisoformat(event.slot),
            "zone": event.zone_id,
            "guests": event.adults + event.kids,
            "total": event.total_due_cents,
            "deposit": event.deposit_due_cents,
            "at": at,
        },
    )
    _feed(conn, event.booking_id, event.reference, "deposit_due", event.deposit_due_cents, at)
    execute(
        conn,
        "INSERT INTO read.customer_360 (customer_id, bookings_count, active_bookings, lifetime_value_cents,"
        " next_event_date, last_booking_at) VALUES (%(customer)s, 1, 1, %(total)s, %(date)s, %(at)s)"
        " ON CONFLICT (customer_id) DO UPDATE SET bookings_count = customer_360.bookings_count + 1,"
        " active_bookings = customer_360.active_bookings + 1,"
        " lifetime_value_cents = customer_360.lifetime_value_cents + %(total)s,"
        " next_event_date = LEAST(customer_360.next_event_date, %(date)s), last_booking_at = %(at)s",
        {"customer": event.customer_id, "total": event.total_due_cents, "date": event_date, "at": at},
    )


def booking_rescheduled(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, BookingRescheduled)
    conn.execute(
        update(schedule_board)
        .where(schedule_board.c.booking_id == event.booking_id)
        .values(
            event_date=date.fromisoformat(event.to_date),
            slot=time.fromisoformat(event.to_slot),
            chef_id=event.chef_id,
            chef_name=_chef_name(event.chef_id),
            updated_at=at,
        )
    )
    _next_event_date(conn, _customer_of(conn, event.booking_id))


def booking_cancelled(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, BookingCancelled)
    total = conn.execute(
        update(schedule_board)
        .where(schedule_board.c.booking_id == event.booking_id)
        .values(status="cancelled", updated_at=at)
        .returning(schedule_board.c.total_due_cents)
    ).scalar_one()
    if event.refund_cents:
        _feed(conn, event.booking_id, event.reference, "refund_due", event.refund_cents, at)
    customer_id = _customer_of(conn, event.booking_id)
    conn.execute(
        update(customer_360)
        .where(customer_360.c.customer_id == customer_id)
        .values(
            active_bookings=customer_360.c.active_bookings - 1,
            cancelled_bookings=customer_360.c.cancelled_bookings + 1,
            lifetime_value_cents=customer_360.c.lifetime_value_cents - total,
        )
    )
    _next_event_date(conn, customer_id)


def _customer_of(conn: Connection, booking_id: str) -> str:
    return str(conn.execute(select(bookings.c.customer_id).where(bookings.c.id == booking_id)).scalar_one())


def deposit_paid(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, DepositPaid)
    execute(
        conn,
        "UPDATE read.schedule_board SET status = %s, updated_at = %s WHERE booking_id = %s",
        (event.status, at, event.booking_id),
    )
    _feed(conn, event.booking_id, event.reference, "deposit_paid", event.amount_cents, at)


def deposit_refunded(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, DepositRefunded)
    _feed(conn, event.booking_id, event.reference, "refunded", event.amount_cents, at)


def payment_link_resent(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, PaymentLinkResent)
    _feed(conn, event.booking_id, event.reference, "deposit_link_sent", event.amount_cents, at)


def _feed(conn: Connection, booking_id: str, reference: str, kind: str, amount_cents: int, at: datetime) -> None:
    """A row of the payments feed (read.payments_feed)."""
    execute(
        conn,
        "INSERT INTO read.payments_feed (booking_id, reference, kind, amount_cents, occurred_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        (booking_id, reference, kind, amount_cents, at),
    )


# read.inbox_threads: `unread_count` counts customer messages since the last reply (by anyone);
# `waiting_since` is when the customer started waiting for a person (handoff, or a message in human
# mode), cleared by a staff reply, a hand back or resolving. `handoff_requested` is the inbox alert:
# the agent asked for a person, and no staff has replied, taken (assigned) or resolved it yet.
# `status` follows core.message_threads.status: pending (the agent's), open (staff's), snoozed, resolved.
def thread_started(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, ThreadStarted)
    execute(
        conn,
        "INSERT INTO read.inbox_threads (thread_id, customer_id, channel, mode, status, unread_count)"
        " VALUES (%s, %s, %s, 'ai', 'pending', 0) ON CONFLICT DO NOTHING",
        (event.thread_id, event.customer_id, event.channel),
    )


def message_received(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, MessageReceived)
    execute(
        conn,
        "UPDATE read.inbox_threads SET unread_count = unread_count + 1, last_message_at = %(at)s,"
        " last_message_id = %(message)s, last_author = 'customer',"
        " customer_id = COALESCE(customer_id, %(customer)s),"
        " waiting_since = CASE WHEN mode = 'human' THEN COALESCE(waiting_since, %(at)s) ELSE waiting_since END"
        " WHERE thread_id = %(thread)s",
        {"at": at, "message": event.message_id, "customer": event.customer_id, "thread": event.thread_id},
    )


def reply_recorded(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, ReplyRecorded)
    by_staff = event.author == "staff" or event.staff_id is not None
    execute(
        conn,
        "UPDATE read.inbox_threads SET unread_count = 0, last_message_at = %(at)s,"
        " last_message_id = %(message)s, last_author = %(author)s,"
        " handoff_requested = CASE WHEN %(staff)s THEN false ELSE handoff_requested END,"
        " waiting_since = CASE WHEN %(staff)s THEN NULL ELSE waiting_since END WHERE thread_id = %(thread)s",
        {
            "at": at,
            "message": event.message_id,
            "author": event.author,
            "staff": by_staff,
            "thread": event.thread_id,
        },
    )


def thread_handed_off(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, ThreadHandedOff)
    execute(
        conn,
        "UPDATE read.inbox_threads SET mode = 'human', status = 'open', snoozed_until = NULL,"
        " handoff_reason = %s, handoff_requested = %s, waiting_since = COALESCE(waiting_since, %s)"
        " WHERE thread_id = %s",
        (event.reason, event.by == "agent", at, event.thread_id),
    )


def thread_handed_back(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, ThreadHandedBack)
    execute(
        conn,
        "UPDATE read.inbox_threads SET mode = 'ai', waiting_since = NULL, handoff_reason = NULL,"
        " handoff_requested = false, status = CASE WHEN status = 'open' THEN 'pending' ELSE status END"
        " WHERE thread_id = %s",
        (event.thread_id,),
    )


def thread_assigned(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, ThreadAssigned)
    execute(
        conn,
        "UPDATE read.inbox_threads SET assignee_id = %(assignee)s,"
        " handoff_requested = CASE WHEN %(assignee)s::uuid IS NULL THEN handoff_requested ELSE false END"
        " WHERE thread_id = %(thread)s",
        {"assignee": event.assignee_id, "thread": event.thread_id},
    )


def thread_snoozed(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, ThreadSnoozed)
    execute(
        conn,
        "UPDATE read.inbox_threads SET status = 'snoozed', snoozed_until = %s WHERE thread_id = %s",
        (datetime.fromisoformat(event.until), event.thread_id),
    )


def thread_resolved(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, ThreadResolved)
    execute(
        conn,
        "UPDATE read.inbox_threads SET status = 'resolved', snoozed_until = NULL, handoff_requested = false,"
        " waiting_since = NULL WHERE thread_id = %s",
        (event.thread_id,),
    )


def thread_reopened(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, ThreadReopened)
    execute(
        conn,
        "UPDATE read.inbox_threads SET status = %s, snoozed_until = NULL WHERE thread_id = %s",
        (event.status, event.thread_id),
    )


def thread_customer_linked(conn: Connection, event: DomainEvent, at: datetime) -> None:
    assert isinstance(event, ThreadCustomerLinked)
    execute(
        conn,
        "UPDATE read.inbox_threads SET customer_id = %s WHERE thread_id = %s",
        (event.customer_id, event.thread_id),
    )


INBOX_CHANNEL = "hibachi_inbox"


def notify_inbox(conn: Connection, event: DomainEvent) -> None:
    """Tell listeners (the inbox's live updates) that a thread changed. NOTIFY is transactional:
    Postgres delivers it when this command commits, and never if it rolls back. Ids only."""
    payload = json.dumps({"thread_id": event.aggregate_id, "kind": event.event_type})
    execute(conn, "SELECT pg_notify(%s, %s)", (INBOX_CHANNEL, payload))


PROJECTIONS: dict[type[DomainEvent], Projection] = {
    ThreadStarted: thread_started,
    MessageReceived: message_received,
    ReplyRecorded: reply_recorded,
    ThreadHandedOff: thread_handed_off,
    ThreadHandedBack: thread_handed_back,
    ThreadAssigned: thread_assigned,
    ThreadSnoozed: thread_snoozed,
    ThreadResolved: thread_resolved,
    ThreadReopened: thread_reopened,
    ThreadCustomerLinked: thread_customer_linked,
    LeadCreated: lead_created,
    ConsentUpdated: consent_updated,
    CustomerErased: customer_erased,
    BookingCreated: booking_created,
    BookingRescheduled: booking_rescheduled,
    BookingCancelled: booking_cancelled,
    DepositPaid: deposit_paid,
    DepositRefunded: deposit_refunded,
    PaymentLinkResent: payment_link_resent,
}


def project(conn: Connection, event: DomainEvent, at: datetime) -> None:
    projection = PROJECTIONS.get(type(event))
    if projection is not None:
        projection(conn, event, at)
    if event.aggregate_type == "thread":  # every thread event, in this one place
        notify_inbox(conn, event)


def clear_read_models(conn: Connection) -> None:
    for table in (schedule_board, payments_feed, customer_360, inbox_threads):
        conn.execute(delete(table))
