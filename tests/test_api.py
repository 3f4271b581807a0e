"""The HTTP surface: idempotency, error shapes, status codes, queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from db.tables import bookings, customers, domain_events, idempotency_keys, outbox
from domain.clock import FixedClock
from hibachi.bootstrap import Container
from services.maintenance import purge_expired_idempotency_keys
from tests.conftest import service_headers
from tests.factories import create_booking_body


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(
        create_app(container), raise_server_exceptions=False, headers=service_headers(container)
    ) as test_client:
        yield test_client


def count(container: Container, table: Any) -> int:
    with container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def post(client: TestClient, path: str, body: Any, key: str | None = "key-1") -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(path, json=body, headers=headers)


def test_create_booking_over_http(client: TestClient) -> None:
    response = post(client, "/commands/create-booking", create_booking_body())
    assert response.status_code == 201
    assert response.json()["total_due"] == "$870.00"
    fetched = client.get(f"/queries/bookings/{response.json()['reference'].lower()}")
    assert fetched.status_code == 200
    assert fetched.json()["status"] == "deposit_pending"
    assert "email" not in fetched.text and "dana" not in fetched.text.lower()


def test_zip_defaults_to_the_one_ending_the_address(client: TestClient) -> None:
    body = create_booking_body(address="500 Castro St, Mountain View, CA 94041")
    response = post(client, "/commands/create-booking", body)
    assert response.status_code == 201
    assert response.json()["zone"] == "C"
    assert response.json()["total_due_cents"] == 87000 + 10000  # Bay Area travel fee


def test_same_key_same_body_replays_the_first_response(client: TestClient, container: Container) -> None:
    first = post(client, "/commands/create-booking", create_booking_body())
    again = post(client, "/commands/create-booking", create_booking_body())

    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (count(container, bookings), count(container, outbox), count(container, domain_events)) == (1, 3, 3)


def test_same_key_other_body_is_refused_naming_the_conflict(client: TestClient, container: Container) -> None:
    post(client, "/commands/create-booking", create_booking_body())
    response = post(client, "/commands/create-booking", create_booking_body(slot="15:00"))

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["field"] == "Idempotency-Key"
    assert count(container, bookings) == 1


def test_keys_are_scoped_per_command_and_kept_a_day(client: TestClient, container: Container) -> None:
    created = post(client, "/commands/create-booking", create_booking_body(), key="shared").json()
    cancel = post(client, "/commands/cancel-booking", {"reference": created["reference"]}, key="shared")
    assert cancel.status_code == 200
    with container.engine.connect() as conn:
        lifetimes = conn.execute(select(idempotency_keys.c.expires_at - idempotency_keys.c.created_at)).scalars().all()
    assert all(life.total_seconds() >= 24 * 3600 - 1 for life in lifetimes)


def test_a_failed_command_does_not_burn_its_key(client: TestClient, container: Container) -> None:
    refused = post(client, "/commands/create-booking", create_booking_body(day="2026-12-02"), key="retry-me")
    assert refused.status_code == 422
    assert count(container, idempotency_keys) == 0
    fixed = post(client, "/commands/create-booking", create_booking_body(), key="retry-me")
    assert fixed.status_code == 201


def test_missing_idempotency_key_is_named(client: TestClient) -> None:
    response = post(client, "/commands/create-booking", create_booking_body(), key=None)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["booking"].update(date="2026-13-45"), "booking.date"),
        (lambda b: b["booking"].update(slot="19:00"), "booking.slot"),
        (lambda b: b["booking"]["party"].update(adults=-1), "booking.party.adults"),
        (lambda b: b["booking"]["party"].update(adults="twelve"), "booking.party.adults"),
        (lambda b: b["booking"].update(colour="red"), "booking.colour"),
        (lambda b: b["booking"].update(address="somewhere without a zip"), "booking"),
        (lambda b: b["booking"].update(zip="10001"), "booking.zip"),
        (lambda b: b["customer"].update(email="nope"), "customer.email"),
        (lambda b: b.pop("customer"), "customer"),
        (lambda b: b["booking"].update(upgrades={"caviar": 1}), "booking.upgrades.caviar"),
        (lambda b: b["booking"].update(date="2026-12-02"), "booking.date"),
    ],
)
def test_invalid_input_is_422_naming_the_field(
    client: TestClient, container: Container, mutate: Any, field: str
) -> None:
    body = create_booking_body()
    mutate(body)
    response = post(client, "/commands/create-booking", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert count(container, customers) == 0


def test_taken_slot_is_409_with_alternatives(client: TestClient) -> None:
    for i in range(3):
        assert (
            post(
                client, "/commands/create-booking", create_booking_body(email=f"g{i}@example.com"), f"k{i}"
            ).status_code
            == 201
        )
    response = post(client, "/commands/create-booking", create_booking_body(email="late@example.com"), "k-late")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "slot_unavailable"
    assert {"date": "2026-12-12", "slot": "12:00"} in error["alternatives"]
    assert all(alt != {"date": "2026-12-12", "slot": "18:00"} for alt in error["alternatives"])


def test_reschedule_and_cancel_over_http(client: TestClient) -> None:
    ref = post(client, "/commands/create-booking", create_booking_body()).json()["reference"]
    moved = post(
        client, "/commands/reschedule-booking", {"reference": ref, "date": "2026-12-13", "slot": "12:00"}, "r1"
    )
    assert (moved.status_code, moved.json()["date"], moved.json()["slot"]) == (200, "2026-12-13", "12:00")
    cancelled = post(client, "/commands/cancel-booking", {"reference": ref, "reason": "rain"}, "c1")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    missing = post(client, "/commands/cancel-booking", {"reference": "MH-22222"}, "c2")
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "reference"


def test_update_consent_over_http(client: TestClient) -> None:
    post(client, "/commands/create-booking", create_booking_body())
    response = post(
        client, "/commands/update-consent", {"channel": "sms", "granted": False, "phone": "+19165550123"}, "u1"
    )
    assert (response.status_code, response.json()["granted"]) == (200, False)
    unknown = post(
        client, "/commands/update-consent", {"channel": "sms", "granted": False, "phone": "+19165550999"}, "u2"
    )
    assert unknown.status_code == 200  # a STOP from any number is honoured
    missing = post(
        client,
        "/commands/update-consent",
        {"channel": "sms", "granted": False, "customer_id": "00000000-0000-0000-0000-000000000000"},
        "u3",
    )
    assert missing.status_code == 404


def test_quote_query(client: TestClient) -> None:
    response = client.get(
        "/queries/quote", params={"adults": 8, "kids": 2, "zip": "95630", "upgrades": "filet_mignon:3"}
    )
    assert response.status_code == 200
    quote = response.json()
    # 8*60 + 2*30 + 3*5 = 555 -> minimum 600, + zone B travel 50
    assert (quote["minimum_applied"], quote["total_due_cents"], quote["total_due"]) == (True, 65000, "$650.00")
    bad = client.get("/queries/quote", params={"adults": 8, "zip": "95630", "upgrades": "filet_mignon"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "upgrades")
    far = client.get("/queries/quote", params={"adults": 8, "zip": "60601"})
    assert (far.status_code, far.json()["error"]["code"]) == (422, "outside_service_area")


def test_availability_query(client: TestClient) -> None:
    for i in range(2):
        post(client, "/commands/create-booking", create_booking_body(email=f"a{i}@example.com"), f"a{i}")
    response = client.get("/queries/availability", params={"date": "2026-12-12", "zip": "95816"})
    assert response.status_code == 200
    slots = {s["slot"]: s["chefs_free"] for s in response.json()["slots"]}
    assert slots == {"12:00": 3, "15:00": 3, "18:00": 1, "21:00": 3}
    too_soon = client.get("/queries/availability", params={"date": "2026-12-01", "zip": "95816"})
    assert (too_soon.status_code, too_soon.json()["error"]["field"]) == (422, "date")


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        (
            "post",
            "/commands/create-booking",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        ),
        ("post", "/commands/create-booking", {"content": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}),
        ("post", "/commands/create-booking", {"content": b"[]", "headers": {"Content-Type": "application/json"}}),
        ("post", "/commands/create-booking", {"content": b"a=b", "headers": {"Content-Type": "text/plain"}}),
        ("post", "/commands/cancel-booking", {"json": {"reference": "x" * 5000}}),
        (
            "post",
            "/commands/reschedule-booking",
            {"json": {"reference": "MH-22222", "date": "2026-12-20", "slot": "7pm"}},
        ),
        ("post", "/commands/update-consent", {"json": {"channel": "sms", "granted": True}}),
        ("get", "/queries/availability?date=tomorrow&zip=95816", {}),
        ("get", "/queries/availability?date=2026-12-12&zip=%00%00%00%00%00", {}),
        ("get", "/queries/quote?adults=99999999999999999999&zip=95816", {}),
        ("get", "/queries/quote?adults=61&zip=95816", {}),
        ("get", "/queries/bookings/" + "%F0%9F%94%A5" * 3, {}),
        ("get", "/nowhere", {}),
    ],
)
def test_nothing_a_client_sends_is_a_500(client: TestClient, method: str, path: str, kwargs: dict[str, Any]) -> None:
    headers = {"Idempotency-Key": "fuzz", **kwargs.pop("headers", {})}
    response = client.request(method, path, headers=headers, **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/commands/create-booking",
        "/commands/reschedule-booking",
        "/commands/cancel-booking",
        "/commands/update-consent",
        "/queries/availability",
        "/queries/quote",
        "/queries/bookings/{reference}",
    ):
        assert path in paths


def test_expired_keys_are_purged_and_may_be_reused(client: TestClient, container: Container, clock: FixedClock) -> None:
    post(client, "/commands/create-booking", create_booking_body(), key="old")
    clock.advance(timedelta(hours=23))
    client.headers.update(service_headers(container))  # access tokens last 15 minutes of the clock
    post(client, "/commands/create-booking", create_booking_body(day="2026-12-19"), key="recent")
    clock.advance(timedelta(hours=1, seconds=1))
    client.headers.update(service_headers(container))

    # an expired key is a fresh key, even with another body
    reused = post(client, "/commands/create-booking", create_booking_body(day="2026-12-20"), key="old")
    assert reused.status_code == 201 and "Idempotent-Replayed" not in reused.headers
    clock.advance(timedelta(hours=24, seconds=1))
    client.headers.update(service_headers(container))
    post(client, "/commands/create-booking", create_booking_body(day="2026-12-21"), key="fresh")
    assert purge_expired_idempotency_keys(container.uow, clock) == 2
    with container.engine.connect() as conn:
        assert conn.execute(select(idempotency_keys.c.key)).scalars().all() == ["fresh"]


def test_a_database_outage_is_a_503_saying_when_to_retry(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.bus import DatabaseUnavailable

    def no_database(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseUnavailable("CreateBooking: the database is not answering; try again shortly")

    monkeypatch.setattr(container.bus, "handle", no_database)
    response = post(client, "/commands/create-booking", create_booking_body())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "database_unavailable"
