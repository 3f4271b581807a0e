"""The outbox under faults, with real processes: `hibachi outbox-worker` subprocesses on the test
database deliver deposit links through the real Stripe adapter (the SDK, its client timeout) to the
fake Stripe, which honours idempotency keys as Stripe does and counts what took effect by key.

- A worker SIGKILLed while its call is in flight (the fake acted, the answer never came back):
  after a restart every message is delivered, each took effect once.
- The provider failing 30% of calls (5xx before acting, or acting and answering past the client's
  timeout): everything is delivered, each effect once; a message Stripe refuses is dead-lettered
  with Stripe's reason, and staff see it on the deliveries page.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.security import SESSION_COOKIE
from db.pii import BlindIndex, FieldCipher, new_key
from hibachi.bootstrap import Container
from hibachi.settings import PROJECT_ROOT, Settings
from integrations.faults import Faults
from integrations.stripe.fake import FAKE_API_KEY, FakeStripe
from services import handlers
from tests.factories import create_booking_cmd
from tests.test_admin_pages import login

SECRET = "whsec_test_" + "f" * 24
CLIENT_TIMEOUT = 0.5  # STRIPE_TIMEOUT_SECONDS of the workers; a hung answer comes later than this


@contextmanager
def fake_stripe(faults: Faults) -> Iterator[tuple[FakeStripe, str]]:
    fake = FakeStripe(SECRET)
    server = fake.server(faults=faults)
    try:
        yield fake, server.start()
    finally:
        faults.release()  # a held answer must not keep the server from stopping
        server.stop()


class Workers:
    """`hibachi outbox-worker` processes, each with its log file; all killed at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.started)}.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "hibachi.cli", "outbox-worker"],
            env=self.env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.started.append(worker)
        return worker

    def output(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in sorted(self.logs.glob("worker-*.log")))

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.poll() is None:
                worker.kill()
            worker.wait(10)


@pytest.fixture
def workers(
    tmp_path: Path, database_url: str, cipher: FieldCipher, blind: BlindIndex
) -> Iterator[Callable[[str], Workers]]:
    """Makes a `Workers` for a fake Stripe at a URL; the workers share the tests' database and keys."""
    made: list[Workers] = []
    # Whatever the developer's shell exports, the workers see only the settings given here.
    base = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    ((key_id, key),) = cipher.keys.items()

    def make(stripe_url: str) -> Workers:
        env = base | {
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "PII_KEYS": f"{key_id}:{base64.b64encode(key).decode()}",
            "PII_ACTIVE_KEY_ID": key_id,
            "BLIND_INDEX_KEY": base64.b64encode(blind.key).decode(),
            "TOKEN_SIGNING_KEY": new_key(),
            "STRIPE_API_KEY": FAKE_API_KEY,
            "STRIPE_WEBHOOK_SECRET": SECRET,
            "STRIPE_API_BASE": stripe_url,
            "STRIPE_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT),
            "PUBLIC_BASE_URL": "http://testserver",
            "OUTBOX_POLL_SECONDS": "0.1",
            "OUTBOX_RETRY_BASE_SECONDS": "0.05",
            "OUTBOX_RETRY_MAX_SECONDS": "1",
            "OUTBOX_MAX_ATTEMPTS": "30",  # 30% failures: 30 in a row never happen (0.3^30)
        }
        made.append(Workers(env, tmp_path))
        return made[-1]

    yield make
    for group in made:
        group.stop_all()


def queue_deposit_links(container: Container, count: int) -> dict[str, Any]:
    """A booking (its own deposit link, confirmation and calendar event queued by the command), and
    `count` more deposit links for it, as "resend the payment link" queues them. The booking."""
    booked = container.bus.handle(create_booking_cmd()).body
    payload = {
        "booking_id": booked["booking_id"],
        "reference": booked["reference"],
        "amount_cents": booked["deposit_due_cents"],
        "resend": True,
        "requested_at": container.clock.now().isoformat(),
    }
    with container.uow() as uow:
        uow.outbox.add_many([(handlers.DEPOSIT_LINK, payload)] * count, aggregate_id=booked["booking_id"])
        uow.commit()
    return booked


def queue_refused_link(container: Container, booked: dict[str, Any]) -> str:
    """One deposit link Stripe refuses on every try (under its minimum charge). Its outbox id."""
    payload = {"booking_id": booked["booking_id"], "reference": booked["reference"], "amount_cents": 10}
    with container.uow() as uow:
        uow.outbox.add_many([(handlers.DEPOSIT_LINK, payload)], aggregate_id=booked["booking_id"])
        uow.commit()
    with container.engine.connect() as conn:
        return str(
            conn.execute(text("SELECT id FROM events.outbox WHERE payload->>'amount_cents' = '10'")).scalar_one()
        )


def outbox(container: Container) -> list[Any]:
    with container.engine.connect() as conn:
        return list(
            conn.execute(text("SELECT id::text AS id, target, status, attempts, last_error FROM events.outbox"))
        )


def wait_until(condition: Callable[[], bool], seconds: float, what: str, workers: Workers) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s; the workers said:\n{workers.output()[-4000:]}")
        time.sleep(0.05)


def settled(container: Container) -> bool:
    return all(row.status != "pending" for row in outbox(container))


def links_stored(container: Container) -> Counter[str]:
    with container.engine.connect() as conn:
        rows = conn.execute(text("SELECT outbox_id::text FROM integra.payment_links")).scalars()
        return Counter(rows)


def test_a_worker_killed_mid_call_leaves_nothing_undone_and_nothing_done_twice(
    container: Container, workers: Callable[[str], Workers]
) -> None:
    faults = Faults(latency_seconds=0.002)
    faults.hold_call(40)  # the 40th call: the fake acts, then its answer waits while the worker dies
    with fake_stripe(faults) as (fake, url):
        queue_deposit_links(container, 150)
        group = workers(url)
        first = group.start()
        wait_until(faults.holding.is_set, 60, "the held call", group)
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        faults.release()  # its answer goes to a dead socket
        killed_key = faults.held_key
        assert killed_key and fake.effects_by_key[killed_key] == 1  # it took effect at Stripe
        done = [row for row in outbox(container) if row.status == "done" and row.target == handlers.DEPOSIT_LINK]
        assert 0 < len(done) < 151  # killed mid-run

        group.start()  # the restart: two workers share the rest (SKIP LOCKED)
        group.start()
        wait_until(lambda: settled(container), 60, "every message delivered", group)

    rows = outbox(container)
    assert {row.status for row in rows} == {"done"}, [r for r in rows if r.status != "done"]
    links = [row.id for row in rows if row.target == handlers.DEPOSIT_LINK]
    assert len(links) == 151
    # One checkout session per message, under its own key; the killed call's retry was answered
    # from Stripe's idempotency store instead of making a second one.
    assert fake.effects["checkout.session"] == 151
    assert fake.effects_by_key == Counter({f"deposit-link-{id}": 1 for id in links})
    assert fake.replayed[killed_key] >= 1
    assert links_stored(container) == Counter({id: 1 for id in links})


def test_a_provider_failing_30_percent_of_calls_still_gets_each_message_once(
    container: Container, workers: Callable[[str], Workers]
) -> None:
    faults = Faults(error_share=0.2, hang_share=0.1, hang_seconds=CLIENT_TIMEOUT + 0.5, seed=11)
    with fake_stripe(faults) as (fake, url):
        booked = queue_deposit_links(container, 80)
        refused = queue_refused_link(container, booked)
        group = workers(url)
        group.start()
        group.start()
        wait_until(lambda: settled(container), 90, "every message settled", group)

    rows = {row.id: row for row in outbox(container)}
    dead = [row for row in rows.values() if row.status == "dead"]
    assert [row.id for row in dead] == [refused]
    assert "Stripe refused it (400)" in dead[0].last_error and "at least $0.50" in dead[0].last_error

    delivered = [id for id, row in rows.items() if row.target == handlers.DEPOSIT_LINK and id != refused]
    assert len(delivered) == 81 and all(rows[id].status == "done" for id in delivered)
    assert fake.effects_by_key == Counter({f"deposit-link-{id}": 1 for id in delivered})
    assert links_stored(container) == Counter({id: 1 for id in delivered})
    # The faults happened, and retries went through them: some messages took several attempts.
    assert faults.errors >= 10 and len(faults.hung) >= 5
    assert max(row.attempts for row in rows.values()) >= 2
    # Every hung call was retried after the client's timeout and answered from the store: the SDK's
    # timeout is what fired (without one the worker would have waited the answer out).
    assert set(faults.hung) <= set(fake.replayed)

    # Staff see the dead one, with Stripe's reason, on the deliveries page.
    staff = login(container)
    with TestClient(create_app(container), base_url="https://testserver") as client:
        client.cookies.set(SESSION_COOKIE, staff.cookie)
        page = client.get("/admin/deliveries")
    assert page.status_code == 200
    assert refused in page.text and "at least $0.50" in page.text and booked["reference"] in page.text
