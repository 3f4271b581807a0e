"""The staff pages' read side: the inbox, a thread, customer 360, the schedule board, a booking, the
payments feed, the deliveries (outbox messages that failed for good or wait to be retried).
Everything here reads read models and tables (decrypting personal data for display
to logged-in staff); nothing writes but the audit log (a look at a customer's record,
`record_admin_action`): every action on these pages is a command through the bus.

Search by name is exact only (first, last or full name, any case and spacing): names are stored
encrypted and found through keyed blind indexes, which match whole values, so a partial name
("Dan" for "Dana") cannot be found. Booking references and phone numbers (however typed) and
emails are exact too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, LiteralString

from db.audit import append_entry
from db.repositories import name_index
from db.sql import execute
from db.threads import StoredMessage
from db.uow import UnitOfWork
from domain import availability
from domain.contact import normalize_email, normalize_phone
from domain.errors import DomainError, NotFound
from domain.money import format_usd
from services import handlers
from services.conversations import hand_back_with_corrections

if TYPE_CHECKING:
    from graph.checkpoint import CompiledGraph
    from hibachi.bootstrap import Container

PREVIEW_CHARS = 120
# Why the SMS sender (services/sms.py) did not send a text, as staff read it.
TEXT_REFUSALS = {
    "opted_out": "the number opted out (STOP)",
    "no_consent": "no consent to texts other than replies",
    "quiet_hours": "quiet hours (8:00-21:00 their time): held",
    "no_phone": "no phone number",
}
STATUSES = ("open", "pending", "snoozed", "resolved")
CHANNELS = ("web", "sms")
REFERENCE = re.compile(r"^\s*MH-?([23456789A-Z]{5})\s*$", re.IGNORECASE)
PHONE_LIKE = re.compile(r"^[\s\d()+.\-]{7,}$")


@dataclass(frozen=True)
class InboxFilter:
    mine: bool = False  # assigned to the viewer
    unassigned: bool = False
    human: bool = False  # staff have it (human mode)
    handoff: bool = False  # the agent asked for a person (the alert)
    status: str | None = None  # open | pending | snoozed | resolved
    channel: str | None = None  # web | sms
    search: str | None = None  # a booking reference, a phone, an email, or an exact name


@dataclass(frozen=True)
class InboxRow:
    thread_id: str
    channel: str
    mode: str
    status: str
    assignee_id: str | None
    assignee_name: str | None
    unread_count: int
    waiting_since: datetime | None
    last_message_at: datetime | None
    last_preview: str | None  # the last message, decrypted, at most PREVIEW_CHARS
    last_author: str | None  # customer | ai | staff | system
    customer_id: str | None
    customer_name: str | None
    handoff_reason: str | None
    handoff_requested: bool
    snoozed_until: datetime | None


@dataclass(frozen=True)
class MessageView:
    id: str
    author: str  # customer | ai | staff | system
    body: str
    at: datetime | None
    staff_name: str | None  # who on staff sent it (a staff message, or one sent as AI)


@dataclass(frozen=True)
class NoteView:
    id: str
    author_name: str
    body: str
    at: datetime


@dataclass(frozen=True)
class ThreadView:
    row: InboxRow
    messages: list[MessageView]
    notes: list[NoteView]
    slots: dict[str, Any]  # what the agent holds so far (its checkpoint)
    suggested_reply: str | None  # in human mode: what the agent would say next
    customer: dict[str, Any] | None  # {"id", "name"}
    texts_not_sent: list[dict[str, Any]] = field(default_factory=list)  # the SMS sender's refusals and holds


# ---------------------------------------------------------------- inbox

INBOX_COLUMNS = (
    "i.thread_id, i.channel, i.mode, i.status, i.assignee_id, i.unread_count, i.waiting_since,"
    " i.last_message_at, i.last_message_id, i.last_author, i.customer_id, i.handoff_reason,"
    " i.handoff_requested, i.snoozed_until"
)
INBOX_ORDER = " ORDER BY i.handoff_requested DESC, i.waiting_since ASC NULLS LAST, i.last_message_at DESC NULLS LAST"


def inbox(container: Container, viewer_id: str, flt: InboxFilter, limit: int = 50, offset: int = 0) -> list[InboxRow]:
    """One page of the inbox (`limit` rows after skipping `offset`): threads asking for a person
    first, then those waiting longest, then the most recent. Previews, names and assignees are read
    for the page's rows only."""
    if flt.status is not None and flt.status not in STATUSES:
        raise DomainError(f"must be one of {', '.join(STATUSES)}", field="status")
    if flt.channel is not None and flt.channel not in CHANNELS:
        raise DomainError(f"must be one of {', '.join(CHANNELS)}", field="channel")
    limit = max(1, min(limit, 500))
    where: list[LiteralString] = []
    params: dict[str, Any] = {"limit": limit, "offset": max(0, min(offset, 100_000))}
    if flt.mine:
        where.append("i.assignee_id = %(viewer)s::uuid")
        params["viewer"] = _uuid_or_none(viewer_id)
    if flt.unassigned:
        where.append("i.assignee_id IS NULL")
    if flt.human:
        where.append("i.mode = 'human'")
    if flt.handoff:
        where.append("i.handoff_requested")
    if flt.status:
        where.append("i.status = %(status)s")
        params["status"] = flt.status
    if flt.channel:
        where.append("i.channel = %(channel)s")
        params["channel"] = flt.channel
    with container.uow() as uow:
        if flt.search and flt.search.strip():
            customers, threads = _search(uow, flt.search)
            if not customers and not threads:
                return []
            where.append("(i.customer_id = ANY(%(customers)s::uuid[]) OR i.thread_id = ANY(%(threads)s::uuid[]))")
            params |= {"customers": customers, "threads": threads}
        clause: LiteralString = (" WHERE " + " AND ".join(where)) if where else ""
        rows = execute(
            uow.conn,
            "SELECT "
            + INBOX_COLUMNS
            + " FROM read.inbox_threads i"
            + clause
            + INBOX_ORDER
            + " LIMIT %(limit)s OFFSET %(offset)s",
            params,
        ).fetchall()
        return _inbox_rows(uow, rows)


def _uuid_or_none(value: str | None) -> str | None:
    import uuid

    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None


def _search(uow: UnitOfWork, text: str) -> tuple[list[str], list[str]]:
    """(customer ids, thread ids) the search names: a booking reference, an email, a phone number
    (customers' phones and SMS threads' senders), else an exact first, last or full name."""
    text = text.strip()
    blind = uow.blind
    reference = REFERENCE.match(text)
    if reference:
        rows = execute(
            uow.conn, "SELECT customer_id FROM core.bookings WHERE reference = %s", ("MH-" + reference[1].upper(),)
        ).fetchall()
        return [str(r.customer_id) for r in rows], []
    if "@" in text:
        try:
            email = normalize_email(text)
        except DomainError:
            return [], []
        rows = execute(
            uow.conn, "SELECT id FROM core.customers WHERE email_bidx = %s", (blind.of("email", email),)
        ).fetchall()
        return [str(r.id) for r in rows], []
    if PHONE_LIKE.match(text) and sum(c.isdigit() for c in text) >= 7:
        try:
            phone = normalize_phone(text)
        except DomainError:
            phone = None
        if phone is not None:
            customers = execute(
                uow.conn, "SELECT id FROM core.customers WHERE phone_bidx = %s", (blind.of("phone", phone),)
            ).fetchall()
            threads = execute(
                uow.conn,
                "SELECT id FROM core.message_threads WHERE channel = 'sms' AND contact_bidx = %s",
                (uow.threads.contact_index("sms", phone),),
            ).fetchall()
            return [str(r.id) for r in customers], [str(r.id) for r in threads]
    name = name_index(blind, text)
    if name is None:
        return [], []
    rows = execute(
        uow.conn,
        "SELECT id FROM core.customers"
        " WHERE first_name_bidx = %(h)s OR last_name_bidx = %(h)s OR full_name_bidx = %(h)s",
        {"h": name},
    ).fetchall()
    return [str(r.id) for r in rows], []


def _inbox_rows(uow: UnitOfWork, rows: list[Any]) -> list[InboxRow]:
    previews = uow.threads.bodies([str(r.last_message_id) for r in rows if r.last_message_id])
    names = _customer_names(uow, {str(r.customer_id) for r in rows if r.customer_id})
    staff = _staff_names(uow, {str(r.assignee_id) for r in rows if r.assignee_id})
    result = []
    for r in rows:
        preview = previews.get(str(r.last_message_id)) if r.last_message_id else None
        result.append(
            InboxRow(
                thread_id=str(r.thread_id),
                channel=r.channel,
                mode=r.mode,
                status=r.status,
                assignee_id=str(r.assignee_id) if r.assignee_id else None,
                assignee_name=staff.get(str(r.assignee_id)) if r.assignee_id else None,
                unread_count=r.unread_count,
                waiting_since=r.waiting_since,
                last_message_at=r.last_message_at,
                last_preview=_preview(preview),
                last_author=r.last_author,
                customer_id=str(r.customer_id) if r.customer_id else None,
                customer_name=names.get(str(r.customer_id)) if r.customer_id else None,
                handoff_reason=r.handoff_reason,
                handoff_requested=r.handoff_requested,
                snoozed_until=r.snoozed_until,
            )
        )
    return result


def _preview(body: str | None) -> str | None:
    if body is None:
        return None
    flat = " ".join(body.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def _customer_names(uow: UnitOfWork, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = execute(
        uow.conn,
        "SELECT id, first_name_enc, last_name_enc FROM core.customers WHERE id = ANY(%s::uuid[])",
        (list(ids),),
    ).fetchall()
    names = {}
    for r in rows:
        cid = str(r.id)
        first = uow.cipher.readable(r.first_name_enc, table="core.customers", column="first_name_enc", row_id=cid)
        last = uow.cipher.readable(r.last_name_enc, table="core.customers", column="last_name_enc", row_id=cid)
        names[cid] = f"{first} {last}".strip()
    return names


def _staff_names(uow: UnitOfWork, ids: set[str]) -> dict[str, str]:
    valid = [user_id for user_id in ids if _uuid_or_none(user_id)]
    return {user.id: user.name or user.email for user in uow.staff.many(valid)}


@dataclass(frozen=True)
class StaffMember:
    id: str
    name: str  # the account's name, else its email
    role: str


ASSIGNABLE_ROLES = ("owner", "admin", "staff")


def staff_members(container: Container) -> list[StaffMember]:
    """Who a thread can be assigned to: active owners, admins and staff, by name."""
    with container.uow() as uow:
        users = uow.staff.active_in_roles(ASSIGNABLE_ROLES)
    members = [StaffMember(u.id, u.name or u.email, u.role) for u in users]
    return sorted(members, key=lambda m: m.name.lower())


# ---------------------------------------------------------------- one thread


def thread_view(container: Container, thread_id: str, *, graph: CompiledGraph | None = None) -> ThreadView:
    """A thread for the staff page: its inbox row, the transcript (who spoke), private notes, the
    agent's booking-so-far, and in human mode the reply the agent would suggest. `graph` defaults
    to the process's checkpointed graph."""
    tid = _uuid_or_none(thread_id)
    if tid is None:
        raise NotFound("no such thread", field="thread_id")
    with container.uow() as uow:
        rows = execute(
            uow.conn, "SELECT " + INBOX_COLUMNS + " FROM read.inbox_threads i WHERE i.thread_id = %s", (tid,)
        ).fetchall()
        if not rows:
            raise NotFound("no such thread", field="thread_id")
        (row,) = _inbox_rows(uow, rows)
        transcript = uow.threads.transcript(tid)
        notes = uow.threads.notes([tid])
        staff = _staff_names(uow, {m.staff_id for m in transcript if m.staff_id} | {n.author_id for n in notes})
        refusals = execute(
            uow.conn,
            "SELECT reason, held_until, recorded_at FROM integra.sms_refusals WHERE thread_id = %s"
            " ORDER BY recorded_at DESC LIMIT 20",
            (tid,),
        ).fetchall()
    values = _agent_state(container, tid, graph)
    slots = dict(values.get("slots") or {})
    suggestion = suggested_reply(container, values, row.channel) if row.mode == "human" else None
    return ThreadView(
        row=row,
        messages=[_message_view(m, staff) for m in transcript],
        notes=[NoteView(n.id, staff.get(n.author_id, "staff"), n.body, n.created_at) for n in notes],
        slots=slots,
        suggested_reply=suggestion,
        customer={"id": row.customer_id, "name": row.customer_name} if row.customer_id else None,
        texts_not_sent=[
            {"why": TEXT_REFUSALS.get(r.reason, r.reason), "held_until": r.held_until, "at": r.recorded_at}
            for r in refusals
        ],
    )


def _message_view(message: StoredMessage, staff: dict[str, str]) -> MessageView:
    return MessageView(
        message.id,
        message.author,
        message.body,
        message.created_at,
        staff.get(message.staff_id) if message.staff_id else None,
    )


def _agent_state(container: Container, thread_id: str, graph: CompiledGraph | None) -> dict[str, Any]:
    from graph.context import Context
    from graph.turns import config_for

    compiled = graph if graph is not None else container.agent().graph()
    snapshot = compiled.get_state(config_for(Context(container, thread_id)))
    return dict(snapshot.values or {})


def suggested_reply(container: Container, values: dict[str, Any], channel: str) -> str | None:
    """What the agent would say next from its state, without running it (no tool, no write): the
    next missing-field question, or the summary with the price once everything is known. None when
    the agent is not gathering a booking (managing one, or just booked)."""
    from agent import wording
    from graph.nodes import missing_field, quote_key

    if values.get("flow") == "manage" or (values.get("booking") and values.get("flow") is None):
        return None
    slots: dict[str, Any] = dict(values.get("slots") or {})
    business = container.business
    missing = missing_field(slots, channel)
    if missing is not None:
        return wording.ask(missing, slots, business, channel)
    quote = values.get("quote")
    key = quote_key(slots)
    if not quote or quote.get("for") != key:
        try:
            quote = container.queries.quote(key["adults"], key["kids"], key["zip"], key["upgrades"])
        except DomainError:
            return None
    return wording.summary(slots, quote, channel)


# ---------------------------------------------------------------- customer 360


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    return f"(***) ***-{phone[-4:]}"


def customer_360(container: Container, customer_id: str, *, reveal_contact: bool) -> dict[str, Any]:
    """Everything about one customer for staff: contact details (in clear only with
    `reveal_contact`, for roles allowed to see them; masked otherwise), consent and its history,
    bookings, payments, threads, their threads' notes, and the event timeline (newest first)."""
    cid = _uuid_or_none(customer_id)
    with container.uow() as uow:
        record = uow.customers.get(cid) if cid else None
        if record is None:
            raise NotFound("no such customer", field="customer_id")
        summary = execute(uow.conn, "SELECT * FROM read.customer_360 WHERE customer_id = %s", (cid,)).fetchone()
        erased = execute(uow.conn, "SELECT erased_at FROM core.customers WHERE id = %s", (cid,)).fetchone()
        consents = execute(
            uow.conn,
            "SELECT channel, granted, source, recorded_at FROM core.consents WHERE customer_id = %s"
            " ORDER BY recorded_at DESC, id",
            (cid,),
        ).fetchall()
        bookings = execute(
            uow.conn,
            "SELECT b.id, b.reference, b.status, b.event_date, b.slot, b.zone_id, b.adults, b.kids,"
            " b.total_due_cents, b.deposit_due_cents, b.deposit_paid_cents, b.chef_id"
            " FROM core.bookings b WHERE b.customer_id = %s ORDER BY b.event_date DESC, b.slot DESC",
            (cid,),
        ).fetchall()
        booking_ids = [str(b.id) for b in bookings]
        feed = execute(
            uow.conn,
            "SELECT id, booking_id, reference, kind, amount_cents, occurred_at FROM read.payments_feed"
            " WHERE booking_id = ANY(%s::uuid[]) ORDER BY occurred_at DESC, id",
            (booking_ids,),
        ).fetchall()
        provider_payments = execute(
            uow.conn,
            "SELECT e.provider, e.kind, e.amount_cents, e.currency, e.occurred_at, b.reference"
            " FROM integra.payment_events e JOIN core.bookings b ON b.id = e.booking_id"
            " WHERE e.booking_id = ANY(%s::uuid[]) ORDER BY e.occurred_at DESC",
            (booking_ids,),
        ).fetchall()
        threads = execute(
            uow.conn,
            "SELECT thread_id, channel, mode, status, last_message_at FROM read.inbox_threads"
            " WHERE customer_id = %s ORDER BY last_message_at DESC NULLS LAST",
            (cid,),
        ).fetchall()
        thread_ids = [str(t.thread_id) for t in threads]
        notes = uow.threads.notes(thread_ids)
        staff = _staff_names(uow, {n.author_id for n in notes})
        timeline = execute(
            uow.conn,
            "SELECT aggregate_type, aggregate_id, event_type, payload, occurred_at FROM events.domain_events"
            " WHERE aggregate_id = ANY(%s::uuid[]) ORDER BY occurred_at DESC, position DESC LIMIT 500",
            ([cid, *booking_ids, *thread_ids],),
        ).fetchall()
    business = container.business
    email, phone = record.email, record.phone
    return {
        "id": record.id,
        "name": f"{record.first_name} {record.last_name}".strip(),
        "first_name": record.first_name,
        "last_name": record.last_name,
        "email": (email if reveal_contact else mask_email(email)) if email else None,
        "phone": (phone if reveal_contact else mask_phone(phone)) if phone else None,
        "contact_revealed": reveal_contact,
        "erased_at": erased.erased_at if erased else None,
        "consent": {"sms": record.consent_sms, "email": record.consent_email},
        "consent_history": [
            {"channel": c.channel, "granted": c.granted, "source": c.source, "at": c.recorded_at} for c in consents
        ],
        "summary": {
            "bookings_count": summary.bookings_count if summary else 0,
            "active_bookings": summary.active_bookings if summary else 0,
            "cancelled_bookings": summary.cancelled_bookings if summary else 0,
            "lifetime_value_cents": summary.lifetime_value_cents if summary else 0,
            "next_event_date": summary.next_event_date if summary else None,
        },
        "bookings": [
            {
                "reference": b.reference,
                "status": b.status,
                "date": b.event_date.isoformat(),
                "slot": b.slot.strftime("%H:%M"),
                "zone": b.zone_id,
                "chef_name": business.chef_name(str(b.chef_id)),
                "party": {"adults": b.adults, "kids": b.kids},
                "total_due_cents": b.total_due_cents,
                "deposit_due_cents": b.deposit_due_cents,
                "deposit_paid_cents": b.deposit_paid_cents,
                "total_due": format_usd(b.total_due_cents),
            }
            for b in bookings
        ],
        "payments": [_feed_row(p) for p in feed],
        "provider_payments": [
            {
                "provider": p.provider,
                "kind": p.kind,
                "reference": p.reference,
                "amount_cents": p.amount_cents,
                "currency": p.currency,
                "occurred_at": p.occurred_at,
            }
            for p in provider_payments
        ],
        "threads": [
            {
                "thread_id": str(t.thread_id),
                "channel": t.channel,
                "mode": t.mode,
                "status": t.status,
                "last_message_at": t.last_message_at,
            }
            for t in threads
        ],
        "notes": [
            {
                "id": n.id,
                "thread_id": n.thread_id,
                "author_name": staff.get(n.author_id, "staff"),
                "body": n.body,
                "at": n.created_at,
            }
            for n in reversed(notes)
        ],
        "timeline": [
            {
                "aggregate_type": e.aggregate_type,
                "aggregate_id": str(e.aggregate_id),
                "type": e.event_type,
                "at": e.occurred_at,
                "payload": e.payload,
            }
            for e in timeline
        ],
    }


# ---------------------------------------------------------------- schedule, booking, payments


def schedule_week(container: Container, start: date) -> dict[str, Any]:
    """Seven days from `start`, chef by chef: each active booking in its day and slot (from the
    schedule board), and the free capacity of every day and slot: how many chefs could still take
    an event there, per zone and in the zone with the most (`free`)."""
    business = container.business
    rules = business.calendar
    days = [start + timedelta(days=n) for n in range(7)]
    touched = [d for day in days for slot in rules.slots for d in availability.days_to_lock(rules, day, slot)]
    with container.uow() as uow:
        schedules = uow.chefs.schedules(min(touched), max(touched))
        rows = execute(
            uow.conn,
            "SELECT booking_id, reference, chef_id, chef_name, event_date, slot, zone_id, guests, status"
            " FROM read.schedule_board WHERE event_date BETWEEN %s AND %s AND status <> 'cancelled'"
            " ORDER BY event_date, slot, chef_name",
            (days[0], days[-1]),
        ).fetchall()
    bookings = [
        {
            "booking_id": str(r.booking_id),
            "reference": r.reference,
            "chef_id": str(r.chef_id),
            "chef_name": r.chef_name,
            "date": r.event_date.isoformat(),
            "slot": r.slot.strftime("%H:%M"),
            "guests": r.guests,
            "zone": r.zone_id,
            "status": r.status,
        }
        for r in rows
    ]
    grid: dict[str, dict[str, list[dict[str, Any]]]] = {
        chef.id: {day.isoformat(): [] for day in days} for chef in business.chefs
    }
    for booking in bookings:
        grid.setdefault(booking["chef_id"], {day.isoformat(): [] for day in days})[booking["date"]].append(booking)
    capacity: dict[str, dict[str, dict[str, Any]]] = {}
    for day in days:
        by_zone = {zone.id: availability.open_slots(rules, schedules, zone.id, day) for zone in business.zones}
        capacity[day.isoformat()] = {
            slot.strftime("%H:%M"): {
                "free": max((counts[slot] for counts in by_zone.values()), default=0),
                "by_zone": {zone_id: counts[slot] for zone_id, counts in by_zone.items()},
            }
            for slot in rules.slots
        }
    return {
        "start": days[0].isoformat(),
        "end": days[-1].isoformat(),
        "days": [day.isoformat() for day in days],
        "slots": [slot.strftime("%H:%M") for slot in rules.slots],
        "chefs": [{"id": chef.id, "name": chef.name, "zones": list(chef.zones)} for chef in business.chefs],
        "bookings": bookings,
        "grid": grid,
        "capacity": capacity,
    }


def payment_status(status: str, total: int, deposit: int, paid: int) -> str:
    if status == "cancelled":
        return "refund_due" if paid else "cancelled"
    if paid >= total:
        return "paid_in_full"
    if paid >= deposit:
        return "deposit_paid"
    return "partially_paid" if paid else "deposit_due"


def booking_detail(container: Container, reference: str, *, reveal_contact: bool = False) -> dict[str, Any]:
    """A booking for staff: status, date and slot, chef, party, upgrades, the price breakdown, what
    is paid, the deposit link, its events (oldest first). The address and notes only with
    `reveal_contact`."""
    ref = reference.strip().upper()
    with container.uow() as uow:
        b = execute(uow.conn, "SELECT * FROM core.bookings WHERE reference = %s", (ref,)).fetchone()
        if b is None:
            raise NotFound(f"no booking {reference!r}", field="reference")
        bid = str(b.id)
        upgrades = execute(
            uow.conn,
            "SELECT code, guests, unit_cents FROM core.booking_upgrades WHERE booking_id = %s ORDER BY code",
            (bid,),
        ).fetchall()
        events = execute(
            uow.conn,
            "SELECT version, event_type, payload, occurred_at FROM events.domain_events"
            " WHERE aggregate_id = %s ORDER BY version",
            (bid,),
        ).fetchall()
        names = _customer_names(uow, {str(b.customer_id)})
        journey_runs = execute(
            uow.conn,
            "SELECT id, journey, step_index, due_at, status, outcome FROM automation.journey_runs"
            " WHERE booking_id = %s ORDER BY started_at, journey",
            (bid,),
        ).fetchall()
        tasks = execute(
            uow.conn,
            "SELECT text, created_at, done_at FROM automation.staff_tasks WHERE booking_id = %s ORDER BY created_at",
            (bid,),
        ).fetchall()
        address = notes = None
        if reveal_contact:
            address = uow.cipher.readable(b.address_enc, table="core.bookings", column="address_enc", row_id=bid)
            if b.notes_enc is not None:
                notes = uow.cipher.readable(b.notes_enc, table="core.bookings", column="notes_enc", row_id=bid)
    link = container.queries.deposit_link(ref)
    business = container.business
    subtotal = b.total_due_cents - b.travel_fee_cents
    return {
        "booking_id": bid,
        "reference": b.reference,
        "status": b.status,
        "date": b.event_date.isoformat(),
        "slot": b.slot.strftime("%H:%M"),
        "zone": b.zone_id,
        "zip": b.zip,
        "chef_id": str(b.chef_id),
        "chef_name": business.chef_name(str(b.chef_id)),
        "party": {"adults": b.adults, "kids": b.kids},
        "upgrades": [
            {"code": u.code, "guests": u.guests, "unit_cents": u.unit_cents, "cents": u.guests * u.unit_cents}
            for u in upgrades
        ],
        "price": {
            "food_cents": b.food_cents,
            "upgrades_cents": b.upgrades_cents,
            "travel_fee_cents": b.travel_fee_cents,
            "minimum_cents": business.pricing.minimum_cents,
            "minimum_applied": subtotal > b.food_cents + b.upgrades_cents,
            "total_due_cents": b.total_due_cents,
            "deposit_due_cents": b.deposit_due_cents,
            "paid_cents": b.deposit_paid_cents,
            "balance_cents": max(b.total_due_cents - b.deposit_paid_cents, 0),
            "total_due": format_usd(b.total_due_cents),
            "deposit_due": format_usd(b.deposit_due_cents),
            "paid": format_usd(b.deposit_paid_cents),
        },
        "payment_status": payment_status(b.status, b.total_due_cents, b.deposit_due_cents, b.deposit_paid_cents),
        "deposit_link": link,
        "customer": {"id": str(b.customer_id), "name": names.get(str(b.customer_id), "")},
        "address": address,
        "notes": notes,
        "source": b.source,
        "reschedule_count": b.reschedule_count,
        "created_at": b.created_at,
        "events": [
            {"version": e.version, "type": e.event_type, "at": e.occurred_at, "payload": e.payload} for e in events
        ],
        "journeys": [
            {
                "id": str(r.id),
                "journey": r.journey,
                "step": r.step_index,
                "due_at": r.due_at if r.status == "active" else None,
                "status": r.status,
                "outcome": r.outcome or "",
            }
            for r in journey_runs
        ],
        "staff_tasks": [{"text": t.text, "at": t.created_at, "done_at": t.done_at} for t in tasks],
    }


def payments_feed(container: Container, limit: int = 100) -> list[dict[str, Any]]:
    """Payment events as they arrive, newest first (read.payments_feed: deposits due and paid,
    links sent, refunds due). Unmatched bank transactions, with suggested matches to confirm or
    reject, arrive with the payments issue; there are none to show before it."""
    with container.uow() as uow:
        rows = execute(
            uow.conn,
            "SELECT id, booking_id, reference, kind, amount_cents, occurred_at FROM read.payments_feed"
            " ORDER BY occurred_at DESC, id LIMIT %s",
            (max(1, min(limit, 1000)),),
        ).fetchall()
    return [_feed_row(r) for r in rows]


def _feed_row(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "booking_id": str(row.booking_id) if row.booking_id else None,
        "reference": row.reference,
        "kind": row.kind,
        "amount_cents": row.amount_cents,
        "amount": format_usd(row.amount_cents),
        "occurred_at": row.occurred_at,
    }


# ---------------------------------------------------------------- deliveries (the outbox as staff see it)

# What each outbox target delivers, as staff read it.
DELIVERY_KINDS = {
    handlers.DEPOSIT_LINK: "Deposit payment link (Stripe)",
    handlers.REFUND_DEPOSIT: "Deposit refund (Stripe)",
    handlers.NOTIFY_CONFIRMED: "Booking confirmation email",
    handlers.NOTIFY_RESCHEDULED: "Reschedule notice email",
    handlers.NOTIFY_CANCELLED: "Cancellation notice email",
    handlers.NOTIFY_PAYMENT_LINK: "Payment link text",
    handlers.NOTIFY_RECEIPT: "Payment receipt email",
    handlers.NOTIFY_REMINDER: "Reminder email",
    handlers.NOTIFY_STAFF_HANDOFF: "Handoff notice to staff",
    handlers.CALENDAR_EVENT: "Chef's calendar event",
    handlers.SEND_SMS: "Text message",
}
DEAD_ALERT_WINDOW = timedelta(days=7)  # the inbox's count: recent failures, not the whole history


@dataclass(frozen=True)
class Delivery:
    id: str
    target: str
    kind: str  # what it delivers, in words
    reference: str | None  # the booking it was for
    thread_id: str | None  # the conversation it was for
    status: str  # dead | pending
    attempts: int
    max_attempts: int
    last_error: str | None
    at: datetime  # dead: when it died; pending: its next attempt
    created_at: datetime


def deliveries(container: Container, limit: int = 100) -> dict[str, list[Delivery]]:
    """The newest `limit` dead-lettered messages, and the pending ones that failed before (or are
    held) and wait for their next attempt, soonest first."""
    limit = max(1, min(limit, 1000))
    with container.uow() as uow:
        dead = execute(
            uow.conn,
            "SELECT id, target, payload, status, attempts, max_attempts, last_error, available_at, created_at"
            " FROM events.outbox WHERE status = 'dead' ORDER BY available_at DESC, id LIMIT %s",
            (limit,),
        ).fetchall()
        retrying = execute(
            uow.conn,
            "SELECT id, target, payload, status, attempts, max_attempts, last_error, available_at, created_at"
            " FROM events.outbox WHERE status = 'pending' AND (attempts > 0 OR last_error IS NOT NULL)"
            " ORDER BY available_at, id LIMIT %s",
            (limit,),
        ).fetchall()
    return {"dead": [_delivery(r) for r in dead], "retrying": [_delivery(r) for r in retrying]}


def _delivery(row: Any) -> Delivery:
    payload = row.payload if isinstance(row.payload, dict) else {}
    reference, thread_id = payload.get("reference"), payload.get("thread_id")
    return Delivery(
        id=str(row.id),
        target=row.target,
        kind=DELIVERY_KINDS.get(row.target, row.target),
        reference=reference if isinstance(reference, str) else None,
        thread_id=thread_id if isinstance(thread_id, str) else None,
        status=row.status,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        last_error=row.last_error,
        at=row.available_at,
        created_at=row.created_at,
    )


def recent_dead_deliveries(container: Container) -> int:
    """How many messages died in the last DEAD_ALERT_WINDOW (the inbox's alert)."""
    with container.uow() as uow:
        row = execute(
            uow.conn,
            "SELECT count(*) AS n FROM events.outbox WHERE status = 'dead' AND available_at >= %s",
            (container.clock.now() - DEAD_ALERT_WINDOW,),
        ).fetchone()
    return int(row.n) if row else 0


__all__ = [
    "Delivery",
    "InboxFilter",
    "InboxRow",
    "MessageView",
    "NoteView",
    "StaffMember",
    "ThreadView",
    "booking_detail",
    "customer_360",
    "deliveries",
    "hand_back_with_corrections",
    "inbox",
    "payments_feed",
    "recent_dead_deliveries",
    "schedule_week",
    "staff_members",
    "suggested_reply",
    "thread_view",
]


def record_admin_action(container: Container, *, actor: str, action: str, subject: str | None, **detail: Any) -> None:
    """An audit entry, in a transaction of its own, for a staff action that sends no command (a
    look at a customer's record). `detail` must hold no personal data."""
    with container.uow() as uow:
        append_entry(uow.conn, at=container.clock.now(), actor=actor, action=action, subject=subject, detail=detail)
        uow.commit()
