"""Two API processes and two outbox workers on one database, as a deployment runs them
(hibachi.processes), driven over HTTP with every request spread across both APIs: conflicting
bookings never double-book a chef, 10,000 replays of one command book once, a storm of replayed
Stripe webhooks records one payment, and the two workers deliver every message."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from db.embedded import drop_database, ensure_database
from db.engine import make_engine
from domain.business import Business
from hibachi.business_file import load_business
from hibachi.processes import AppProcesses, prepare_database
from integrations.loopback import LoopbackServer
from integrations.stripe.fake import FAKE_API_KEY, FakeStripe, sign
from tests.live import Reply, Request, send_all, wait_for

SECRET = "whsec_cluster_" + "c" * 24
ADDRESS = "2400 J St, Sacramento, CA 95816"  # zone A: every chef serves it


@dataclass
class Cluster:
    processes: AppProcesses
    apis: list[str]
    stripe: FakeStripe
    engine: Engine
    business: Business
    authorization: dict[str, str]

    def day(self, offset: int) -> str:
        """A bookable date `offset` days from today in the business's time zone (the processes
        run on the real clock)."""
        today = dt.datetime.now(ZoneInfo(self.business.timezone)).date()
        return (today + dt.timedelta(days=offset)).isoformat()

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def booking_request(self, key: str, day: str, slot: str, n: int) -> Request:
        body = {
            "source": "web",
            "customer": {
                "first_name": "Guest",
                "last_name": f"Number {n}",
                "email": f"guest.{n}@example.com",
                "phone": f"+1916{n:07d}",
                "consent_sms": False,
            },
            "booking": {
                "date": day,
                "slot": slot,
                "address": ADDRESS,
                "party": {"adults": 12, "kids": 2},
                "upgrades": {},
            },
        }
        return Request("/commands/create-booking", body, {**self.authorization, "Idempotency-Key": key})


@pytest.fixture(scope="module")
def cluster(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    name = f"hibachi_cluster_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    database_url = ensure_database(admin_url, name)
    stripe = FakeStripe(SECRET)
    stripe_server: LoopbackServer = stripe.server()
    stripe_url = stripe_server.start()
    try:
        prepare_database(database_url)
        settings = {"STRIPE_API_KEY": FAKE_API_KEY, "STRIPE_WEBHOOK_SECRET": SECRET, "STRIPE_API_BASE": stripe_url}
        with AppProcesses(database_url, tmp_path_factory.mktemp("cluster"), env=settings) as processes:
            apis = processes.start_apis(2)
            processes.start_workers(2)
            stripe.webhook_url = f"{apis[0]}/webhooks/stripe"
            engine = make_engine(database_url, pool_size=2)
            try:
                yield Cluster(
                    processes,
                    apis,
                    stripe,
                    engine,
                    load_business(),
                    {"Authorization": f"Bearer {processes.token()}"},
                )
                for process in processes.processes:
                    assert process.poll() is None, processes.log_of(process)  # nothing crashed on the way
                    assert "Traceback" not in processes.log_of(process), processes.log_of(process)
            finally:
                engine.dispose()
    finally:
        stripe_server.stop()
        drop_database(admin_url, name)


def statuses(replies: list[Reply]) -> Counter[int]:
    return Counter(reply.status for reply in replies)


def test_a_thousand_conflicting_requests_never_double_book_a_chef(cluster: Cluster) -> None:
    # 3 chefs, 2 events a day each, on 3 dates: at most 18 of the 1,000 requests can be placed.
    days = [cluster.day(20), cluster.day(21), cluster.day(22)]
    slots = [slot.strftime("%H:%M") for slot in cluster.business.calendar.slots]
    requests = [
        cluster.booking_request(f"conflict-{n}", days[n % 3], slots[(n // 3) % len(slots)], n) for n in range(1000)
    ]
    replies = send_all(cluster.apis, requests, clients=200)

    counts = statuses(replies)
    assert set(counts) == {201, 409}, counts  # no 5xx, no dropped connection
    assert {reply.api for reply in replies} == {0, 1}
    for reply in replies:
        if reply.status == 409:
            assert reply.json()["error"]["code"] == "slot_unavailable"
    rules = cluster.business.calendar
    assert counts[201] == len(days) * len(cluster.business.chefs) * rules.chef_max_events_per_day
    booked = cluster.scalar("SELECT count(*) FROM core.bookings WHERE event_date = ANY(CAST(:d AS date[]))", d=days)
    assert booked == counts[201]
    assert {reply.json()["reference"] for reply in replies if reply.status == 201} == {
        row.reference
        for row in cluster.rows(
            "SELECT reference FROM core.bookings WHERE event_date = ANY(CAST(:d AS date[]))", d=days
        )
    }
    # No chef holds two events closer than an event plus its travel buffer, nor too many in a day.
    clashes = cluster.rows(
        "SELECT a.chef_id, a.event_date, a.slot, b.slot FROM core.bookings a JOIN core.bookings b"
        " ON a.chef_id = b.chef_id AND a.event_date = b.event_date AND a.id < b.id"
        " WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'"
        " AND abs(extract(epoch FROM a.slot - b.slot)) < :gap",
        gap=(rules.event_minutes + rules.travel_buffer_minutes) * 60,
    )
    assert clashes == []
    busiest = cluster.scalar(
        "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM core.bookings"
        " WHERE status <> 'cancelled' GROUP BY chef_id, event_date) per_day"
    )
    assert busiest <= rules.chef_max_events_per_day
    # The losers' customers were rolled back with their bookings.
    assert (
        cluster.scalar(
            "SELECT count(*) FROM core.customers c WHERE NOT EXISTS"
            " (SELECT 1 FROM core.bookings b WHERE b.customer_id = c.id)"
        )
        == 0
    )


def test_ten_thousand_replays_of_one_command_book_once(cluster: Cluster) -> None:
    request = cluster.booking_request(f"replayed-{uuid.uuid4()}", cluster.day(30), "18:00", 9_000_001)
    replies = send_all(cluster.apis, [request] * 10_000, clients=64)

    assert statuses(replies) == {201: 10_000}
    assert {reply.api for reply in replies} == {0, 1}
    first = replies[0].json()
    assert all(reply.json() == first for reply in replies)  # every answer is the first one
    booking_id = first["booking_id"]
    assert (
        cluster.scalar(
            "SELECT count(*) FROM core.bookings WHERE event_date = :d", d=dt.date.fromisoformat(cluster.day(30))
        )
        == 1
    )
    assert (
        cluster.scalar(
            "SELECT count(*) FROM events.domain_events WHERE aggregate_id = :b AND event_type = 'BookingCreated'",
            b=booking_id,
        )
        == 1
    )
    assert (
        cluster.scalar(
            "SELECT count(*) FROM events.idempotency_keys WHERE key = :k", k=request.headers["Idempotency-Key"]
        )
        == 1
    )


def test_a_storm_of_replayed_webhooks_records_one_payment(cluster: Cluster) -> None:
    (created,) = send_all(
        cluster.apis, [cluster.booking_request("to-be-paid", cluster.day(31), "12:00", 9_000_002)], clients=1
    )
    assert created.status == 201
    booked = created.json()
    # A worker makes the deposit link at the fake Stripe; the customer pays it there.
    session_id = wait_for(
        "the deposit link",
        lambda: cluster.rows(
            "SELECT provider_id FROM integra.payment_links WHERE booking_id = :b", b=booked["booking_id"]
        ),
    )[0].provider_id
    cluster.stripe.pay(session_id)
    assert cluster.stripe.sent[-1]["status"] == 200

    # Stripe redelivers: the same signed event 600 times at once, and 5 more events (new ids) about
    # the same payment, 20 times each, over both APIs.
    completed = cluster.stripe.sent[-1]["event"]
    session = cluster.stripe.sessions[session_id]
    others = [cluster.stripe.event("checkout.session.completed", dict(session)) for _ in range(5)]

    def delivery(event: dict[str, Any]) -> Request:
        payload = json.dumps(event).encode()
        headers = {"Stripe-Signature": sign(payload, SECRET)}
        return Request("/webhooks/stripe", event, headers)

    storm = [delivery(completed)] * 600 + [delivery(event) for event in others for _ in range(20)]
    replies = send_all(cluster.apis, storm, clients=48)

    assert statuses(replies) == {200: len(storm)}
    assert all(reply.json()["duplicate"] for reply in replies[:600])  # the first delivery did the work
    assert (
        cluster.scalar("SELECT count(*) FROM integra.payment_events WHERE booking_id = :b", b=booked["booking_id"]) == 1
    )
    assert (
        cluster.scalar(
            "SELECT count(*) FROM read.payments_feed WHERE booking_id = :b AND kind = 'deposit_paid'",
            b=booked["booking_id"],
        )
        == 1
    )
    status, paid = cluster.rows(
        "SELECT status, deposit_paid_cents FROM core.bookings WHERE id = :b", b=booked["booking_id"]
    )[0]
    assert (status, paid) == ("deposit_paid", booked["deposit_due_cents"])
    assert cluster.scalar("SELECT count(*) FROM integra.webhook_events WHERE provider = 'stripe'") == 1 + len(others)


def test_the_two_workers_deliver_every_message(cluster: Cluster) -> None:
    # Bookings of its own (the module's other tests add theirs when they run first).
    requests = [
        cluster.booking_request(f"delivered-{i}", cluster.day(40 + i), "15:00", 9_000_100 + i) for i in range(6)
    ]
    assert statuses(send_all(cluster.apis, requests, clients=6)) == {201: 6}
    pending = "SELECT count(*) FROM events.outbox WHERE status <> 'done'"
    wait_for("the outbox to drain", lambda: cluster.scalar(pending) == 0)
    bookings = cluster.scalar("SELECT count(*) FROM core.bookings")
    assert cluster.scalar("SELECT count(*) FROM integra.payment_links") == bookings
    assert cluster.stripe.effects["checkout.session"] == bookings
    assert cluster.scalar("SELECT max(attempts) FROM events.outbox") == 1
