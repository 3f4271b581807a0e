"""Stripe deposits end to end through the offline fake: the real adapter (the SDK) talks HTTP to
the fake, the fake's "Pay" sends a signed webhook into the real app."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from stripe.params.checkout import SessionCreateParams

from api.app import create_app
from db.tables import payment_events, payment_links, payments_feed, webhook_events
from domain.clock import FixedClock
from domain.commands import CancelBooking
from hibachi.bootstrap import Container
from integrations.stripe import StripeConfig, StripePayments
from integrations.stripe.fake import FAKE_API_KEY, FakeStripe, sign
from services import handlers
from tests.factories import create_booking_cmd
from tools.caller import Caller
from tools.payments import create_payment_link

SECRET = "whsec_test_" + "x" * 24


@pytest.fixture
def stripe_world(container: Container, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeStripe, TestClient]]:
    client = TestClient(create_app(container))
    fake = FakeStripe(
        SECRET,
        webhook_url="/webhooks/stripe",
        deliver=lambda url, body, headers: client.post(url, content=body, headers=headers).status_code,
    )
    server = fake.server()
    url = server.start()
    config = StripeConfig(FAKE_API_KEY, SECRET, "http://testserver", api_base=url, fake=True)
    payments = StripePayments(config, container.uow, container.clock)
    monkeypatch.setattr(container, "stripe", config)
    for name, target in payments.targets(handlers.DEPOSIT_LINK, handlers.REFUND_DEPOSIT).items():
        monkeypatch.setitem(container.dispatcher.targets, name, target)
    yield fake, client
    server.stop()


def rows(container: Container, table: Any) -> list[Any]:
    with container.engine.connect() as conn:
        return list(conn.execute(select(table)).all())


def booked_and_linked(container: Container, fake: FakeStripe) -> tuple[dict[str, Any], str]:
    booked = container.bus.handle(create_booking_cmd()).body
    container.dispatcher.dispatch_due()
    (link,) = rows(container, payment_links)
    return booked, link.provider_id


def test_deposit_paid_end_to_end_through_the_fake(
    stripe_world: tuple[FakeStripe, TestClient], container: Container
) -> None:
    fake, _ = stripe_world
    booked = container.bus.handle(create_booking_cmd()).body
    assert container.dispatcher.dispatch_due() >= 1

    (link,) = rows(container, payment_links)
    assert (link.status, link.amount_cents, link.provider) == ("open", booked["deposit_due_cents"], "stripe")
    session = fake.sessions[link.provider_id]
    assert session["client_reference_id"] == booked["reference"]
    assert session["metadata"] == {"booking_id": booked["booking_id"], "reference": booked["reference"]}
    assert session["line_items_description"] == f"Deposit for {booked['reference']}"
    assert session["expires_at"] - int(container.clock.now().timestamp()) in range(23 * 3600, 24 * 3600 + 1)

    # The URL reaches the customer: the query and the agent's payment link tool both give it.
    assert container.queries.deposit_link(booked["reference"].lower()) == link.url
    told = create_payment_link.invoke({"reference": booked["reference"], "caller": Caller(container, "t-1")})
    assert (told["url"], told["placeholder"]) == (link.url, False)

    # The customer opens the hosted page and presses Pay: a signed webhook comes back to us.
    page = httpx.get(link.url)
    assert page.status_code == 200 and "Pay" in page.text
    assert httpx.post(link.url).status_code == 200
    assert [s["status"] for s in fake.sent] == [200]

    assert container.queries.booking(booked["reference"])["status"] == "deposit_paid"
    (paid,) = rows(container, payment_events)
    assert (paid.kind, paid.amount_cents, paid.booking_id) == (
        "deposit",
        booked["deposit_due_cents"],
        booked["booking_id"],
    )
    assert paid.provider_id == fake.sessions[link.provider_id]["payment_intent"]
    assert [(r.kind, r.amount_cents) for r in rows(container, payments_feed) if r.kind == "deposit_paid"] == [
        ("deposit_paid", booked["deposit_due_cents"])
    ]
    assert rows(container, payment_links)[0].status == "paid"
    assert container.queries.deposit_link(booked["reference"]) is None  # nothing left to pay


def test_retried_outbox_call_makes_one_session(
    stripe_world: tuple[FakeStripe, TestClient], container: Container, clock: FixedClock
) -> None:
    fake, _ = stripe_world
    container.bus.handle(create_booking_cmd())
    with container.engine.connect() as conn:
        (outbox_id,) = conn.execute(
            text("SELECT id FROM events.outbox WHERE target = :t"), {"t": handlers.DEPOSIT_LINK}
        ).one()
    target = container.dispatcher.targets[handlers.DEPOSIT_LINK]
    from db.outbox import OutboxMessage

    with container.engine.connect() as conn:
        payload = conn.execute(text("SELECT payload FROM events.outbox WHERE id = :i"), {"i": outbox_id}).scalar_one()
    message = OutboxMessage(
        id=str(outbox_id), target=handlers.DEPOSIT_LINK, payload=payload, attempts=0, max_attempts=8
    )
    first = target(message)
    clock.advance(timedelta(minutes=40))  # e.g. a timeout after Stripe acted, then retries
    again = target(message)  # the same parameters (Stripe compares them), so the first session back
    assert first == again
    assert fake.effects["checkout.session"] == 1 and fake.replayed[f"deposit-link-{outbox_id}"] == 1
    assert len(rows(container, payment_links)) == 1


def test_stripe_refusing_a_call_dead_letters_it_at_once(
    stripe_world: tuple[FakeStripe, TestClient], container: Container
) -> None:
    fake, _ = stripe_world
    booked = container.bus.handle(create_booking_cmd()).body
    with container.uow() as uow:  # under Stripe's minimum charge: refused however often it is sent
        uow.outbox.add_many(
            [(handlers.DEPOSIT_LINK, {"booking_id": booked["booking_id"], "reference": "MH-X", "amount_cents": 10})]
        )
        uow.commit()
    container.dispatcher.dispatch_due()
    with container.engine.connect() as conn:
        (dead,) = conn.execute(text("SELECT attempts, last_error FROM events.outbox WHERE status = 'dead'")).all()
    assert dead.attempts == 1
    assert dead.last_error.startswith("permanent: Stripe refused it (400):") and "at least $0.50" in dead.last_error
    assert fake.effects["checkout.session"] == 1  # the booking's own link only


def test_the_fake_refuses_a_key_reused_with_other_parameters(stripe_world: tuple[FakeStripe, TestClient]) -> None:
    fake, _ = stripe_world
    client = stripe.StripeClient(FAKE_API_KEY, base_addresses={"api": fake.base_url}, max_network_retries=0)

    def create(amount: int) -> Any:
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {"quantity": 1, "price_data": {"currency": "usd", "unit_amount": amount, "product_data": {"name": "x"}}}
            ],
        }
        return client.v1.checkout.sessions.create(params, {"idempotency_key": "k1"})

    assert create(5000).id == create(5000).id
    with pytest.raises(stripe.IdempotencyError):
        create(6000)
    assert fake.effects_by_key == {"k1": 1}


def _post(client: TestClient, event: dict[str, Any], *, timestamp: int | None = None, secret: str = SECRET) -> int:
    payload = json.dumps(event).encode()
    headers = {"Stripe-Signature": sign(payload, secret, timestamp), "Content-Type": "application/json"}
    return client.post("/webhooks/stripe", content=payload, headers=headers).status_code


def test_forged_and_stale_signatures_are_refused(
    stripe_world: tuple[FakeStripe, TestClient], container: Container
) -> None:
    fake, client = stripe_world
    booked, session_id = booked_and_linked(container, fake)
    session = dict(fake.sessions[session_id], status="complete", payment_status="paid", payment_intent="pi_forged")
    event = fake.event("checkout.session.completed", session)
    assert _post(client, event, secret="whsec_not_ours") == 400
    assert _post(client, event, timestamp=int(time.time()) - 301) == 400
    unsigned = client.post("/webhooks/stripe", content=json.dumps(event).encode())
    assert unsigned.status_code == 400
    payload = json.dumps(event).encode()
    tampered = client.post(
        "/webhooks/stripe",
        content=payload.replace(b"pi_forged", b"pi_forged2"),
        headers={"Stripe-Signature": sign(payload, SECRET)},
    )
    assert tampered.status_code == 400
    assert rows(container, payment_events) == [] and rows(container, webhook_events) == []
    assert container.queries.booking(booked["reference"])["status"] == "deposit_pending"
    assert _post(client, event, timestamp=int(time.time()) - 200) == 200  # late but within tolerance: accepted


def test_replays_and_out_of_order_deliveries_end_paid_once(
    stripe_world: tuple[FakeStripe, TestClient], container: Container
) -> None:
    fake, _ = stripe_world
    booked, session_id = booked_and_linked(container, fake)
    fake.pay(session_id)
    completed = fake.sent[-1]["event"]
    fake.deliver_event(completed)  # the same event again (a replay)
    session = fake.sessions[session_id]
    fake.send("checkout.session.async_payment_succeeded", dict(session))  # another event, same payment
    fake.send("checkout.session.completed", dict(session))  # a duplicate delivery under a new event id
    fake.send("checkout.session.expired", dict(session, status="expired"))  # a late expiry
    assert all(s["status"] == 200 for s in fake.sent)

    view = container.queries.booking(booked["reference"])
    assert (view["status"], view["deposit_paid_cents"]) == ("deposit_paid", booked["deposit_due_cents"])
    assert len(rows(container, payment_events)) == 1
    assert [r.kind for r in rows(container, payments_feed)].count("deposit_paid") == 1
    assert rows(container, payment_links)[0].status == "paid"
    assert len(rows(container, webhook_events)) == 4  # the replay was not stored again


def test_expired_link_then_a_fresh_one(stripe_world: tuple[FakeStripe, TestClient], container: Container) -> None:
    fake, _ = stripe_world
    booked, session_id = booked_and_linked(container, fake)
    fake.expire(session_id)
    assert rows(container, payment_links)[0].status == "expired"
    assert container.queries.deposit_link(booked["reference"]) is None
    from domain.commands import ResendPaymentLink

    container.bus.handle(ResendPaymentLink(booked["reference"], by="staff"))
    container.dispatcher.dispatch_due()
    fresh = container.queries.deposit_link(booked["reference"])
    assert fresh is not None and session_id not in fresh
    httpx.post(fresh)
    assert container.queries.booking(booked["reference"])["status"] == "deposit_paid"


def test_refund_on_early_cancel_is_recorded(stripe_world: tuple[FakeStripe, TestClient], container: Container) -> None:
    fake, _ = stripe_world
    booked, session_id = booked_and_linked(container, fake)
    fake.pay(session_id)
    cancelled = container.bus.handle(CancelBooking(booked["reference"], source="web", reason=None)).body
    assert cancelled["refund_cents"] == booked["deposit_due_cents"]
    container.dispatcher.dispatch_due()
    assert fake.effects["refund"] == 1
    refunded = [r for r in rows(container, payment_events) if r.kind == "refund"]
    assert [(r.amount_cents, r.booking_id) for r in refunded] == [(booked["deposit_due_cents"], booked["booking_id"])]
    fake.deliver_event(fake.sent[-1]["event"])  # charge.refunded replayed
    assert len([r for r in rows(container, payment_events) if r.kind == "refund"]) == 1
    feed = [(r.kind, r.amount_cents) for r in rows(container, payments_feed) if r.kind == "refunded"]
    assert feed == [("refunded", booked["deposit_due_cents"])]  # staff see it in the payments feed
