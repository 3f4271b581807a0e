"""End to end in a real browser: Playwright driving Debian's chromium (/usr/bin/chromium; `.ci/run`
installs it; never a downloaded browser) against the real app served on loopback.

A customer chats in the widget and the thread appears in the staff inbox live; staff take over and
reply as themselves (the customer sees it in the widget); the customer's next message gets no AI
reply; staff hand back and the agent finishes the booking; the booking shows on the schedule board,
its detail page and the customer 360. A screenshot of each page is saved under
`.data/artifacts/browser/` (the test prints the folder).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hibachi.bootstrap import Container
from hibachi.settings import PROJECT_ROOT
from services import identity

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / ".data" / "artifacts" / "browser"
STAFF_EMAIL = "sam.rivera@example.com"
STAFF_PASSWORD = "grill onion volcano 42"
TIMEOUT_MS = 15_000

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def say(chat: Any, text_: str) -> None:
    """The customer types a message in the widget and waits for it to be answered (or not)."""
    before = chat.locator(".msg.agent, .msg.note").count()
    chat.fill("#text", text_)
    chat.click("#send")
    chat.wait_for_function(
        "n => document.querySelectorAll('.msg.agent, .msg.note').length > n", arg=before, timeout=TIMEOUT_MS
    )


def last_answer(chat: Any) -> str:
    return str(chat.locator(".msg.agent, .msg.note").last.inner_text())


def ai_replies_after_takeover(container: Container, thread_id: str) -> int:
    with container.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM core.messages m WHERE m.thread_id = :t AND m.author = 'ai'"
                    " AND m.staff_id IS NULL AND m.seq > (SELECT max(seq) FROM core.messages"
                    " WHERE thread_id = :t AND author = 'staff')"
                ),
                {"t": thread_id},
            ).scalar_one()
        )


def test_a_conversation_from_the_widget_through_the_inbox_to_the_schedule(
    container: Container, live_server: str, browser: Any
) -> None:
    identity.create_user(container, email=STAFF_EMAIL, role="staff", password=STAFF_PASSWORD, name="Sam Rivera")
    print(f"\nscreenshots: {ARTIFACTS}")

    # Staff log in and open the inbox (empty).
    staff = browser.new_context(base_url=live_server).new_page()
    staff.set_default_timeout(TIMEOUT_MS)
    staff.goto("/login?next=/admin")
    shot(staff, "01-login")
    staff.fill("#email", STAFF_EMAIL)
    staff.fill("#password", STAFF_PASSWORD)
    staff.click("button[type=submit]")
    staff.wait_for_url("**/admin")
    assert staff.locator("tr[data-thread]").count() == 0

    # A customer writes in the widget; the thread appears in the inbox without a reload.
    chat = browser.new_context(base_url=live_server).new_page()
    chat.set_default_timeout(TIMEOUT_MS)
    chat.goto("/chat")
    say(chat, "hi! hibachi party on dec 12 at 6pm for 12 adults")
    assert "kids" in last_answer(chat).lower()
    shot(chat, "02-widget-agent")
    staff.wait_for_selector("tr[data-thread]")
    shot(staff, "03-inbox-live")
    thread_id = staff.locator("tr[data-thread]").first.get_attribute("data-thread")
    assert thread_id

    # Staff take over and reply as themselves; the customer sees it in the widget.
    staff.click(f"tr[data-thread='{thread_id}'] a")
    staff.wait_for_url(f"**/admin/threads/{thread_id}")
    staff.click("button:has-text('Take over')")
    staff.wait_for_selector("button:has-text('Hand back to AI')")
    staff.fill("#reply-body", "Hi, this is Sam from the team. Happy to help with your party!")
    staff.click("button[name=send_as][value=me]")
    staff.wait_for_selector("text=Happy to help with your party")
    shot(staff, "04-thread-human")
    chat.wait_for_selector("text=Happy to help with your party")

    # The customer's next message gets no AI reply: it waits for staff.
    say(chat, "great, no kids")
    assert "someone from our team" in last_answer(chat).lower()
    assert ai_replies_after_takeover(container, thread_id) == 0
    shot(chat, "05-widget-human")

    # Staff hand back; the agent finishes the booking with the customer.
    staff.click("button:has-text('Hand back to AI')")
    staff.wait_for_selector("button:has-text('Take over')")
    say(chat, "no kids")
    for said in (
        "2400 J St, Sacramento, CA 95816",
        "Dana Lee, dana.lee@example.com, 916-555-0123",
        "no upgrades",
        "no texts please",
    ):
        say(chat, said)
    assert "Shall I book it?" in last_answer(chat)
    say(chat, "yes")
    booked = last_answer(chat)
    assert "You're booked" in booked
    shot(chat, "06-widget-booked")
    with container.engine.connect() as conn:
        reference, customer_id = conn.execute(text("SELECT reference, customer_id FROM core.bookings")).one()
    assert reference in booked

    # The booking on the schedule board, its detail page, and the customer 360.
    staff.goto("/admin/schedule?week=2026-12-07")
    staff.wait_for_selector(f"text={reference}")
    shot(staff, "07-schedule")
    staff.click(f"a:has-text('{reference}')")
    staff.wait_for_url(f"**/admin/bookings/{reference}")
    assert "$720.00" in staff.content()
    shot(staff, "08-booking")
    staff.goto(f"/admin/customers/{customer_id}")
    staff.wait_for_selector("text=Dana")
    assert reference in staff.content()
    shot(staff, "09-customer-360")
    staff.goto("/admin/payments")
    shot(staff, "10-payments")
    staff.goto(f"/admin/threads/{thread_id}")
    shot(staff, "11-thread-after")
