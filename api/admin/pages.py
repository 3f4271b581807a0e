"""The staff pages under /admin: the inbox, a thread, customer 360, the schedule board, a booking,
the payments feed, the deliveries. Server-rendered (Jinja2, the one environment `api.auth.pages.templates` shares),
htmx for partial updates, server-sent events for live changes. Pages read through `services.admin`
(read models); every action is a command through the bus (or `services.conversations` for take
over / hand back). No page writes a table.

    GET  /admin                                   the inbox (filters, search; rows live)      inbox:read
    GET  /admin/inbox/rows                        the inbox's rows only (htmx)                inbox:read
    GET  /admin/stream                            server-sent events (see api.admin.stream)   inbox:read
    GET  /admin/threads/{id}                      transcript, notes, slots, composer          inbox:read
    GET  /admin/threads/{id}/transcript           the transcript only (htmx, live)            inbox:read
    GET  /admin/threads/{id}/composer             the composer, `?use=suggested` filled       inbox:read
    POST /admin/threads/{id}/take-over|hand-back|assign|snooze|resolve|reopen|notes|reply  inbox:write
    GET  /admin/customers/{id}                    customer 360                                inbox:read
                                                  (contact details decrypted with customers:read, else masked)
    POST /admin/customers/{id}/export             the data subject's JSON bundle (download)   customers:export
    POST /admin/customers/{id}/erase              erase on request (form: type ERASE)         customers:erase
    GET  /admin/schedule?week=YYYY-MM-DD          chefs by day                                schedule:read_own
                                                  (a chef: their own bookings only; schedule:read: everyone's)
    GET  /admin/bookings/{reference}              a booking                                   bookings:read
    POST /admin/bookings/{reference}/reschedule|cancel|resend-link                            bookings:write
    POST /admin/bookings/{reference}/journeys/{run_id}/stop     stop a follow-up journey      bookings:write
    POST /admin/bookings/{reference}/mark-paid                          bookings:write + payments:read
    GET  /admin/payments                          the payments feed                           payments:read
    GET  /admin/deliveries                        messages to providers: dead, retrying       deliveries:read
    POST /admin/deliveries/{id}/retry             a dead-lettered message back in the queue   deliveries:retry

Every route also needs admin:access, and a person logged in (a session; a service token is refused):
`StaffOnly(permission, *also)` is a `Requires`, so the route walk sees it. A browser without a session
is sent to /login?next=... and one owing its second factor to /login/mfa (the login pages' route
class); an htmx request gets the same as an `HX-Redirect`, so a partial never swaps a login page in.

Every form posts the session's `csrf_token`; an action answers 303 back to its page, or, for htmx
(`HX-Request`), the re-rendered part of the page. A refused action (a rule of the business) shows
its message on the page (422).

Content-Security-Policy for /admin, set here in one place (`ADMIN_HEADERS`): scripts only from this
origin (`script-src 'self'`: the vendored htmx and its SSE extension in /admin/static), styles only
from this origin (`style-src 'self'`: /admin/static/admin.css; no inline style attribute anywhere),
`connect-src 'self'` for htmx requests and the EventSource. htmx is told (its `htmx-config` meta)
not to inject its indicator `<style>`, not to carry `style` attributes over while settling a swap,
not to eval and not to run scripts in swapped content, so nothing needs 'unsafe-inline' or a nonce
(a browser test checks the console stays free of CSP refusals). "Use this" (the suggested reply) re-renders the composer
from the server instead of filling it with script.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Coroutine
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import anyio
from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from api.admin import stream as live
from api.auth.pages import PageRoute, local_path, templates, with_next
from api.deps import get_container
from api.security import SESSION_COOKIE, Principal, Requires
from domain.access import Permission
from domain.commands import (
    AddThreadNote,
    AssignThread,
    CancelBooking,
    ConfirmMatch,
    EraseCustomer,
    ExportCustomerData,
    IgnoreCredit,
    MarkDepositPaid,
    RejectMatch,
    ReopenThread,
    RescheduleBooking,
    ResendPaymentLink,
    ResolveThread,
    RetryDelivery,
    SendStaffReply,
    SnoozeThread,
    StopJourneyRun,
)
from domain.errors import DomainError, Forbidden, NotAuthenticated, SlotUnavailable
from hibachi.bootstrap import Container
from services import admin, conversations, matching

P = Permission
STATIC_DIR = FilePath(__file__).parent / "static"

ADMIN_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}

# The booking-so-far fields staff may correct before handing a thread back (agent.schema.Slots).
CORRECTABLE_SLOTS: tuple[tuple[str, str, str], ...] = (
    ("date", "Date", "date"),
    ("time", "Time", "time"),
    ("party_adults", "Adults", "number"),
    ("party_kids", "Kids", "number"),
    ("zip", "ZIP", "text"),
    ("address", "Address", "text"),
    ("first_name", "First name", "text"),
    ("last_name", "Last name", "text"),
    ("email", "Email", "email"),
)
INT_SLOTS = frozenset({"party_adults", "party_kids", "party_total"})


class StaffOnly(Requires):
    """`Requires(permission)` for the staff pages: also admin:access and every permission in `also`,
    for a person with a session (a service token has no business in a browser page)."""

    def __init__(self, permission: Permission, *also: Permission) -> None:
        super().__init__(permission)
        self.also = also

    async def __call__(self, request: Request) -> Principal:
        principal = await super().__call__(request)
        for needed in (P.ADMIN_AREA, *self.also):
            if needed not in principal.permissions:
                raise Forbidden(f"{principal.role} may not do this (needs {needed.value})")
        if principal.kind != "user" or principal.session is None:
            raise Forbidden("these pages are for people who log in")
        return principal


InboxReader = Annotated[Principal, Depends(StaffOnly(P.INBOX_READ))]
InboxWriter = Annotated[Principal, Depends(StaffOnly(P.INBOX_WRITE))]
ScheduleReader = Annotated[Principal, Depends(StaffOnly(P.SCHEDULE_READ_OWN))]
BookingReader = Annotated[Principal, Depends(StaffOnly(P.BOOKINGS_READ))]
BookingWriter = Annotated[Principal, Depends(StaffOnly(P.BOOKINGS_WRITE))]
PaymentRecorder = Annotated[Principal, Depends(StaffOnly(P.BOOKINGS_WRITE, P.PAYMENTS_READ))]
PaymentsReader = Annotated[Principal, Depends(StaffOnly(P.PAYMENTS_READ))]
DeliveriesReader = Annotated[Principal, Depends(StaffOnly(P.DELIVERIES_READ))]
DeliveryRetrier = Annotated[Principal, Depends(StaffOnly(P.DELIVERIES_RETRY))]
CustomerExporter = Annotated[Principal, Depends(StaffOnly(P.CUSTOMERS_EXPORT))]
CustomerEraser = Annotated[Principal, Depends(StaffOnly(P.CUSTOMERS_ERASE))]
ThreadId = Annotated[uuid.UUID, Path()]
Reference = Annotated[str, Path(max_length=16)]


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


class AdminRoute(PageRoute):
    """The login pages' route class (browsers to /login), and for htmx requests an `HX-Redirect`
    to the same place: htmx sends no `Accept: text/html`, and must not swap a login page in."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handle(request)
            except (NotAuthenticated, Forbidden) as error:
                if not is_htmx(request):
                    raise
                current = urlsplit(request.headers.get("hx-current-url", ""))
                here = local_path(current.path + (f"?{current.query}" if current.query else "")) or "/admin"
                if isinstance(error, NotAuthenticated):
                    target = with_next("/login", here)
                elif error.field == "mfa":
                    target = with_next("/login/mfa", here)
                else:
                    raise
                return Response(status_code=401, headers={"HX-Redirect": target, "Cache-Control": "no-store"})

        return page


router = APIRouter(prefix="/admin", tags=["admin"], route_class=AdminRoute, include_in_schema=False)


# ---------------------------------------------------------------- rendering


def humanize(delta: timedelta | None) -> str:
    """A waiting time as people say it: "just now", "4 min", "2 h 5 min", "3 d 4 h"."""
    if delta is None:
        return ""
    seconds = max(0, int(delta.total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 1:
        return "just now"
    if hours < 1:
        return f"{minutes} min"
    if days < 1:
        rest = minutes % 60
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    rest_hours = hours % 24
    return f"{days} d {rest_hours} h" if rest_hours else f"{days} d"


def usd(cents: Any) -> str:
    if cents is None or cents == "":
        return ""
    amount = Decimal(int(cents)) / 100
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


class Page:
    """What every admin template gets: who is looking, what they may do, the clock, the zone."""

    def __init__(self, request: Request, principal: Principal) -> None:
        self.request = request
        self.principal = principal
        self.container: Container = get_container(request)
        self.zone = ZoneInfo(self.container.business.timezone)
        self.now = self.container.clock.now()

    def can(self, permission: Permission) -> bool:
        return permission in self.principal.permissions

    def ago(self, moment: datetime | None) -> str:
        return humanize(self.now - moment) if moment is not None else ""

    def local(self, moment: datetime | None, fmt: str = "%a %b %-d, %-I:%M %p") -> str:
        if moment is None:
            return ""
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        if moment.tzinfo is None:
            return moment.strftime(fmt)
        return moment.astimezone(self.zone).strftime(fmt)

    def weekday(self, day: str | date) -> str:
        return (date.fromisoformat(day) if isinstance(day, str) else day).strftime("%a %b %-d")

    @staticmethod
    def words(name: str) -> str:
        """An event's type as words: "BookingRescheduled" -> "booking rescheduled"."""
        return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        session = self.principal.session
        return templates.TemplateResponse(
            self.request,
            template,
            {
                "business": self.container.business.name,
                "page": self,
                "principal": self.principal,
                "csrf_token": session.csrf_token if session is not None else "",
                "P": P,
                "usd": usd,
                "title": context.pop("title", "Staff"),
                **context,
            },
            status_code=status,
            headers=ADMIN_HEADERS,
        )


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


async def run(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await anyio.to_thread.run_sync(lambda: function(*args, **kwargs))


def refusal(error: Exception) -> str | None:
    """The message of a refusal staff should read on the page, or None when it is not one (re-raised)."""
    if isinstance(error, NotAuthenticated | Forbidden):
        return None
    if isinstance(error, DomainError):
        return error.message[:1].upper() + error.message[1:]
    if isinstance(error, SlotUnavailable):
        options = ", ".join(f"{a.date} {a.slot}" for a in error.alternatives[:3])
        return error.message + (f" (free: {options})" if options else "")
    return None


async def refused(function: Callable[..., Any], *args: Any, **kwargs: Any) -> str | None:
    """Run an action off the event loop; the message of a refusal staff should read on the page,
    or None when it went through (anything that is not a refusal is raised)."""
    try:
        await run(function, *args, **kwargs)
    except Exception as problem:
        message = refusal(problem)
        if message is None:
            raise
        return message
    return None


# ---------------------------------------------------------------- the inbox


def inbox_filter(
    mine: bool, unassigned: bool, human: bool, handoff: bool, status: str, channel: str, search: str
) -> admin.InboxFilter:
    return admin.InboxFilter(
        mine=mine,
        unassigned=unassigned,
        human=human,
        handoff=handoff,
        status=status or None,
        channel=channel or None,
        search=search.strip() or None,
    )


Flag = Annotated[bool, Query()]
StatusQuery = Annotated[str, Query(max_length=16, pattern="^(|open|pending|snoozed|resolved)$")]
ChannelQuery = Annotated[str, Query(max_length=8, pattern="^(|sms|web)$")]
SearchQuery = Annotated[str, Query(max_length=100)]


def _inbox_context(
    mine: Flag = False,
    unassigned: Flag = False,
    human: Flag = False,
    handoff: Flag = False,
    status: StatusQuery = "",
    channel: ChannelQuery = "",
    search: SearchQuery = "",
) -> dict[str, Any]:
    """The inbox's filter query parameters (one list for the page and its rows partial): the
    filter, the choices as shown, and the query string that reproduces them."""
    flt = inbox_filter(mine, unassigned, human, handoff, status, channel, search)
    chosen = {
        "mine": mine,
        "unassigned": unassigned,
        "human": human,
        "handoff": handoff,
        "status": status,
        "channel": channel,
        "search": search,
    }
    query = urlencode({k: ("1" if v is True else v) for k, v in chosen.items() if v})
    return {"filters": chosen, "query": query, "flt": flt}


InboxQuery = Annotated[dict[str, Any], Depends(_inbox_context)]
ALERTS_SHOWN = 5
PAGE_SIZE = 50
PageNo = Annotated[int, Query(alias="page", ge=0, le=2000)]
NO_FILTER = admin.InboxFilter()


async def _rows(page: Page, flt: admin.InboxFilter, *, with_alerts: bool, page_no: int = 0) -> dict[str, Any]:
    """Page `page_no` of the rows (PAGE_SIZE each; `more` when older ones follow), and
    (`with_alerts`) the handoff alerts shown above them whatever the filter. Rows come alerts first,
    so an unfiltered first page holds its own alerts: no second read then."""

    def read() -> dict[str, Any]:
        found = admin.inbox(page.container, page.principal.id, flt, PAGE_SIZE + 1, page_no * PAGE_SIZE)
        rows, paging = found[:PAGE_SIZE], {"page_no": page_no, "more": len(found) > PAGE_SIZE}
        if not with_alerts:
            return {"rows": rows, "alerts": None, "more_alerts": False, **paging}
        # Messages to providers that failed for good: staff should notice them where they work.
        dead = admin.recent_dead_deliveries(page.container) if page.can(P.DELIVERIES_READ) else 0
        if page_no == 0 and flt in (NO_FILTER, admin.InboxFilter(handoff=True)):
            alerts = [row for row in rows if row.handoff_requested]
        else:
            alerts = admin.inbox(page.container, page.principal.id, admin.InboxFilter(handoff=True), ALERTS_SHOWN + 1)
        shown = {
            "alerts": alerts[:ALERTS_SHOWN],
            "more_alerts": len(alerts) > ALERTS_SHOWN,
            "dead_deliveries": dead,
            "dead_window_days": admin.DEAD_ALERT_WINDOW.days,
        }
        return {"rows": rows, **shown, **paging}

    found: dict[str, Any] = await run(read)
    return found


@router.get("", response_class=HTMLResponse)
async def inbox_page(
    request: Request,
    principal: InboxReader,
    context: InboxQuery,
    page_no: PageNo = 0,
) -> Response:
    page = Page(request, principal)
    found = await _rows(page, context["flt"], with_alerts=True, page_no=page_no)
    return page.render("inbox.html", title="Inbox", **found, **context)


@router.get("/inbox/rows", response_class=HTMLResponse)
async def inbox_rows(
    request: Request,
    principal: InboxReader,
    context: InboxQuery,
    page_no: PageNo = 0,
) -> Response:
    page = Page(request, principal)
    # A filter change starts again from the first page; a live refresh keeps the page shown.
    page_no = 0 if request.headers.get("hx-trigger") == "filters" else page_no
    # The alerts change with the inbox, not with the filter: a live refresh (triggered by the rows'
    # own element) re-reads them (swapped out of band); a filter change or search leaves them be.
    found = await _rows(page, context["flt"], with_alerts=request.headers.get("hx-trigger") == "rows", page_no=page_no)
    response = page.render("inbox_rows.html", title="Inbox", **found, **context)
    if request.headers.get("hx-trigger") == "filters":  # the filter form changed: the address follows
        response.headers["HX-Replace-Url"] = "/admin" + (f"?{context['query']}" if context["query"] else "")
    return response


@router.get("/stream")
async def inbox_stream(request: Request, principal: InboxReader, thread_id: uuid.UUID | None = None) -> Response:
    container = get_container(request)
    hub = live.hub_of(request.app.state, container)
    body = live.events(
        hub,
        container,
        thread_id=str(thread_id) if thread_id else None,
        session_token=request.cookies.get(SESSION_COOKIE) if principal.session is not None else None,
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# ---------------------------------------------------------------- a thread


async def _thread(page: Page, thread_id: str) -> admin.ThreadView:
    view: admin.ThreadView = await run(admin.thread_view, page.container, thread_id)
    return view


async def thread_page(
    page: Page,
    thread_id: str,
    *,
    partial: bool = False,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    use_suggested: bool = False,
) -> HTMLResponse:
    """The thread page (or, `partial`, its body for htmx); `use_suggested` fills the composer with
    the agent's suggested reply (the "Use this" link without script)."""

    def read() -> tuple[admin.ThreadView, list[admin.StaffMember]]:
        return admin.thread_view(page.container, thread_id), admin.staff_members(page.container)

    view, staff = await run(read)
    draft = view.suggested_reply if use_suggested else None
    return page.render(
        "thread_body.html" if partial else "thread.html",
        status,
        title="Conversation",
        view=view,
        row=view.row,
        staff=staff,
        slot_fields=CORRECTABLE_SLOTS,
        error=error,
        notice=notice,
        draft=draft or "",
    )


@router.get("/threads/{thread_id:uuid}", response_class=HTMLResponse)
async def thread_detail(
    request: Request, principal: InboxReader, thread_id: ThreadId, use: Annotated[str, Query(max_length=16)] = ""
) -> Response:
    return await thread_page(Page(request, principal), str(thread_id), use_suggested=use == "suggested")


@router.get("/threads/{thread_id:uuid}/transcript", response_class=HTMLResponse)
async def thread_transcript(request: Request, principal: InboxReader, thread_id: ThreadId) -> Response:
    page = Page(request, principal)
    view = await _thread(page, str(thread_id))
    return page.render("thread_transcript.html", title="Conversation", view=view, row=view.row)


@router.get("/threads/{thread_id:uuid}/composer", response_class=HTMLResponse)
async def thread_composer(
    request: Request, principal: InboxReader, thread_id: ThreadId, use: Annotated[str, Query(max_length=16)] = ""
) -> Response:
    page = Page(request, principal)
    view = await _thread(page, str(thread_id))
    draft = view.suggested_reply if use == "suggested" else ""
    return page.render("thread_composer.html", title="Conversation", view=view, row=view.row, draft=draft or "")


async def thread_action(
    request: Request, principal: Principal, thread_id: uuid.UUID, action: Callable[[Container], Any], done: str
) -> Response:
    """Run `action`, then answer: htmx gets the thread's body re-rendered, a browser a 303 back."""
    page = Page(request, principal)
    message = await refused(action, page.container)
    if message is not None:
        return await thread_page(page, str(thread_id), partial=is_htmx(request), status=422, error=message)
    if is_htmx(request):
        return await thread_page(page, str(thread_id), partial=True, notice=done)
    return see_other(f"/admin/threads/{thread_id}")


TextField = Annotated[str, Form(max_length=4000)]


@router.post("/threads/{thread_id:uuid}/take-over")
async def take_over(
    request: Request,
    principal: InboxWriter,
    thread_id: ThreadId,
    reason: Annotated[str, Form(max_length=32)] = "staff took over",
) -> Response:
    def act(container: Container) -> None:
        conversations.hand_off(container, str(thread_id), reason.strip() or "staff took over", by=principal.actor)

    return await thread_action(request, principal, thread_id, act, "You have the conversation; the AI is silent.")


@router.post("/threads/{thread_id:uuid}/hand-back")
async def hand_back(request: Request, principal: InboxWriter, thread_id: ThreadId) -> Response:
    form = await request.form()
    corrections: dict[str, Any] = {}
    for name, _label, _kind in CORRECTABLE_SLOTS:
        value = form.get(f"slot_{name}")
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()[:300]
        if name in INT_SLOTS:
            if not (value.isascii() and value.isdigit() and len(value) <= 4):
                page = Page(request, principal)
                return await thread_page(
                    page, str(thread_id), partial=is_htmx(request), status=422, error=f"{name}: a whole number"
                )
            corrections[name] = int(value)
        else:
            corrections[name] = value

    def act(container: Container) -> None:
        conversations.hand_back_with_corrections(container, str(thread_id), corrections, by=principal.actor)

    return await thread_action(request, principal, thread_id, act, "Handed back: the AI has the conversation.")


@router.post("/threads/{thread_id:uuid}/assign")
async def assign(
    request: Request,
    principal: InboxWriter,
    thread_id: ThreadId,
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    if assignee == "me":
        chosen: str | None = principal.id
    elif assignee == "":
        chosen = None
    else:
        try:
            chosen = str(uuid.UUID(assignee))
        except ValueError:
            page = Page(request, principal)
            return await thread_page(page, str(thread_id), partial=is_htmx(request), status=422, error="No such staff")

    def act(container: Container) -> None:
        container.bus.handle(AssignThread(str(thread_id), chosen, by=principal.id))

    return await thread_action(request, principal, thread_id, act, "Assigned." if chosen else "Unassigned.")


@router.post("/threads/{thread_id:uuid}/snooze")
async def snooze(
    request: Request,
    principal: InboxWriter,
    thread_id: ThreadId,
    until: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    page = Page(request, principal)
    try:
        moment = datetime.fromisoformat(until)
    except ValueError:
        return await thread_page(
            page, str(thread_id), partial=is_htmx(request), status=422, error="Choose when the snooze ends."
        )
    if moment.tzinfo is None:  # a datetime-local input: the business's wall clock
        moment = moment.replace(tzinfo=page.zone)

    def act(container: Container) -> None:
        container.bus.handle(SnoozeThread(str(thread_id), moment, by=principal.id))

    return await thread_action(request, principal, thread_id, act, f"Snoozed until {page.local(moment)}.")


@router.post("/threads/{thread_id:uuid}/resolve")
async def resolve(request: Request, principal: InboxWriter, thread_id: ThreadId) -> Response:
    def act(container: Container) -> None:
        container.bus.handle(ResolveThread(str(thread_id), by=principal.id))

    return await thread_action(request, principal, thread_id, act, "Resolved.")


@router.post("/threads/{thread_id:uuid}/reopen")
async def reopen(request: Request, principal: InboxWriter, thread_id: ThreadId) -> Response:
    def act(container: Container) -> None:
        container.bus.handle(ReopenThread(str(thread_id), by=principal.id))

    return await thread_action(request, principal, thread_id, act, "Reopened.")


@router.post("/threads/{thread_id:uuid}/notes")
async def add_note(request: Request, principal: InboxWriter, thread_id: ThreadId, body: TextField = "") -> Response:
    if not body.strip():
        page = Page(request, principal)
        return await thread_page(page, str(thread_id), partial=is_htmx(request), status=422, error="Write the note.")

    def act(container: Container) -> None:
        container.bus.handle(AddThreadNote(str(thread_id), body.strip(), by=principal.id))

    return await thread_action(request, principal, thread_id, act, "Note added.")


@router.post("/threads/{thread_id:uuid}/reply")
async def reply(
    request: Request,
    principal: InboxWriter,
    thread_id: ThreadId,
    body: TextField = "",
    send_as: Annotated[str, Form(max_length=8, pattern="^(me|ai)$")] = "me",
    take_over: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """`take_over` (the composer of a thread in AI mode sends it): take the thread over, then send;
    staff never speak while the agent does."""
    if not body.strip():
        page = Page(request, principal)
        return await thread_page(page, str(thread_id), partial=is_htmx(request), status=422, error="Write a message.")

    def act(container: Container) -> None:
        if take_over:
            conversations.hand_off(container, str(thread_id), "staff replied", by=principal.actor)
        container.bus.handle(SendStaffReply(str(thread_id), body.strip(), as_ai=send_as == "ai", by=principal.id))

    return await thread_action(request, principal, thread_id, act, "Sent.")


# ---------------------------------------------------------------- customer 360


async def _customer(
    page: Page, customer_id: str, *, status: int = 200, error: str | None = None, notice: str | None = None
) -> HTMLResponse:
    reveal = page.can(P.CUSTOMERS_READ)
    customer: dict[str, Any] = await run(admin.customer_360, page.container, customer_id, reveal_contact=reveal)
    title = str(customer.get("name") or "Customer")
    return page.render("customer.html", status, title=title, c=customer, reveal=reveal, error=error, notice=notice)


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
async def customer_page(request: Request, principal: InboxReader, customer_id: uuid.UUID) -> Response:
    page = Page(request, principal)
    # Reading a customer's record is a data access worth a line in the audit log.
    await run(
        admin.record_admin_action,
        page.container,
        actor=principal.actor,
        action="admin.customer_viewed",
        subject=str(customer_id),
        contact_revealed=page.can(P.CUSTOMERS_READ),
    )
    erased = request.query_params.get("erased") == "1"
    return await _customer(page, str(customer_id), notice="Erased." if erased else None)


@router.post("/customers/{customer_id}/export")
async def export_customer(request: Request, principal: CustomerExporter, customer_id: uuid.UUID) -> Response:
    """The data subject's bundle (services/privacy.py) as a JSON download; audited as a command."""
    page = Page(request, principal)
    command = ExportCustomerData(str(customer_id), by=principal.id)
    bundle = (await run(page.container.bus.handle, command, actor=principal.actor)).body
    return JSONResponse(
        bundle,
        headers={
            "Content-Disposition": f'attachment; filename="customer-{customer_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/customers/{customer_id}/erase")
async def erase_customer(
    request: Request,
    principal: CustomerEraser,
    customer_id: uuid.UUID,
    confirm: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Erase on request: the form asks to type ERASE, since it cannot be undone."""
    page = Page(request, principal)
    if confirm.strip().upper() != "ERASE":
        return await _customer(page, str(customer_id), status=422, error="Type ERASE to confirm the erasure.")
    command = EraseCustomer(str(customer_id), by=principal.id)
    message = await refused(page.container.bus.handle, command, actor=principal.actor)
    if message is not None:
        return await _customer(page, str(customer_id), status=422, error=message)
    return see_other(f"/admin/customers/{customer_id}?erased=1")


# ---------------------------------------------------------------- schedule, bookings, payments


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())  # Monday


@router.get("/schedule", response_class=HTMLResponse)
async def schedule_page(
    request: Request, principal: ScheduleReader, week: Annotated[date | None, Query()] = None
) -> Response:
    page = Page(request, principal)
    chef_only: str | None = None
    if not page.can(P.SCHEDULE_READ):
        if principal.chef_id is None:
            raise Forbidden("a chef sees their own schedule only, and this account is no chef's", field="chef_id")
        chef_only = principal.chef_id
    today = page.now.astimezone(page.zone).date()
    if week is not None and abs((week - today).days) > MAX_SCHEDULE_REACH_DAYS:
        raise DomainError(f"must be within {MAX_SCHEDULE_REACH_DAYS // 365} years of today", field="week")
    start = week_start(week or today)
    board: dict[str, Any] = await run(admin.schedule_week, page.container, start)
    if chef_only is not None:  # a chef's board: their row, their bookings, no one else's capacity
        board["chefs"] = [chef for chef in board["chefs"] if chef["id"] == chef_only]
        board["grid"] = {chef_only: board["grid"].get(chef_only, {})}
        board["bookings"] = [b for b in board["bookings"] if b["chef_id"] == chef_only]
        board["capacity"] = {}
    return page.render(
        "schedule.html",
        title="Schedule",
        board=board,
        start=start,
        previous=start - timedelta(days=7),
        next=start + timedelta(days=7),
        chef_only=chef_only,
    )


async def booking_page(page: Page, reference: str, *, status: int = 200, error: str | None = None) -> HTMLResponse:
    reveal = page.can(P.CUSTOMERS_READ)
    booking: dict[str, Any] = await run(admin.booking_detail, page.container, reference, reveal_contact=reveal)
    slots = [slot.strftime("%H:%M") for slot in page.container.business.calendar.slots]
    return page.render("booking.html", status, title=f"Booking {reference}", b=booking, slots=slots, error=error)


@router.get("/bookings/{reference}", response_class=HTMLResponse)
async def booking_detail(request: Request, principal: BookingReader, reference: Reference) -> Response:
    return await booking_page(Page(request, principal), reference)


async def booking_action(
    request: Request, principal: Principal, reference: str, action: Callable[[Container], Any]
) -> Response:
    page = Page(request, principal)
    message = await refused(action, page.container)
    if message is not None:
        return await booking_page(page, reference, status=422, error=message)
    return see_other(f"/admin/bookings/{reference}")


@router.post("/bookings/{reference}/reschedule")
async def reschedule(
    request: Request,
    principal: BookingWriter,
    reference: Reference,
    day: Annotated[date, Form(alias="date")],
    slot: Annotated[str, Form(max_length=5, pattern=r"^\d{2}:\d{2}$")],
) -> Response:
    def act(container: Container) -> None:
        container.bus.handle(RescheduleBooking(reference, day, slot, source="staff"), actor=principal.actor)

    return await booking_action(request, principal, reference, act)


@router.post("/bookings/{reference}/cancel")
async def cancel(
    request: Request,
    principal: BookingWriter,
    reference: Reference,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    def act(container: Container) -> None:
        container.bus.handle(
            CancelBooking(reference, reason.strip() or "cancelled by staff", source="staff"), actor=principal.actor
        )

    return await booking_action(request, principal, reference, act)


MAX_SCHEDULE_REACH_DAYS = 5 * 365
MAX_PAYMENT = Decimal(1_000_000)  # dollars; more is a typo


def cents_of(amount: str) -> int | None:
    try:
        value = Decimal(amount.strip().lstrip("$").replace(",", ""))
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value > MAX_PAYMENT or value.as_tuple().exponent < -2:  # type: ignore[operator]
        return None
    return int(value * 100)


@router.post("/bookings/{reference}/mark-paid")
async def mark_paid(
    request: Request,
    principal: PaymentRecorder,
    reference: Reference,
    amount: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    cents = cents_of(amount)
    if cents is None:
        return await booking_page(
            Page(request, principal), reference, status=422, error="The amount received, in dollars (e.g. 150.00)."
        )

    def act(container: Container) -> None:
        container.bus.handle(MarkDepositPaid(reference, cents, by=principal.id))

    return await booking_action(request, principal, reference, act)


@router.post("/bookings/{reference}/journeys/{run_id}/stop")
async def stop_journey(request: Request, principal: BookingWriter, reference: Reference, run_id: uuid.UUID) -> Response:
    def act(container: Container) -> None:
        container.bus.handle(StopJourneyRun(str(run_id), by=principal.id), actor=principal.actor)

    return await booking_action(request, principal, reference, act)


@router.post("/bookings/{reference}/resend-link")
async def resend_link(request: Request, principal: BookingWriter, reference: Reference) -> Response:
    def act(container: Container) -> None:
        container.bus.handle(ResendPaymentLink(reference, by=principal.id))

    return await booking_action(request, principal, reference, act)


async def _payments(page: Page, *, status: int = 200, error: str | None = None) -> HTMLResponse:
    feed: list[dict[str, Any]] = await run(admin.payments_feed, page.container)
    credits: list[dict[str, Any]] = await run(matching.unmatched_credits, page.container)
    return page.render("payments.html", status, title="Payments", feed=feed, credits=credits, error=error)


@router.get("/payments", response_class=HTMLResponse)
async def payments_page(request: Request, principal: PaymentsReader) -> Response:
    return await _payments(Page(request, principal))


CreditReference = Annotated[str, Form(min_length=1, max_length=16)]


async def credit_action(request: Request, principal: Principal, command: Any) -> Response:
    """A staff decision on a bank credit (confirm, reject, ignore): one command, then the page again."""
    page = Page(request, principal)
    message = await refused(page.container.bus.handle, command, actor=principal.actor)
    if message is not None:
        return await _payments(page, status=422, error=message)
    return see_other("/admin/payments")


@router.post("/payments/{transaction_id:uuid}/confirm")
async def confirm_credit(
    request: Request,
    principal: PaymentRecorder,
    transaction_id: uuid.UUID,
    reference: Annotated[str, Form(max_length=16)],
) -> Response:
    return await credit_action(request, principal, ConfirmMatch(str(transaction_id), reference, principal.id))


@router.post("/payments/{transaction_id:uuid}/reject")
async def reject_credit(
    request: Request,
    principal: PaymentRecorder,
    transaction_id: uuid.UUID,
    reference: Annotated[str, Form(max_length=16)],
) -> Response:
    return await credit_action(request, principal, RejectMatch(str(transaction_id), reference, principal.id))


@router.post("/payments/{transaction_id:uuid}/ignore")
async def ignore_credit(request: Request, principal: PaymentRecorder, transaction_id: uuid.UUID) -> Response:
    return await credit_action(request, principal, IgnoreCredit(str(transaction_id), principal.id))


# ---------------------------------------------------------------- deliveries (the outbox)


async def _deliveries(
    page: Page, *, status: int = 200, error: str | None = None, notice: str | None = None
) -> HTMLResponse:
    found: dict[str, list[admin.Delivery]] = await run(admin.deliveries, page.container)
    return page.render("deliveries.html", status, title="Deliveries", **found, error=error, notice=notice)


@router.get("/deliveries", response_class=HTMLResponse)
async def deliveries_page(request: Request, principal: DeliveriesReader) -> Response:
    retried = request.query_params.get("retried") == "1"
    return await _deliveries(Page(request, principal), notice="Queued again: it goes out shortly." if retried else None)


@router.post("/deliveries/{outbox_id:uuid}/retry")
async def retry_delivery(request: Request, principal: DeliveryRetrier, outbox_id: uuid.UUID) -> Response:
    page = Page(request, principal)
    command = RetryDelivery(str(outbox_id), by=principal.id)
    message = await refused(page.container.bus.handle, command, actor=principal.actor)
    if message is not None:
        return await _deliveries(page, status=422, error=message)
    return see_other("/admin/deliveries?retried=1")
