"""Many clients at once over real HTTP: chef-day locks, idempotency under races, version conflicts."""

from __future__ import annotations

import datetime as dt
import itertools
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from db.tables import bookings, customers
from domain.commands import CancelBooking
from domain.errors import DomainError
from hibachi.bootstrap import Container
from tests.conftest import service_headers
from tests.factories import create_booking_body, create_booking_cmd


def _post_all(
    container: Container, base: str, bodies_and_keys: list[tuple[dict[str, object], str]]
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=60)
    with httpx.Client(base_url=base, timeout=30, limits=limits, headers=service_headers(container)) as client:

        def send(item: tuple[dict[str, object], str]) -> httpx.Response:
            body, key = item
            return client.post("/commands/create-booking", json=body, headers={"Idempotency-Key": key})

        with ThreadPoolExecutor(max_workers=len(bodies_and_keys)) as pool:
            return list(pool.map(send, bodies_and_keys))


def test_fifty_simultaneous_requests_for_one_slot_of_three_chefs(container: Container, live_server: str) -> None:
    requests = [
        (create_booking_body(email=f"guest{i}@example.com", phone=f"+1916555{i:04d}"), f"race-{i}") for i in range(50)
    ]
    responses = _post_all(container, live_server, requests)

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 3, statuses
    assert statuses.count(409) == 47, statuses
    for response in responses:
        if response.status_code == 409:
            alternatives = response.json()["error"]["alternatives"]
            assert alternatives and {"date": "2026-12-12", "slot": "18:00"} not in alternatives
    with container.engine.connect() as conn:
        chefs = (
            conn.execute(
                select(bookings.c.chef_id).where(
                    bookings.c.event_date == dt.date(2026, 12, 12), bookings.c.slot == dt.time(18)
                )
            )
            .scalars()
            .all()
        )
        # the losers' customers were rolled back with their bookings
        assert conn.execute(select(func.count()).select_from(customers)).scalar_one() == 3
    assert len(chefs) == len(set(chefs)) == 3


def test_overlapping_slots_never_double_book_a_chef(container: Container, live_server: str) -> None:
    # With a 60-minute buffer, 12:00 and 15:00 fit one chef but a chef takes at most 2 events a day:
    # 40 requests spread over all four slots can place at most 3 chefs x 2 events.
    requests = [
        (
            create_booking_body(
                slot=["12:00", "15:00", "18:00", "21:00"][i % 4], email=f"s{i}@example.com", phone=f"+1916556{i:04d}"
            ),
            f"s-{i}",
        )
        for i in range(40)
    ]
    responses = _post_all(container, live_server, requests)
    assert sum(r.status_code == 201 for r in responses) == 6
    assert all(r.status_code in (201, 409) for r in responses)
    with container.engine.connect() as conn:
        rows = conn.execute(select(bookings.c.chef_id, bookings.c.slot)).all()
    per_chef: dict[str, list[dt.time]] = {}
    for row in rows:
        per_chef.setdefault(row.chef_id, []).append(row.slot)
    for slots in per_chef.values():
        assert len(slots) <= 2
        starts = sorted(dt.datetime.combine(dt.date(2026, 12, 12), s) for s in slots)
        assert all(b - a >= dt.timedelta(hours=3) for a, b in itertools.pairwise(starts))


def test_one_key_raced_by_many_clients_books_once(container: Container, live_server: str) -> None:
    body = create_booking_body()
    responses = _post_all(container, live_server, [(body, "same-key")] * 20)
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["reference"] for r in responses}) == 1
    with container.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(bookings)).scalar_one() == 1


def test_concurrent_cancels_of_one_booking_apply_once(container: Container) -> None:
    reference = container.bus.handle(create_booking_cmd()).body["reference"]

    def cancel(_: int) -> str:
        try:
            return str(container.bus.handle(CancelBooking(reference)).body["status"])
        except DomainError as error:
            return error.message

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(cancel, range(8)))
    assert outcomes.count("cancelled") == 1
    assert all("is cancelled" in o for o in outcomes if o != "cancelled")
