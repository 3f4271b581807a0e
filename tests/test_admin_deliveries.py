"""The staff deliveries page (/admin/deliveries): dead-lettered outbox messages with their last
error, the ones waiting to be retried, the retry command, the inbox's count, who may see it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.security import SESSION_COOKIE
from db.outbox import OutboxMessage
from hibachi.bootstrap import Container
from services import handlers
from services.outbox_dispatcher import OutboxDispatcher, PermanentFailure
from tests.factories import create_booking_cmd
from tests.test_admin_pages import login

REFUSED = "Stripe refused it (400): amount_too_small <for the page>"


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="https://testserver", follow_redirects=False) as test_client:
        yield test_client


def outbox_row(container: Container, target: str) -> Any:
    with container.engine.connect() as conn:
        return conn.execute(text("SELECT * FROM events.outbox WHERE target = :t"), {"t": target}).one()


@pytest.fixture
def failed(container: Container) -> dict[str, Any]:
    """A booking whose deposit link was refused for good and whose confirmation email failed once
    (waiting for its next attempt); its calendar event went out."""
    booked = container.bus.handle(create_booking_cmd()).body

    def refuse(message: OutboxMessage) -> None:
        raise PermanentFailure(REFUSED)

    def flaky(message: OutboxMessage) -> None:
        raise ConnectionError("smtp.example.com timed out")

    targets = {handlers.DEPOSIT_LINK: refuse, handlers.NOTIFY_CONFIRMED: flaky, handlers.CALENDAR_EVENT: lambda m: None}
    OutboxDispatcher(container.uow, targets, container.clock).dispatch_due()
    return {
        "reference": booked["reference"],
        "dead": outbox_row(container, handlers.DEPOSIT_LINK),
        "retrying": outbox_row(container, handlers.NOTIFY_CONFIRMED),
    }


def test_staff_see_dead_and_retrying_messages_and_the_inbox_counts_the_dead(
    client: TestClient, container: Container, failed: dict[str, Any]
) -> None:
    dead, retrying = failed["dead"], failed["retrying"]
    assert (dead.status, retrying.status) == ("dead", "pending")
    client.cookies.set(SESSION_COOKIE, login(container).cookie)

    page = client.get("/admin/deliveries")
    assert page.status_code == 200
    dead_part, retrying_part = page.text.split("<h2>Retrying")
    assert "Failed for good (1)" in dead_part and str(dead.id) in dead_part
    assert "Deposit payment link (Stripe)" in dead_part
    assert "permanent: Stripe refused it (400): amount_too_small &lt;for the page&gt;" in dead_part  # escaped
    assert f'href="/admin/bookings/{failed["reference"]}"' in dead_part
    assert f'action="/admin/deliveries/{dead.id}/retry"' in dead_part
    assert str(retrying.id) in retrying_part and "ConnectionError: smtp.example.com timed out" in retrying_part
    assert "1 of 8" in retrying_part and "/retry" not in retrying_part  # pending: nothing to retry by hand

    inbox = client.get("/admin")
    assert 'href="/admin/deliveries">Deliveries</a>' in inbox.text  # the nav
    assert "1 message to customers or providers failed for good" in inbox.text


def test_retry_puts_a_dead_message_back_in_the_queue_as_an_audited_command(
    client: TestClient, container: Container, failed: dict[str, Any]
) -> None:
    staff = login(container)
    client.cookies.set(SESSION_COOKIE, staff.cookie)
    dead = failed["dead"]

    answer = client.post(f"/admin/deliveries/{dead.id}/retry", data={"csrf_token": staff.csrf})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/deliveries?retried=1"
    again = outbox_row(container, handlers.DEPOSIT_LINK)
    assert (again.status, again.attempts, again.available_at) == ("pending", 0, container.clock.now())
    with container.engine.connect() as conn:
        entry = conn.execute(text("SELECT * FROM audit.entries WHERE action = 'RetryDelivery'")).one()
    assert (entry.actor, entry.subject, entry.detail["outcome"]) == (f"user:{staff.user_id}", str(dead.id), "ok")
    assert "Queued again" in client.get("/admin/deliveries?retried=1").text

    # The provider works again: the next dispatch delivers it.
    OutboxDispatcher(container.uow, {handlers.DEPOSIT_LINK: lambda m: {"ok": True}}, container.clock).dispatch_due()
    assert outbox_row(container, handlers.DEPOSIT_LINK).status == "done"

    # A message that is not dead (now delivered) is refused, with the reason on the page.
    refused = client.post(f"/admin/deliveries/{dead.id}/retry", data={"csrf_token": staff.csrf})
    assert refused.status_code == 422 and "not dead-lettered: it is delivered" in refused.text
    missing = client.post(
        "/admin/deliveries/00000000-0000-4000-8000-000000000000/retry", data={"csrf_token": staff.csrf}
    )
    assert missing.status_code == 422 and "No such message" in missing.text


def test_a_role_without_the_permission_is_refused(
    client: TestClient, container: Container, failed: dict[str, Any]
) -> None:
    chef = login(container, "chef", chef_id=container.business.chefs[0].id)
    client.cookies.set(SESSION_COOKIE, chef.cookie)
    dead = failed["dead"]
    assert client.get("/admin/deliveries").status_code == 403
    assert client.post(f"/admin/deliveries/{dead.id}/retry", data={"csrf_token": chef.csrf}).status_code == 403
    assert outbox_row(container, handlers.DEPOSIT_LINK).status == "dead"
    schedule = client.get("/admin/schedule")
    assert schedule.status_code == 200 and 'href="/admin/deliveries"' not in schedule.text  # no link to it either
