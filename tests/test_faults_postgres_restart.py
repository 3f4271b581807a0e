"""Postgres restarted under load: a private server (hibachi.processes.PrivatePostgres: CI's
service cannot be restarted), an API process and an outbox worker on it, clients booking without
pause. The server is stopped cleanly (fast) and later killed (immediate, as a crash), each time
coming back a second later. Clients retry a failed request with the same Idempotency-Key, as a
real client would. The app recovers by itself, answers the requests caught in the outage with a
clean 503, keeps every booking it accepted (once), its worker keeps dispatching, and the agent answers
a web chat at once after each restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, text

from bench.harness import DEFAULT_BUSINESS_FILE as BENCH_BUSINESS_FILE
from bench.harness import ENDPOINT, FIRST_DAY_OFFSET, LeanClient, Workload
from db.embedded import ensure_database
from db.engine import make_engine
from db.uow import UnitOfWork
from domain.errors import ConcurrencyConflict
from hibachi.bootstrap import Container
from hibachi.business_file import load_business
from hibachi.processes import AppProcesses, PrivatePostgres, prepare_database, wait_until_healthy
from services.bus import CommandFailed, DatabaseUnavailable
from tests.factories import create_booking_cmd
from tests.live import Request, send, wait_for

CLIENTS = 8
RETRY_PAUSE = 0.2  # seconds between a client's attempts of one request (the API says Retry-After: 1)
GIVE_UP_AFTER = 100  # attempts of one request: 20 s of outage


@dataclass(frozen=True)
class Attempt:
    key: str
    sent: float  # time.monotonic()
    answered: float
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class BookingLoad:
    """CLIENTS clients booking back to back in a thread of their own until `stop`; a request that
    gets a 503 (or no answer) is sent again with the same key until it gets something else."""

    base_url: str
    workload: Workload
    stop: threading.Event = field(default_factory=threading.Event)
    attempts: list[Attempt] = field(default_factory=list)
    finals: dict[str, Attempt] = field(default_factory=dict)

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        client = LeanClient(self.base_url, timeout=30)

        async def one_client() -> None:
            while not self.stop.is_set():
                headers, body = self.workload.next_request()
                request = Request(ENDPOINT, body, headers)
                for _ in range(GIVE_UP_AFTER):
                    sent = time.monotonic()
                    reply = await send(client, request, 0)
                    attempt = Attempt(headers["Idempotency-Key"], sent, time.monotonic(), reply.status, reply.body)
                    self.attempts.append(attempt)
                    if reply.status not in (0, 503):
                        break
                    await asyncio.sleep(RETRY_PAUSE)
                self.finals[attempt.key] = attempt

        try:
            await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
        finally:
            await client.close()


@dataclass
class Outage:
    mode: Literal["fast", "immediate"]
    down: float  # pg_ctl stop called
    stopped: float  # pg_ctl stop returned
    up: float  # pg_ctl start returned

    def around(self, attempt: Attempt, slack: float = 2.0) -> bool:
        """Whether the attempt was in flight during the outage or sent just after it."""
        return attempt.answered > self.down and attempt.sent < self.up + slack


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as server:
        server.start()
        yield server


def test_postgres_restarts_under_load(private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    database_url = ensure_database(private_postgres.admin_url, "hibachi")
    prepare_database(database_url, BENCH_BUSINESS_FILE)
    business = load_business(BENCH_BUSINESS_FILE)
    today = dt.datetime.now(ZoneInfo(business.timezone)).date()
    with AppProcesses(database_url, tmp_path, business_file=BENCH_BUSINESS_FILE) as app:
        (api,) = app.start_apis(1)
        (worker,) = app.start_workers(1)
        (api_process,) = (p for p in app.processes if p is not worker)
        load = BookingLoad(api, Workload(today + dt.timedelta(days=FIRST_DAY_OFFSET), app.token()))
        clients = threading.Thread(target=load.run, name="booking-load")
        clients.start()
        chat(api)  # the agent's checkpoint and thread-lock pools hold connections from here on
        outages: list[Outage] = []
        try:
            for mode in ("fast", "immediate"):
                time.sleep(1.5)  # under load
                down = time.monotonic()
                private_postgres.stop(mode)
                stopped = time.monotonic()
                health = httpx.get(api + "/healthz", timeout=5)
                assert (health.status_code, health.json()["error"]["code"]) == (503, "database_unavailable")
                time.sleep(1.0)
                private_postgres.start()
                outages.append(Outage(mode, down, stopped, time.monotonic()))
                # The same process answers again, without anyone touching it, and so does the agent:
                # its pools lend no connection the restart left dead.
                wait_until_healthy(api, api_process, timeout=5)
                chat(api)
            time.sleep(1.5)
        finally:
            load.stop.set()
            clients.join(60)
        assert not clients.is_alive()

        # Every request was booked in the end (retried with its key through the outages).
        assert {final.status for final in load.finals.values()} == {201}, [
            (final.status, final.body[:200]) for final in load.finals.values() if final.status != 201
        ]
        # Requests caught by an outage got a clean 503 saying so: never a 500, never a dropped
        # connection; and none failed once Postgres was back.
        failed = [attempt for attempt in load.attempts if attempt.status != 201]
        assert {attempt.status for attempt in failed} == {503}
        assert {attempt.json()["error"]["code"] for attempt in failed} == {"database_unavailable"}
        assert all(any(outage.around(attempt) for outage in outages) for attempt in failed)
        for outage in outages:
            stopping = [a for a in failed if a.sent < outage.stopped and a.answered > outage.down]
            assert stopping, f"no request was in flight while Postgres stopped ({outage.mode})"
            assert any(a.sent > outage.up and a.status == 201 for a in load.attempts)

        # No accepted booking was lost, none was made twice: one booking per key, the one answered.
        engine = make_engine(database_url, pool_size=1)
        try:
            with engine.connect() as conn:
                stored: dict[str, str] = dict(
                    conn.execute(
                        text(
                            "SELECT k.key, b.reference FROM events.idempotency_keys k"
                            " JOIN core.bookings b ON b.id = CAST(k.response_body ->> 'booking_id' AS uuid)"
                        )
                    ).all()
                )
                bookings = conn.execute(text("SELECT count(*) FROM core.bookings")).scalar_one()
            assert bookings == len(load.finals) == len(stored)
            assert {key: final.json()["reference"] for key, final in load.finals.items()} == stored

            # The worker kept dispatching: everything queued before, between and after the restarts
            # is delivered, none dead-lettered.
            undelivered = "SELECT count(*) FROM events.outbox WHERE status <> 'done'"
            wait_for("the outbox worker to deliver everything", lambda: scalar(engine, undelivered) == 0)
        finally:
            engine.dispose()
        assert api_process.poll() is None and worker.poll() is None
        api_log = app.log_of(api_process)
        unusual = "\n".join(line for line in api_log.splitlines() if not line.startswith("database unavailable on"))
        assert "Traceback" not in api_log and "unhandled" not in api_log, unusual[-4000:]
        print(f"{len(load.finals)} bookings, {len(failed)} attempts answered 503")


def chat(api: str) -> None:
    """A web chat turn in a new conversation: answered by the agent, first time."""
    said = {"session_id": str(uuid.uuid4()), "text": "Hi, are you free on a Saturday for 12 people?"}
    answered = httpx.post(api + "/channels/web/messages", json=said, timeout=30)
    assert answered.status_code == 200, answered.text
    assert answered.json()["reply"], answered.text


def scalar(engine: Engine, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


# ---------------------------------------------------------------- the bus's part, without a restart


def test_a_lost_connection_is_retried_on_a_fresh_one(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    real = container.bus.uow_factory
    failures = iter([psycopg.errors.AdminShutdown("terminating connection due to administrator command")])

    def first_connection_lost() -> UnitOfWork:
        error = next(failures, None)
        if error is not None:
            raise error
        return real()

    monkeypatch.setattr(container.bus, "uow_factory", first_connection_lost)
    assert container.bus.handle(create_booking_cmd(), idempotency_key="after-a-restart").status == 201


@pytest.mark.parametrize("key", [None, "kept-key"])
def test_a_connection_lost_at_commit_is_retried_only_with_a_key(
    container: Container, monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    """The commit went through but its answer was lost: with a key the retry finds the first
    result; without one it must not run the command a second time."""
    real = container.bus.uow_factory
    lost = iter([True])

    def commit_then_lose_the_answer() -> UnitOfWork:
        uow = real()
        if next(lost, False):
            commit = uow.commit

            def committed_but_unanswered() -> None:
                commit()
                raise psycopg.errors.AdminShutdown("terminating connection due to administrator command")

            monkeypatch.setattr(uow, "commit", committed_but_unanswered)
        return uow

    monkeypatch.setattr(container.bus, "uow_factory", commit_then_lose_the_answer)
    if key is None:
        with pytest.raises(DatabaseUnavailable, match="while committing"):
            container.bus.handle(create_booking_cmd())
    else:
        assert container.bus.handle(create_booking_cmd(), idempotency_key=key).replayed is True
    with container.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM core.bookings")).scalar_one() == 1


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (psycopg.OperationalError("connection refused"), DatabaseUnavailable),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), DatabaseUnavailable),
        (psycopg.errors.SerializationFailure("could not serialize access"), CommandFailed),
        (ConcurrencyConflict("booking version 3 taken"), CommandFailed),
    ],
)
def test_retries_run_out_with_the_reason(
    container: Container, monkeypatch: pytest.MonkeyPatch, failure: Exception, raised: type[Exception]
) -> None:
    def failing() -> UnitOfWork:
        raise failure

    monkeypatch.setattr(container.bus, "uow_factory", failing)
    with pytest.raises(CommandFailed) as caught:
        container.bus.handle(create_booking_cmd())
    assert type(caught.value) is raised
