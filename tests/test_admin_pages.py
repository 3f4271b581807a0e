"""The staff pages under /admin: each renders for staff, access by role, every action a command whose
effect shows on the page, CSRF, escaping of what customers write, and the live stream."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.admin.pages import humanize
from api.app import create_app
from api.security import SESSION_COOKIE
from domain.access import Role
from domain.commands import HandOffThread, ReceiveMessage
from hibachi.bootstrap import Container
from tests.factories import create_booking_cmd
from tests.test_browser_e2e import ARTIFACTS, CHROMIUM

PHONE = "+19165550177"
HTMX = {"HX-Request": "true"}
BROWSER = {"Accept": "text/html,application/xhtml+xml"}


@dataclass(frozen=True)
class Staff:
    user_id: str
    cookie: str
    csrf: str
    name: str | None


def login(
    container: Container, role: Role = "staff", *, name: str | None = "Sam Rivera", chef_id: str | None = None
) -> Staff:
    """A staff user of `role` with a live session (second factor passed)."""
    user_id = str(uuid.uuid4())
    with container.uow() as uow:
        uow.staff.add(
            user_id=user_id,
            email=f"{role}-{user_id[:8]}@example.com",
            role=role,
            password_hash=None,
            name=name,
            chef_id=chef_id,
        )
        token, session = uow.sessions.start(user_id, method="password", mfa_passed=True, at=container.clock.now())
        uow.commit()
    return Staff(user_id, token, session.csrf_token, name)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="https://testserver", follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def staff(container: Container, client: TestClient) -> Staff:
    member = login(container)
    client.cookies.set(SESSION_COOKIE, member.cookie)
    return member


def customer_writes(container: Container, body: str, *, phone: str = PHONE) -> str:
    """A customer's text lands on its thread (stored only: no agent turn). The thread id."""
    received = container.bus.handle(ReceiveMessage("sms", phone, body, "sms-test", str(uuid.uuid4()))).body
    return str(received["thread_id"])


def post(client: TestClient, staff: Staff, path: str, **fields: str) -> Any:
    return client.post(path, data={"csrf_token": staff.csrf, **fields})


def thread_row(container: Container, thread_id: str) -> dict[str, Any]:
    with container.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM read.inbox_threads WHERE thread_id = :t"), {"t": thread_id}).one()
    return dict(row._mapping)


# ---------------------------------------------------------------- access


def test_a_browser_without_a_session_is_sent_to_the_login_page(client: TestClient, container: Container) -> None:
    thread_id = customer_writes(container, "hello")
    for path in ("/admin", f"/admin/threads/{thread_id}", "/admin/schedule?week=2026-12-07", "/admin/payments"):
        response = client.get(path, headers=BROWSER)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=%2Fadmin"), path
    # htmx asks without `Accept: text/html`: it is told where to go, and swaps nothing in.
    partial = client.get("/admin/inbox/rows", headers=HTMX | {"HX-Current-URL": "https://testserver/admin?human=1"})
    assert partial.status_code == 401 and partial.headers["hx-redirect"] == "/login?next=%2Fadmin%3Fhuman%3D1"
    # Anything else gets the API's 401.
    assert client.get("/admin").status_code == 401
    assert client.get("/admin/stream").status_code == 401


def test_a_chef_is_refused_the_inbox_and_sees_only_their_own_schedule(client: TestClient, container: Container) -> None:
    made = [
        container.bus.handle(
            create_booking_cmd(day="2026-12-12", slot="18:00", email=f"g{i}@example.com", phone=f"+1916555010{i}")
        ).body
        for i in range(2)
    ]
    with container.engine.connect() as conn:
        chefs: dict[str, str] = {
            r.reference: r.chef_id
            for r in conn.execute(text("SELECT reference, chef_id::text AS chef_id FROM core.bookings"))
        }
    (own_ref, own_chef), (other_ref, other_chef) = sorted(chefs.items())
    assert own_chef != other_chef and {b["reference"] for b in made} == set(chefs)

    chef = login(container, "chef", name="Kenji", chef_id=own_chef)
    client.cookies.set(SESSION_COOKIE, chef.cookie)
    refused = client.get("/admin", headers=BROWSER)
    assert refused.status_code == 403 and "Not allowed" in refused.text
    assert client.get("/admin/payments", headers=BROWSER).status_code == 403
    assert client.get(f"/admin/bookings/{own_ref}", headers=BROWSER).status_code == 403
    board = client.get("/admin/schedule?week=2026-12-07", headers=BROWSER)
    assert board.status_code == 200, board.text
    assert own_ref in board.text and other_ref not in board.text

    nobody = login(container, "chef", name="No chef record")
    client.cookies.set(SESSION_COOKIE, nobody.cookie)
    assert client.get("/admin/schedule", headers=BROWSER).status_code == 403


def test_a_service_token_is_refused_the_pages(client: TestClient, container: Container) -> None:
    from tests.conftest import service_headers

    response = client.get("/admin", headers=service_headers(container, "owner", service="pages"))
    assert response.status_code == 403


def test_an_action_without_the_csrf_token_is_refused(client: TestClient, container: Container, staff: Staff) -> None:
    thread_id = customer_writes(container, "hello")
    missing = client.post(f"/admin/threads/{thread_id}/take-over", data={})
    assert missing.status_code == 403
    wrong = client.post(f"/admin/threads/{thread_id}/take-over", data={"csrf_token": "not-it"})
    assert wrong.status_code == 403
    assert thread_row(container, thread_id)["mode"] == "ai"  # nothing happened


# ---------------------------------------------------------------- the inbox


def test_the_inbox_lists_threads_with_their_state(client: TestClient, container: Container, staff: Staff) -> None:
    thread_id = customer_writes(container, "Do you cater in Davis?")
    page = client.get("/admin")
    assert page.status_code == 200, page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "connect-src 'self'" in csp
    assert f"/admin/threads/{thread_id}" in page.text
    assert "Do you cater in Davis?" in page.text
    assert 'sse-connect="/admin/stream"' in page.text and "/admin/static/htmx-2.0.11.min.js" in page.text
    assert ">AI<" in page.text and "SMS" in page.text
    assert 'class="badge unread"' in page.text


def test_the_filters_narrow_the_rows(client: TestClient, container: Container, staff: Staff) -> None:
    ai_thread = customer_writes(container, "first one", phone="+19165550101")
    human_thread = customer_writes(container, "second one", phone="+19165550102")
    client.post(f"/admin/threads/{human_thread}/take-over", data={"csrf_token": staff.csrf})

    rows = client.get("/admin/inbox/rows", params={"human": "1"}, headers=HTMX | {"HX-Trigger": "filters"})
    assert rows.status_code == 200
    assert "<html" not in rows.text  # just the rows
    assert human_thread in rows.text and ai_thread not in rows.text
    assert rows.headers["hx-replace-url"] == "/admin?human=1"
    live = client.get("/admin/inbox/rows", params={"human": "1"}, headers=HTMX)  # an SSE refresh: no address change
    assert "hx-replace-url" not in live.headers
    everything = client.get("/admin", params={"status": "", "channel": "sms"})
    assert ai_thread in everything.text and human_thread in everything.text
    assert client.get("/admin", params={"status": "bogus"}).status_code == 422


def test_a_handoff_the_agent_asks_for_raises_an_alert(client: TestClient, container: Container, staff: Staff) -> None:
    thread_id = customer_writes(container, "we are 60 people, can you do it?")
    container.bus.handle(HandOffThread(thread_id, "large_party", "agent"))
    page = client.get("/admin")
    assert "Handoff requested: large_party" in page.text
    assert 'class="badge handoff"' in page.text and ">Human<" in page.text
    only = client.get("/admin/inbox/rows", params={"handoff": "1"}, headers=HTMX | {"HX-Trigger": "filters"})
    assert thread_id in only.text and 'id="alerts"' not in only.text  # a filter change leaves the alerts be
    # A live refresh (the rows' own element triggers it) brings the alerts along, out of band, whatever the filter.
    live = client.get("/admin/inbox/rows", params={"channel": "web"}, headers=HTMX | {"HX-Trigger": "rows"})
    assert thread_id not in live.text.split('<table class="inbox">')[1]
    assert 'hx-swap-oob="true"' in live.text and "Handoff requested: large_party" in live.text
    thread = client.get(f"/admin/threads/{thread_id}")
    assert "Handoff requested: large_party" in thread.text


def test_what_customers_write_is_escaped(client: TestClient, container: Container, staff: Staff) -> None:
    thread_id = customer_writes(container, "<script>alert('x')</script> & <b>bold</b>")
    for path in ("/admin", f"/admin/threads/{thread_id}", f"/admin/threads/{thread_id}/transcript"):
        body = client.get(path).text
        assert "<script>alert" not in body and "<b>bold</b>" not in body, path
        assert "&lt;script&gt;alert(" in body, path


# ---------------------------------------------------------------- a thread and its actions


def test_the_thread_page_shows_the_transcript_and_the_tools(
    client: TestClient, container: Container, staff: Staff
) -> None:
    thread_id = customer_writes(container, "hi there")
    page = client.get(f"/admin/threads/{thread_id}")
    assert page.status_code == 200, page.text
    assert "hi there" in page.text and "AI mode" in page.text
    assert f'sse-connect="/admin/stream?thread_id={thread_id}"' in page.text
    for action in ("take-over", "assign", "snooze", "resolve", "notes", "reply"):
        assert f'action="/admin/threads/{thread_id}/{action}"' in page.text, action
    assert page.text.count(f'name="csrf_token" value="{staff.csrf}"') >= 6
    assert client.get(f"/admin/threads/{uuid.uuid4()}").status_code == 404
    assert client.get("/admin/threads/not-a-uuid").status_code == 404


def test_take_over_reply_and_hand_back(client: TestClient, container: Container, staff: Staff) -> None:
    thread_id = customer_writes(container, "can someone call me?")
    taken = post(client, staff, f"/admin/threads/{thread_id}/take-over")
    assert taken.status_code == 303 and taken.headers["location"] == f"/admin/threads/{thread_id}"
    page = client.get(taken.headers["location"]).text
    assert "Human mode" in page and "Hand back to AI" in page
    assert thread_row(container, thread_id)["mode"] == "human"

    sent = post(client, staff, f"/admin/threads/{thread_id}/reply", body="Hi, this is Sam.", send_as="me")
    assert sent.status_code == 303
    as_ai = post(client, staff, f"/admin/threads/{thread_id}/reply", body="Happy to help!", send_as="ai")
    assert as_ai.status_code == 303
    transcript = client.get(f"/admin/threads/{thread_id}/transcript").text
    assert re.search(r'class="msg staff">\s*<span class="who">Sam Rivera</span>', transcript)
    assert "Hi, this is Sam." in transcript
    assert "AI (sent by Sam Rivera)" in transcript and "Happy to help!" in transcript

    back = post(client, staff, f"/admin/threads/{thread_id}/hand-back", slot_date="2026-12-12", slot_party_adults="10")
    assert back.status_code == 303, back.text
    assert thread_row(container, thread_id)["mode"] == "ai"
    assert "AI mode" in client.get(f"/admin/threads/{thread_id}").text


def test_send_as_me_on_an_ai_thread_takes_it_over_first(client: TestClient, container: Container, staff: Staff) -> None:
    thread_id = customer_writes(container, "hello?")
    sent = post(client, staff, f"/admin/threads/{thread_id}/reply", body="Hi, Sam here.", send_as="me", take_over="1")
    assert sent.status_code == 303, sent.text
    assert thread_row(container, thread_id)["mode"] == "human"
    assert "Hi, Sam here." in client.get(f"/admin/threads/{thread_id}/transcript").text


def test_assign_snooze_resolve_reopen_and_notes(client: TestClient, container: Container, staff: Staff) -> None:
    thread_id = customer_writes(container, "question about rain")
    other = login(container, name="Alex Kim")
    assert post(client, staff, f"/admin/threads/{thread_id}/assign", assignee="me").status_code == 303
    assert str(thread_row(container, thread_id)["assignee_id"]) == staff.user_id
    assert "Assigned to Sam Rivera" in client.get(f"/admin/threads/{thread_id}").text
    mine = client.get("/admin/inbox/rows", params={"mine": "1"}, headers=HTMX)
    assert thread_id in mine.text
    assert post(client, staff, f"/admin/threads/{thread_id}/assign", assignee=other.user_id).status_code == 303
    assert "Assigned to Alex Kim" in client.get(f"/admin/threads/{thread_id}").text
    assert post(client, staff, f"/admin/threads/{thread_id}/assign", assignee="").status_code == 303
    assert thread_row(container, thread_id)["assignee_id"] is None
    assert thread_id in client.get("/admin/inbox/rows", params={"unassigned": "1"}, headers=HTMX).text

    later = (container.clock.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert post(client, staff, f"/admin/threads/{thread_id}/snooze", until=later).status_code == 303
    assert thread_row(container, thread_id)["status"] == "snoozed"
    assert "Snoozed until" in client.get(f"/admin/threads/{thread_id}").text
    past = post(client, staff, f"/admin/threads/{thread_id}/snooze", until="2020-01-01T09:00")
    assert past.status_code == 422 and "future" in past.text  # the refusal shown on the page

    assert post(client, staff, f"/admin/threads/{thread_id}/resolve").status_code == 303
    assert thread_row(container, thread_id)["status"] == "resolved"
    assert post(client, staff, f"/admin/threads/{thread_id}/reopen").status_code == 303
    assert thread_row(container, thread_id)["status"] in ("open", "pending")

    assert post(client, staff, f"/admin/threads/{thread_id}/notes", body="Called <her> back").status_code == 303
    page = client.get(f"/admin/threads/{thread_id}").text
    assert "Called &lt;her&gt; back" in page and "Sam Rivera" in page


def test_an_htmx_action_answers_the_thread_part_only(client: TestClient, container: Container, staff: Staff) -> None:
    thread_id = customer_writes(container, "hello")
    response = client.post(f"/admin/threads/{thread_id}/take-over", data={"csrf_token": staff.csrf}, headers=HTMX)
    assert response.status_code == 200
    assert response.text.lstrip().startswith("{#") is False
    assert '<div id="thread"' in response.text and "<html" not in response.text
    assert "Human mode" in response.text
    refused = client.post(
        f"/admin/threads/{thread_id}/reply", data={"csrf_token": staff.csrf, "body": " "}, headers=HTMX
    )
    assert refused.status_code == 422 and "Write a message." in refused.text


def test_use_this_fills_the_composer_with_the_suggested_reply(
    client: TestClient, container: Container, staff: Staff
) -> None:
    thread_id = customer_writes(container, "hello")
    post(client, staff, f"/admin/threads/{thread_id}/take-over")
    composer = client.get(f"/admin/threads/{thread_id}/composer", params={"use": "suggested"}, headers=HTMX)
    assert composer.status_code == 200 and '<form id="composer"' in composer.text


# ---------------------------------------------------------------- customer, schedule, bookings, payments


@pytest.fixture
def booked(container: Container) -> dict[str, Any]:
    return dict(container.bus.handle(create_booking_cmd(day="2026-12-12", slot="18:00")).body)


def test_the_customer_360(client: TestClient, container: Container, staff: Staff, booked: dict[str, Any]) -> None:
    with container.engine.connect() as conn:
        customer_id = conn.execute(text("SELECT customer_id::text FROM core.bookings")).scalar_one()
    page = client.get(f"/admin/customers/{customer_id}")
    assert page.status_code == 200, page.text
    assert "Dana" in page.text and booked["reference"] in page.text
    assert "dana.lee@example.com" in page.text  # staff hold customers:read


def test_an_admin_exports_and_erases_a_customer_staff_may_not(
    client: TestClient, container: Container, staff: Staff, booked: dict[str, Any]
) -> None:
    with container.engine.connect() as conn:
        customer_id = conn.execute(text("SELECT customer_id::text FROM core.bookings")).scalar_one()
    where = f"/admin/customers/{customer_id}"
    assert "Export data" not in client.get(where).text  # staff: no customers:export nor erase
    assert post(client, staff, f"{where}/export").status_code == 403
    assert post(client, staff, f"{where}/erase", confirm="ERASE").status_code == 403
    owner = login(container, "admin")
    client.cookies.set(SESSION_COOKIE, owner.cookie)
    page = client.get(where).text
    assert f'action="{where}/export"' in page and f'action="{where}/erase"' in page
    download = post(client, owner, f"{where}/export")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert download.json()["customer"]["email"] == "dana.lee@example.com"
    assert booked["reference"] in {b["reference"] for b in download.json()["bookings"]}
    unconfirmed = post(client, owner, f"{where}/erase", confirm="yes")
    assert unconfirmed.status_code == 422 and "Type ERASE" in unconfirmed.text
    upcoming = post(client, owner, f"{where}/erase", confirm="ERASE")
    assert upcoming.status_code == 422 and booked["reference"] in upcoming.text  # cancel it first
    assert post(client, owner, f"/admin/bookings/{booked['reference']}/cancel", reason="asked").status_code == 303
    erased = post(client, owner, f"{where}/erase", confirm="erase")
    assert erased.status_code == 303 and erased.headers["location"] == f"{where}?erased=1"
    after = client.get(erased.headers["location"])
    assert after.status_code == 200 and "Erased" in after.text and "dana.lee@example.com" not in after.text
    assert f'action="{where}/erase"' not in after.text


def test_the_schedule_board_and_a_booking(
    client: TestClient, container: Container, staff: Staff, booked: dict[str, Any]
) -> None:
    reference = booked["reference"]
    board = client.get("/admin/schedule", params={"week": "2026-12-10"})  # any day: its week (Mon 7th)
    assert board.status_code == 200, board.text
    assert f'href="/admin/bookings/{reference}"' in board.text and "15 guests" in board.text
    assert "free" in board.text
    detail = client.get(f"/admin/bookings/{reference}")
    assert detail.status_code == 200, detail.text
    assert reference in detail.text and f"${booked['total_due_cents'] / 100:,.2f}" in detail.text
    for action in ("reschedule", "cancel", "mark-paid", "resend-link"):
        assert f'action="/admin/bookings/{reference}/{action}"' in detail.text


def test_booking_actions(client: TestClient, container: Container, staff: Staff, booked: dict[str, Any]) -> None:
    reference = booked["reference"]
    where = f"/admin/bookings/{reference}"
    assert post(client, staff, f"{where}/resend-link").status_code == 303
    assert post(client, staff, f"{where}/mark-paid", amount="ten").status_code == 422
    assert post(client, staff, f"{where}/mark-paid", amount="100.00").status_code == 303
    assert "deposit paid" in client.get(where).text
    again = post(client, staff, f"{where}/resend-link")
    assert again.status_code == 422 and "already paid" in again.text  # the refusal, on the page
    moved = post(client, staff, f"{where}/reschedule", date="2026-12-19", slot="18:00")
    assert moved.status_code == 303, moved.text
    assert "2026-12-19" in client.get(where).text
    assert post(client, staff, f"{where}/cancel", reason="customer asked").status_code == 303
    assert "cancelled" in client.get(where).text
    payments = client.get("/admin/payments")
    assert payments.status_code == 200 and reference in payments.text


# ---------------------------------------------------------------- live


def test_the_stream_sends_an_inbox_event_after_a_command(live_server: str, container: Container) -> None:
    member = login(container)
    thread_id = customer_writes(container, "anyone there?")
    seen: list[str] = []
    with (
        httpx.Client(base_url=live_server, cookies={SESSION_COOKIE: member.cookie}, timeout=10) as http,
        http.stream("GET", "/admin/stream", params={"thread_id": thread_id}) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "retry: 3000"  # listening from here on
        container.bus.handle(HandOffThread(thread_id, "customer_asked", "agent"))
        for line in lines:
            seen.append(line)
            if line.startswith("event: thread"):
                break
    assert "event: inbox" in seen
    data = [json.loads(line.removeprefix("data: ")) for line in seen if line.startswith("data: ")]
    assert data[0]["thread_id"] == thread_id
    # The client went away: the stream ended and the process's one LISTEN connection with it.
    deadline = time.monotonic() + 5
    while listeners(container) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listeners(container) == 0


def listeners(container: Container) -> int:
    with container.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query = 'LISTEN hibachi_inbox'"
                )
            ).scalar_one()
        )


def test_two_streams_share_one_listen_connection(live_server: str, container: Container) -> None:
    member = login(container)
    opened = threading.Barrier(3)
    done = threading.Event()

    def watch() -> None:
        with (
            httpx.Client(base_url=live_server, cookies={SESSION_COOKIE: member.cookie}, timeout=10) as http,
            http.stream("GET", "/admin/stream") as stream,
        ):
            lines = stream.iter_lines()  # kept: a dropped line iterator closes the response
            next(lines)
            opened.wait()
            done.wait(5)

    watchers = [threading.Thread(target=watch) for _ in range(2)]
    for watcher in watchers:
        watcher.start()
    opened.wait()
    try:
        assert listeners(container) == 1
    finally:
        done.set()
        for watcher in watchers:
            watcher.join()


# ---------------------------------------------------------------- small parts


def test_waiting_times_read_as_people_say_them() -> None:
    assert humanize(timedelta(seconds=20)) == "just now"
    assert humanize(timedelta(minutes=4)) == "4 min"
    assert humanize(timedelta(hours=2, minutes=5)) == "2 h 5 min"
    assert humanize(timedelta(hours=3)) == "3 h"
    assert humanize(timedelta(days=3, hours=4)) == "3 d 4 h"
    assert humanize(None) == ""


def test_admin_and_login_templates_never_share_a_name() -> None:
    from api.auth.pages import TEMPLATE_DIRS

    auth, admin = ({p.name for p in Path(d).glob("*.html")} for d in TEMPLATE_DIRS)
    assert admin and not auth & admin


def test_htmx_is_served_from_this_origin(client: TestClient) -> None:
    for name in ("htmx-2.0.11.min.js", "htmx-ext-sse-2.2.4.js", "admin.css"):
        assert client.get(f"/admin/static/{name}").status_code == 200, name


# ---------------------------------------------------------------- in a real browser


def chromium_path() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else None


@pytest.mark.skipif(chromium_path() is None, reason="needs playwright and Debian's chromium")
def test_the_pages_work_in_a_browser_under_their_csp(live_server: str, container: Container, tmp_path: Path) -> None:
    """htmx, its SSE extension and the pages under the strict CSP, in Chromium: rows arrive live, a
    handoff raises its banner, the filters replace the address, take over / reply / note / hand back
    swap the thread in place, the transcript follows the customer; no console error (no CSP refusal).
    Screenshots go beside the end-to-end test's, under .data/artifacts/browser/admin."""
    from playwright.sync_api import sync_playwright

    shots = ARTIFACTS / "admin"
    shots.mkdir(parents=True, exist_ok=True)
    member = login(container)
    first = customer_writes(container, "Hi! <b>party</b> of 12 on Dec 12?", phone="+19165550111")
    reference = container.bus.handle(create_booking_cmd(day="2026-12-12", slot="18:00")).body["reference"]
    with container.engine.connect() as conn:
        customer_id = conn.execute(text("SELECT customer_id::text FROM core.bookings")).scalar_one()
    console: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        context.add_cookies([{"name": SESSION_COOKIE, "value": member.cookie, "url": live_server}])
        page = context.new_page()
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        page.goto(f"{live_server}/admin")
        page.wait_for_selector(f"tr[data-thread='{first}']")
        page.wait_for_timeout(300)  # the EventSource is open

        second = customer_writes(container, "second customer here", phone="+19165550112")
        page.wait_for_selector(f"tr[data-thread='{second}']", timeout=5000)
        container.bus.handle(HandOffThread(second, "large_party", "agent"))
        page.wait_for_selector("text=Handoff requested: large_party", timeout=5000)
        page.screenshot(path=shots / "inbox.png", full_page=True)
        page.check("input[name=human]")
        page.wait_for_url("**/admin?human=1", timeout=5000)
        page.wait_for_selector(f"tr[data-thread='{first}']", state="detached", timeout=5000)

        page.goto(f"{live_server}/admin/threads/{first}")
        page.click("text=Take over")
        page.wait_for_selector("text=Human mode", timeout=5000)
        page.fill("#reply-body", "Hello from Sam")
        page.click("button[value=me]")
        page.wait_for_selector("text=Hello from Sam", timeout=5000)
        customer_writes(container, "thanks, one more question", phone="+19165550111")
        page.wait_for_selector("text=thanks, one more question", timeout=5000)
        page.fill("#note", "VIP customer")
        page.click("text=Add note")
        page.wait_for_selector("text=VIP customer", timeout=5000)
        page.screenshot(path=shots / "thread.png", full_page=True)
        page.fill("#slot_date", "2026-12-13")
        page.click("text=Hand back to AI")
        page.wait_for_selector("text=AI mode", timeout=10000)
        assert page.locator(".slots dd", has_text="2026-12-13").count() == 1

        for name, path in (
            ("customer", f"/admin/customers/{customer_id}"),
            ("schedule", "/admin/schedule?week=2026-12-07"),
            ("booking", f"/admin/bookings/{reference}"),
            ("payments", "/admin/payments"),
        ):
            page.goto(live_server + path)
            page.screenshot(path=shots / f"{name}.png", full_page=True)
        browser.close()
    assert [line for line in console if line.startswith("error")] == []


def test_the_inbox_pages_through_every_thread(container: Container, client: TestClient, staff: Staff) -> None:
    threads = {customer_writes(container, f"hello {n}", phone=f"+1916555{n:04d}") for n in range(53)}
    first = client.get("/admin")
    assert first.status_code == 200
    shown = set(re.findall(r'data-thread="([0-9a-f-]{36})"', first.text))
    assert len(shown) == 50 and "Older →" in first.text and "← Newer" not in first.text
    second = client.get("/admin", params={"page": 1})
    rest = set(re.findall(r'data-thread="([0-9a-f-]{36})"', second.text))
    assert len(rest) == 3 and shown | rest == threads and "← Newer" in second.text and "Older →" not in second.text
    # a live refresh keeps the page shown; a filter change starts from the first
    live = client.get("/admin/inbox/rows", params={"page": 1}, headers={"HX-Request": "true", "HX-Trigger": "rows"})
    assert set(re.findall(r'data-thread="([0-9a-f-]{36})"', live.text)) == rest
    refilter = client.get(
        "/admin/inbox/rows",
        params={"page": 1, "channel": "sms"},
        headers={"HX-Request": "true", "HX-Trigger": "filters"},
    )
    assert len(set(re.findall(r'data-thread="([0-9a-f-]{36})"', refilter.text))) == 50
    assert client.get("/admin", params={"page": -1}).status_code == 422


def test_odd_input_to_admin_actions_is_refused_not_a_500(
    container: Container, client: TestClient, staff: Staff, booked: dict[str, Any]
) -> None:
    thread_id = customer_writes(container, "hi")
    headers = {"X-CSRF-Token": staff.csrf}
    far = client.post(f"/admin/threads/{thread_id}/snooze", data={"until": "9999-12-31T23:59"}, headers=headers)
    assert far.status_code == 422
    assert client.get("/admin").status_code == 200
    for adults in ("²", "99999999999999999999999", "1001"):
        client.post(f"/admin/threads/{thread_id}/take-over", headers=headers)
        refused = client.post(
            f"/admin/threads/{thread_id}/hand-back", data={"slot_party_adults": adults}, headers=headers
        )
        assert refused.status_code == 422, (adults, refused.status_code)
    for amount in ("NaN", "sNaN", "Infinity", "-5", "1e9"):
        paid = client.post(f"/admin/bookings/{booked['reference']}/mark-paid", data={"amount": amount}, headers=headers)
        assert paid.status_code == 422, amount
    for week in ("9999-12-31", "0001-01-01"):
        assert client.get("/admin/schedule", params={"week": week}).status_code == 422, week
