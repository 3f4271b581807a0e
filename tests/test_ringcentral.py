"""RingCentral end to end through the offline fake: the official SDK talks HTTP to the fake; the fake
posts webhook events into the real app. The container here is wired by `bootstrap(ringcentral=...)`,
so texts leave through the SMS sender's gate exactly as in production."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from db.embedded import drop_database, ensure_database
from db.outbox import OutboxMessage
from db.pii import BlindIndex, FieldCipher
from db.tables import payment_links
from domain.business import Business
from domain.clock import FixedClock
from domain.commands import ReceiveMessage, RecordReply, UpdateConsent
from hibachi.bootstrap import Container, bootstrap
from hibachi.settings import KEY_SETTINGS, PROJECT_ROOT, SettingsError, load_settings
from integrations.faults import Faults
from integrations.ringcentral import RingCentralConfig, TokenBucket
from integrations.ringcentral.fake import (
    BUSINESS_NUMBER,
    FAKE_CLIENT_ID,
    FAKE_CLIENT_SECRET,
    FAKE_JWT,
    FakeRingCentral,
)
from integrations.ringcentral.subscription import renew_if_due, subscribe
from services import handlers
from services.sms import SEND_SMS, enqueue_notice
from tests.factories import create_booking_cmd
from tests.test_migrations_and_cli import keys

PHONE = "+19165550142"  # Sacramento: Pacific, like the business
TOKEN = "verify-" + "x" * 24
BURST = 3


@dataclass
class World:
    fake: FakeRingCentral
    client: TestClient
    container: Container  # wired with RingCentral (the shared `container` fixture is not)
    clock: FixedClock


@contextmanager
def ringcentral_world(
    container: Container,
    database_url: str,
    business: Business,
    cipher: FieldCipher,
    blind: BlindIndex,
    *,
    faults: Faults | None = None,
    timeout_seconds: float = 10.0,
) -> Iterator[World]:
    clock = container.clock
    assert isinstance(clock, FixedClock)
    fake = FakeRingCentral(deliver=lambda url, body, headers: client.post(url, content=body, headers=headers))
    server = fake.server(faults=faults)
    config = RingCentralConfig(
        FAKE_CLIENT_ID,
        FAKE_CLIENT_SECRET,
        FAKE_JWT,
        server.start(),
        BUSINESS_NUMBER,
        TOKEN,
        1.0,
        BURST,
        timeout_seconds=timeout_seconds,
    )
    wired = bootstrap(
        database_url=database_url,
        business=business,
        cipher=cipher,
        blind=blind,
        clock=clock,
        ringcentral=config,
        pool_size=5,
    )
    assert wired.ringcentral is not None
    # The bucket on the test's clock, so "a second later" is a clock move, not a sleep.
    wired.ringcentral.bucket = TokenBucket(1.0, BURST, now=lambda: clock.now().timestamp())
    client = TestClient(create_app(wired))
    wired.ringcentral.client.create_subscription("/webhooks/ringcentral")
    try:
        yield World(fake, client, wired, clock)
    finally:
        wired.close_agent()
        wired.engine.dispose()
        server.stop()


@pytest.fixture
def rc(
    container: Container, database_url: str, business: Business, cipher: FieldCipher, blind: BlindIndex
) -> Iterator[World]:
    with ringcentral_world(container, database_url, business, cipher, blind) as world:
        yield world


def count(container: Container, sql: str, **params: Any) -> int:
    with container.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def sms_rows(container: Container) -> list[dict[str, Any]]:
    with container.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM events.outbox WHERE target = :t ORDER BY created_at, id"), {"t": SEND_SMS}
        ).fetchall()
    return [dict(r._mapping) for r in rows]


def staff_texts(world: World, n: int) -> str:
    """A customer's text (stored, no turn) and `n` staff replies to it: `n` texts queued."""
    received = world.container.bus.handle(ReceiveMessage("sms", PHONE, "hello?", "ringcentral", "in-1")).body
    for i in range(n):
        world.container.bus.handle(RecordReply(received["thread_id"], f"staff reply {i}", "staff"))
    return str(received["thread_id"])


def test_the_subscription_handshake_echoes_the_validation_token(rc: World) -> None:
    answer = rc.client.post("/webhooks/ringcentral", headers={"Validation-Token": "abc123"})
    assert (answer.status_code, answer.headers["validation-token"]) == (200, "abc123")
    (subscription,) = rc.fake.subscriptions.values()  # the fake validated our address the same way
    assert subscription["deliveryMode"]["address"] == "/webhooks/ringcentral"


def test_a_wrong_or_missing_verification_token_is_refused_and_nothing_is_stored(rc: World) -> None:
    event = {
        "uuid": "u-1",
        "event": "x",
        "body": {"id": "m-1", "type": "SMS", "direction": "Inbound", "from": {"phoneNumber": PHONE}, "subject": "hi"},
    }
    body = json.dumps(event)
    wrong = rc.client.post("/webhooks/ringcentral", content=body, headers={"Verification-Token": "nope"})
    missing = rc.client.post("/webhooks/ringcentral", content=body)
    garbled = rc.client.post("/webhooks/ringcentral", content=b"{not json", headers={"Verification-Token": TOKEN})
    assert (wrong.status_code, missing.status_code, garbled.status_code) == (401, 400, 400)
    assert count(rc.container, "SELECT count(*) FROM core.messages") == 0


def test_a_text_delivered_twice_is_answered_once_through_ringcentral(rc: World) -> None:
    first = rc.fake.text(PHONE, "hi, what do you charge for 10 people?")
    again = rc.fake.text(PHONE, "hi, what do you charge for 10 people?", message_id=first["event"]["body"]["id"])
    assert (first["status"], again["status"]) == (200, 200)
    assert count(rc.container, "SELECT count(*) FROM core.messages WHERE direction = 'in'") == 1
    assert count(rc.container, "SELECT count(*) FROM core.messages WHERE direction = 'out'") == 1
    (queued,) = sms_rows(rc.container)

    assert rc.container.dispatcher.dispatch_due() == 1
    (sent,) = rc.fake.sent
    with rc.container.uow() as uow:
        reply = uow.threads.message(queued["payload"]["message_id"])
    assert reply is not None
    assert (sent["to"], sent["from"], sent["subject"]) == (
        [{"phoneNumber": PHONE}],
        {"phoneNumber": BUSINESS_NUMBER},
        reply.body,
    )
    (done,) = sms_rows(rc.container)
    assert done["status"] == "done" and done["result"]["provider_message_id"] == sent["id"]

    # RingCentral reports the text delivered; a late "Sent" does not undo it.
    assert rc.fake.report(sent["id"], "Delivered")["status"] == 200
    rc.fake.report(sent["id"], "Sent")
    with rc.container.engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM integra.sms_deliveries")).scalar_one()
    assert status == "Delivered"


def test_the_bucket_sends_a_burst_then_one_a_second(rc: World) -> None:
    staff_texts(rc, BURST + 2)
    rc.container.dispatcher.dispatch_due()
    assert len(rc.fake.sent) == BURST
    held = [r for r in sms_rows(rc.container) if r["status"] == "pending"]
    assert len(held) == 2 and all(r["attempts"] == 0 and "rate limit" in r["last_error"] for r in held)

    rc.clock.current += timedelta(seconds=1)
    rc.container.dispatcher.dispatch_due()
    assert len(rc.fake.sent) == BURST + 1
    rc.clock.current += timedelta(seconds=1)
    rc.container.dispatcher.dispatch_due()
    assert [m["subject"] for m in rc.fake.sent] == [f"staff reply {i}" for i in range(BURST + 2)]


def test_429_holds_the_text_for_retry_after_and_5xx_retries(rc: World) -> None:
    staff_texts(rc, 1)
    rc.fake.fail_next(429, retry_after=30)
    rc.container.dispatcher.dispatch_due()
    (row,) = sms_rows(rc.container)
    assert (row["status"], row["attempts"], rc.fake.sent) == ("pending", 0, [])
    assert row["available_at"] == rc.clock.now() + timedelta(seconds=30)

    rc.clock.current += timedelta(seconds=30)
    rc.fake.fail_next(503)
    rc.container.dispatcher.dispatch_due()
    (row,) = sms_rows(rc.container)
    assert (row["status"], row["attempts"]) == ("pending", 1)  # an ordinary retry, with backoff
    assert "503" in row["last_error"] and "Bearer" not in row["last_error"]

    rc.clock.current += timedelta(minutes=1)
    rc.container.dispatcher.dispatch_due()
    assert len(rc.fake.sent) == 1 and sms_rows(rc.container)[0]["status"] == "done"


def test_a_retried_row_is_not_sent_twice(rc: World) -> None:
    staff_texts(rc, 1)
    (row,) = sms_rows(rc.container)
    message = OutboxMessage(id=str(row["id"]), target=SEND_SMS, payload=row["payload"], attempts=0, max_attempts=8)
    target = rc.container.dispatcher.targets[SEND_SMS]
    first, again = target(message), target(message)  # e.g. a crash after the send, before the row was done
    assert first is not None and again is not None
    assert again["provider_message_id"] == first["provider_message_id"] and again["repeat"] is True
    assert len(rc.fake.sent) == 1


def test_texts_get_through_a_ringcentral_failing_30_percent_of_sends(
    container: Container, database_url: str, business: Business, cipher: FieldCipher, blind: BlindIndex
) -> None:
    """5xx before RingCentral acts, and sends that took effect but were answered after the client's
    timeout. Every text is delivered; RingCentral takes no idempotency key, so a timed-out send that
    went through is sent again: at least once, with exactly one copy more per such send."""
    faults = Faults(error_share=0.2, hang_share=0.1, hang_seconds=0.5, seed=11)
    texts = 30
    with ringcentral_world(
        container, database_url, business, cipher, blind, faults=faults, timeout_seconds=0.25
    ) as world:
        staff_texts(world, texts)
        for _ in range(40):  # each round: what is due, then time enough for the backoffs and the bucket
            world.container.dispatcher.dispatch_due()
            if all(row["status"] != "pending" for row in sms_rows(world.container)):
                break
            world.clock.current += timedelta(minutes=2)
        rows = sms_rows(world.container)
        assert [row["status"] for row in rows] == ["done"] * texts
        assert faults.errors > 0 and faults.hung  # the faults happened
        sent = [message["subject"] for message in world.fake.sent]
        assert set(sent) == {f"staff reply {i}" for i in range(texts)}
        assert len(sent) == texts + len(faults.hung)


def test_an_opted_out_number_is_refused_by_the_gate_before_ringcentral(rc: World) -> None:
    staff_texts(rc, 1)
    rc.container.bus.handle(UpdateConsent(channel="sms", granted=False, source="staff", phone=PHONE))
    rc.container.dispatcher.dispatch_due()
    (row,) = sms_rows(rc.container)
    assert (row["status"], row["last_error"]) == ("dead", "permanent: refused: opted_out")
    assert rc.fake.sent == []


def test_subscribe_creates_once_then_renews_the_stored_one(rc: World) -> None:
    assert rc.container.ringcentral is not None
    client = rc.container.ringcentral.client
    rc.fake.subscriptions.clear()  # the fixture's own, made without storing it
    made = subscribe(rc.container.uow, client, "/webhooks/ringcentral", rc.clock)
    again = subscribe(rc.container.uow, client, "/webhooks/ringcentral", rc.clock)
    assert (made.action, again.action, again.subscription_id) == ("created", "renewed", made.subscription_id)
    assert list(rc.fake.subscriptions) == [made.subscription_id]
    rc.fake.subscriptions.clear()  # RingCentral forgot it (expired): a new one, stored in its place
    fresh = subscribe(rc.container.uow, client, "/webhooks/ringcentral", rc.clock)
    assert fresh.action == "created" and fresh.subscription_id != made.subscription_id
    assert (
        count(
            rc.container,
            "SELECT count(*) FROM integra.webhook_subscriptions WHERE subscription_id = :s",
            s=fresh.subscription_id,
        )
        == 1
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"RINGCENTRAL_CLIENT_ID": "abc"}, "setting RINGCENTRAL_CLIENT_SECRET: required"),
        (
            {"RINGCENTRAL_CLIENT_ID": "abc", "RINGCENTRAL_CLIENT_SECRET": "s", "RINGCENTRAL_JWT": "j"},
            "setting RINGCENTRAL_FROM_NUMBER: required",
        ),
        ({"RINGCENTRAL_FROM_NUMBER": "916-555"}, "setting RINGCENTRAL_FROM_NUMBER: must be an E.164"),
        ({"RINGCENTRAL_VERIFICATION_TOKEN": "short"}, "setting RINGCENTRAL_VERIFICATION_TOKEN: must be 16-64"),
        ({"RINGCENTRAL_SERVER_URL": "http://example.com"}, "setting RINGCENTRAL_SERVER_URL: must be an https"),
    ],
)
def test_a_missing_or_malformed_ringcentral_setting_names_itself(
    settings_env: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        settings_env.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value).startswith(expected), refused.value


def test_complete_ringcentral_settings_make_its_config(settings_env: pytest.MonkeyPatch) -> None:
    assert load_settings().ringcentral() is None  # none set: `make run` starts the fake
    settings_env.setenv("RINGCENTRAL_CLIENT_ID", "abc")
    settings_env.setenv("RINGCENTRAL_CLIENT_SECRET", "s3cr3t-value")
    settings_env.setenv("RINGCENTRAL_JWT", "eyJ.jwt")
    settings_env.setenv("RINGCENTRAL_FROM_NUMBER", "+19165550100")
    settings_env.setenv("RINGCENTRAL_VERIFICATION_TOKEN", TOKEN)
    settings_env.setenv("RINGCENTRAL_SMS_BURST", "2")
    config = load_settings().ringcentral()
    assert config is not None
    assert (config.server_url, config.burst, config.rate_per_second) == ("https://platform.ringcentral.com", 2, 1.0)
    for shown in (repr(load_settings()), repr(config)):  # secrets never in a log line
        assert "s3cr3t-value" not in shown and "eyJ.jwt" not in shown and TOKEN not in shown


@pytest.fixture
def scratch_db(admin_url: str) -> Iterator[str]:
    name = f"hibachi_rc_{uuid.uuid4().hex[:8]}"
    url = ensure_database(admin_url, name)
    yield url
    drop_database(admin_url, name)


def test_run_without_ringcentral_keys_texts_through_its_fake(tmp_path: Path, scratch_db: str) -> None:
    """`make run` with no RingCentral app: the fake starts, the app subscribes to it, and the printed
    command texts the business; the agent's reply comes back out through the fake."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    skip = ("PLAID_", "STRIPE_", "RINGCENTRAL_")
    base = {k: v for k, v in os.environ.items() if k not in KEY_SETTINGS and not k.startswith(skip)}
    server = subprocess.Popen(
        [sys.executable, "-m", "hibachi.cli", "run"],
        env=base | keys() | {"DATABASE_URL": scratch_db, "PORT": str(port), "DATA_DIR": str(tmp_path / "data")},
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in server.stdout or []:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + 90
        fake_url = command = None
        while command is None and time.monotonic() < deadline:
            line = lines.get(timeout=90)
            found = re.search(r"fake RingCentral at (http://\S+)", line)
            fake_url = found.group(1) if found else fake_url
            command = line.strip() if "hibachi ringcentral text" in line else None
        assert fake_url and command, "run printed no fake RingCentral or no way to text it"
        # The printed command, as printed (`.venv/bin/hibachi` is this interpreter's hibachi.cli).
        argv = shlex.split(command)
        assert argv[0] == ".venv/bin/hibachi"
        argv = [sys.executable, "-m", "hibachi.cli", *argv[1:]]
        delivered = False
        while not delivered and time.monotonic() < deadline:  # until the app's subscription is made
            said = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False)
            delivered = said.returncode == 0 and json.loads(said.stdout).get("status") == 200
            time.sleep(0 if delivered else 0.3)
        assert delivered, "the app never subscribed to the fake"
        sent: list[dict[str, Any]] = []
        while not sent and time.monotonic() < deadline:  # the outbox runs in the app's process
            sent = httpx.get(f"{fake_url}/fake/sent").json()
            time.sleep(0.2)
        assert sent and sent[0]["to"] == PHONE and sent[0]["text"]
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_a_refused_access_token_logs_in_again_once(rc: World) -> None:
    thread_id = staff_texts(rc, 1)
    rc.container.dispatcher.dispatch_due()
    logins = rc.fake.logins
    rc.fake.tokens.clear()  # RingCentral revoked the token before it ran out
    rc.container.bus.handle(RecordReply(thread_id, "one more", "staff"))
    rc.container.dispatcher.dispatch_due()
    assert (rc.fake.logins, [m["subject"] for m in rc.fake.sent]) == (logins + 1, ["staff reply 0", "one more"])


def test_a_text_from_a_short_code_is_acknowledged_not_stored(rc: World) -> None:
    assert rc.fake.text("72975", "Your carrier says hi")["status"] == 200  # 4xx would be retried for days
    assert count(rc.container, "SELECT count(*) FROM core.messages") == 0


def test_a_payment_link_notice_texts_the_open_link(rc: World) -> None:
    booked = rc.container.bus.handle(create_booking_cmd(phone=PHONE, consent_sms=True)).body
    with rc.container.uow() as uow:
        uow.conn.execute(
            payment_links.insert().values(
                booking_id=booked["booking_id"],
                provider="stripe",
                provider_id="cs_test_1",
                url="https://pay.example/cs_test_1",
                amount_cents=booked["deposit_due_cents"],
            )
        )
        enqueue_notice(
            uow,
            handlers.NOTIFY_PAYMENT_LINK,
            {"booking_id": booked["booking_id"], "reference": booked["reference"]},
            aggregate_id=booked["booking_id"],
        )
        uow.commit()
    rc.container.dispatcher.dispatch_due()
    (sent,) = rc.fake.sent
    assert sent["to"] == [{"phoneNumber": PHONE}]
    assert sent["subject"].startswith(f"Your deposit link for {booked['reference']}: https://pay.example/cs_test_1 ")


def test_a_failed_login_retries_the_text_instead_of_dropping_it(rc: World) -> None:
    staff_texts(rc, 1)
    assert rc.container.ringcentral is not None
    rc.fake.jwt = "rotated.elsewhere"  # our JWT no longer works (someone rotated the credential)
    rc.container.ringcentral.client.platform.auth().reset()
    rc.container.dispatcher.dispatch_due()
    (row,) = sms_rows(rc.container)
    assert (row["status"], row["attempts"]) == ("pending", 1) and "RingCentral login HTTP 400" in row["last_error"]
    rc.fake.jwt = FAKE_JWT  # fixed: the waiting text goes on its next try
    rc.clock.current += timedelta(minutes=1)
    rc.container.dispatcher.dispatch_due()
    assert len(rc.fake.sent) == 1


def test_housekeeping_renews_the_subscription_near_its_end(rc: World) -> None:
    assert rc.container.ringcentral is not None
    client = rc.container.ringcentral.client
    assert renew_if_due(rc.container.uow, client, rc.clock) is None  # none stored: nothing to renew
    made = subscribe(rc.container.uow, client, "/webhooks/ringcentral", rc.clock)
    assert made.expires_at is not None  # on the fake's clock (the wall's), ours is the test's: line them up
    rc.clock.current = made.expires_at - timedelta(days=5)
    assert renew_if_due(rc.container.uow, client, rc.clock) is None  # days left
    rc.clock.current = made.expires_at - timedelta(days=1)
    renewed = renew_if_due(rc.container.uow, client, rc.clock)
    assert renewed is not None and (renewed.action, renewed.subscription_id) == ("renewed", made.subscription_id)
