"""Envelope encryption (a data key per customer and per thread, master key rotation), data subject
export and erasure: after erasure no plaintext of the customer is left in any table, checkpoint or log."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from db.envelope import DataKeyStore, keys_to_rewrap, rotate_master
from db.pii import FieldCipher, KeyDestroyed, data_key_id, new_key
from domain.commands import (
    AddThreadNote,
    CancelBooking,
    EraseCustomer,
    ExportCustomerData,
    HandOffThread,
    SendStaffReply,
    UpdateConsent,
)
from domain.errors import DomainError
from graph.checkpoint import CompiledGraph
from hibachi.bootstrap import Container
from services.conversations import receive_sms
from tests.graph_support import all_bookings
from tests.test_migrations_and_cli import keys, run_cli
from tests.test_migrations_and_cli import scratch_url as scratch_url  # a fixture

NAME = ("Quenby", "Zaltorian")
EMAIL = "quenby.zaltorian@example.org"
PHONE_TYPED, PHONE_E164 = "916-555-0199", "+19165550199"
ADDRESS = "4417 Marigold Ct"
SECRET = "pickled plum allergy"
BOOKING_MESSAGE = (
    f"Hibachi for 12 adults on Saturday December 12th at 6pm, {ADDRESS} Sacramento CA 95816, "
    f"I'm {NAME[0]} {NAME[1]}, {EMAIL}, {PHONE_TYPED}, no kids, no upgrades"
)
# Everything that would betray the customer, as typed and as stored (E.164, lower case).
PLAINTEXTS = [NAME[0], NAME[1], EMAIL, PHONE_E164, "9165550199", "555-0199", ADDRESS, "Marigold", SECRET]


def web(client: TestClient, session: str, said: str) -> dict[str, Any]:
    answer = client.post("/channels/web/messages", json={"session_id": session, "text": said})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """Everything the app logs during the test, at every level, in a file."""
    path = tmp_path / "app.log"
    handler = logging.FileHandler(path)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    before = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    root.setLevel(before)
    handler.close()


def book_through_the_widget(container: Container) -> tuple[str, str]:
    """A customer books on the web chat and mentions an allergy: (thread id, booking reference)."""
    session = str(uuid.uuid4())
    with TestClient(create_app(container)) as client:
        first = web(client, session, BOOKING_MESSAGE)
        web(client, session, f"note: {SECRET}")
        web(client, session, "yes")  # texts are fine
        web(client, session, "yes")  # book it
    (booking,) = all_bookings(container)
    return str(first["thread_id"]), str(booking["reference"])


def customer_id(container: Container) -> str:
    with container.engine.connect() as conn:
        return str(conn.execute(text("SELECT id FROM core.customers")).scalar_one())


def tables_holding(container: Container, needles: list[str]) -> dict[str, list[str]]:
    """Each table (every schema of ours) whose rows, as text, hold one of the needles, in clear or as
    the hex a bytea column shows."""
    found: dict[str, list[str]] = {}
    with container.engine.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables"
                " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
        ).scalars()
        for table in tables:
            for needle in needles:
                patterns = [f"%{needle.lower()}%", f"%{needle.encode().hex()}%"]
                hit = conn.execute(
                    text(f"SELECT EXISTS (SELECT 1 FROM {table} t WHERE lower(t::text) LIKE ANY(:p))"),
                    {"p": patterns},
                ).scalar_one()
                if hit:
                    found.setdefault(table, []).append(needle)
    return found


def key_id_of(container: Container, table: str, column: str, where: str, value: str) -> str:
    with container.engine.connect() as conn:
        blob = conn.execute(text(f"SELECT {column} FROM {table} WHERE {where} = :v LIMIT 1"), {"v": value}).scalar_one()
    return FieldCipher.key_id_of(bytes(blob))


def test_each_customer_and_thread_has_its_own_data_key_wrapped_by_the_master(container: Container) -> None:
    thread_id, _ = book_through_the_widget(container)
    cid = customer_id(container)
    assert key_id_of(container, "core.customers", "first_name_enc", "id", cid) == data_key_id(cid)
    assert key_id_of(container, "core.bookings", "address_enc", "customer_id", cid) == data_key_id(cid)
    assert key_id_of(container, "core.messages", "body_enc", "thread_id", thread_id) == data_key_id(thread_id)
    assert key_id_of(container, "core.message_threads", "contact_enc", "id", thread_id) == data_key_id(thread_id)
    with container.engine.connect() as conn:
        keys = conn.execute(text("SELECT owner_id, owner_kind, master_key_id, wrapped FROM core.data_keys")).all()
    assert {(str(k.owner_id), k.owner_kind) for k in keys} == {(cid, "customer"), (thread_id, "thread")}
    assert {k.master_key_id for k in keys} == {container.cipher.active_key_id}
    # The wrapped key is sealed by the master key, bound to its owner.
    assert all(FieldCipher.key_id_of(bytes(k.wrapped)) == container.cipher.active_key_id for k in keys)
    with container.uow() as uow:
        assert uow.customers.get(cid) is not None and uow.customers.get(cid).first_name == NAME[0]  # type: ignore[union-attr]


def test_rotating_the_master_key_rewraps_data_keys_only_and_resumes(container: Container) -> None:
    thread_id, _ = book_through_the_widget(container)
    cid = customer_id(container)
    old = container.cipher.master()
    new = FieldCipher(old.keys | {"k-next": bytes.fromhex(uuid.uuid4().hex * 2)}, "k-next")
    name_before = key_id_of(container, "core.customers", "first_name_enc", "id", cid)
    assert keys_to_rewrap(container.engine, new) == 2

    class Interrupted(Exception):
        pass

    def stop_after_first_batch(progress: Any) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        rotate_master(container.engine, new, batch=1, progress=stop_after_first_batch)
    assert keys_to_rewrap(container.engine, new) == 1  # the first batch committed
    assert rotate_master(container.engine, new, batch=1) == 1 and keys_to_rewrap(container.engine, new) == 0
    # The values were not touched; only their keys' wrapping changed.
    assert key_id_of(container, "core.customers", "first_name_enc", "id", cid) == name_before
    # A keyring holding only the new master key reads them: the old one wrapped nothing any more.
    only_new = FieldCipher({"k-next": new.keys["k-next"]}, "k-next")
    reader = FieldCipher(only_new.keys, "k-next", data_keys=DataKeyStore(container.engine, only_new))
    with container.engine.connect() as conn:
        row = conn.execute(text("SELECT first_name_enc FROM core.customers WHERE id = :id"), {"id": cid}).one()
        body = conn.execute(
            text("SELECT id, body_enc FROM core.messages WHERE thread_id = :t ORDER BY seq LIMIT 1"), {"t": thread_id}
        ).one()
    assert (
        reader.decrypt(bytes(row.first_name_enc), table="core.customers", column="first_name_enc", row_id=cid)
        == (NAME[0])
    )
    assert "Hibachi for 12" in reader.decrypt(
        bytes(body.body_enc), table="core.messages", column="body_enc", row_id=str(body.id)
    )
    assert new_key()  # the CLI's fresh keys are what rotation expects


def test_export_holds_everything_decrypted(container: Container) -> None:
    thread_id, reference = book_through_the_widget(container)
    bundle = container.bus.handle(ExportCustomerData(customer=PHONE_TYPED, by="test")).body
    assert json.loads(json.dumps(bundle)) == bundle  # plain JSON, as the download sends it
    assert bundle["customer"] | {} == bundle["customer"]
    assert (bundle["customer"]["first_name"], bundle["customer"]["email"]) == (NAME[0], EMAIL)
    assert bundle["customer"]["phone"] == PHONE_E164
    (booking,) = bundle["bookings"]
    assert booking["reference"] == reference and booking["address"].startswith(ADDRESS)
    (thread,) = bundle["threads"]
    assert thread["id"] == thread_id and any(SECRET in m["body"] for m in thread["messages"])
    assert [c["channel"] for c in bundle["consents"]] == ["sms"]
    assert {e["event_type"] for e in bundle["events"]} >= {"LeadCreated", "BookingCreated", "MessageReceived"}
    assert bundle["payments"]["links"] == [] or bundle["payments"]["links"][0]["booking_id"] == booking["id"]
    by_email = container.bus.handle(ExportCustomerData(customer=EMAIL.upper(), by="test")).body
    assert by_email["customer"]["id"] == bundle["customer"]["id"]
    with pytest.raises(DomainError) as unknown:
        container.bus.handle(ExportCustomerData(customer="nobody@example.org", by="test"))
    assert unknown.value.field == "customer"
    # Asking by email or phone leaves no trace of them in clear (the audit log records the command).
    with container.engine.connect() as conn:
        actions = conn.execute(text("SELECT action FROM audit.entries ORDER BY position")).scalars().all()
    assert actions.count("ExportCustomerData") >= 2
    assert tables_holding(container, PLAINTEXTS) == {}


def test_erasure_leaves_no_plaintext_anywhere(container: Container, agent: CompiledGraph, log_file: Path) -> None:
    thread_id, reference = book_through_the_widget(container)
    cid = customer_id(container)
    assert tables_holding(container, [SECRET]) == {}  # encrypted at rest from the start
    with container.engine.connect() as conn:
        assert conn.execute(
            text("SELECT count(*) FROM agent.checkpoints WHERE thread_id = :t"), {"t": thread_id}
        ).scalar()

    with pytest.raises(DomainError) as upcoming:
        container.bus.handle(EraseCustomer(customer=cid, by="test"))
    assert upcoming.value.field == "customer" and reference in upcoming.value.message
    container.bus.handle(CancelBooking(reference=reference, reason="customer asked"))
    receive_sms(container, PHONE_E164, "STOP", "rc-stop-1", graph=agent)  # and no more texts, please
    erased = container.bus.handle(EraseCustomer(customer=cid, by="test")).body
    assert erased["erased"] is True and erased["threads"] == 2 and erased["data_keys_destroyed"] == 3
    assert erased["messages"] >= 10
    with container.uow() as uow:
        assert uow.consents.sms_state(PHONE_E164) is False  # the STOP outlives the erasure
        assert uow.customers.find(phone=PHONE_E164) is None and uow.customers.find(email=EMAIL) is None

    assert tables_holding(container, PLAINTEXTS) == {}
    log = log_file.read_text()
    assert log and not [p for p in PLAINTEXTS if p.lower() in log.lower()]
    with container.engine.connect() as conn:
        for table in ("agent.checkpoints", "agent.checkpoint_blobs", "agent.checkpoint_writes"):
            assert not conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE thread_id = :t"), {"t": thread_id}
            ).scalar()
        keys = conn.execute(text("SELECT wrapped, destroyed_at FROM core.data_keys")).all()
        booking = conn.execute(
            text("SELECT reference, adults, total_due_cents, status FROM core.bookings WHERE customer_id = :c"),
            {"c": cid},
        ).one()
        events = (
            conn.execute(
                text("SELECT event_type FROM events.domain_events WHERE aggregate_id = :c ORDER BY version"), {"c": cid}
            )
            .scalars()
            .all()
        )
    assert all(k.wrapped is None and k.destroyed_at is not None for k in keys)
    assert (booking.reference, booking.adults, booking.total_due_cents, booking.status) == (
        reference,
        12,
        72000,
        "cancelled",
    )  # the accounts keep their facts
    assert events[-1] == "CustomerErased"
    # Anything still sealed with the destroyed keys is unreadable, even with the master key.
    with container.engine.connect() as conn:
        stale = conn.execute(text("SELECT id FROM core.messages WHERE thread_id = :t LIMIT 1"), {"t": thread_id}).one()
    with pytest.raises(KeyDestroyed):
        container.cipher.data_keys.key(data_key_id(thread_id))  # type: ignore[union-attr]
    # Staff pages and an export still work: tombstones, not errors.
    bundle = container.bus.handle(ExportCustomerData(customer=cid, by="test")).body
    assert bundle["customer"]["first_name"] == "[erased]" and bundle["customer"]["email"] is None
    assert {m["body"] for t in bundle["threads"] for m in t["messages"]} == {"[erased]"}
    assert stale is not None
    again = container.bus.handle(EraseCustomer(customer=cid, by="test")).body
    assert again["erased"] is False
    # Nothing more can be stored for them: refused as a rule, never a crash.
    staff_id = str(uuid.uuid4())
    with container.uow() as uow:
        uow.staff.add(user_id=staff_id, email="s@example.com", role="staff", password_hash=None, name="S")
        uow.commit()
    container.bus.handle(HandOffThread(thread_id, "staff replied", by=staff_id))  # ids only: allowed
    for late in (
        AddThreadNote(thread_id, "called them back", by=staff_id),
        SendStaffReply(thread_id, "are you still there?", as_ai=False, by=staff_id),
        UpdateConsent(channel="email", granted=True, source="staff", customer_id=cid),
    ):
        with pytest.raises(DomainError) as refused:
            container.bus.handle(late)
        assert "erased" in refused.value.message, late


def test_the_cli_rotates_with_a_progress_bar_and_exports_and_erases(tmp_path: Path, scratch_url: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import create_engine

    from db.engine import sqlalchemy_url
    from db.envelope import DataKeyStore
    from db.pii import BlindIndex, decode_key, parse_keyring
    from domain.clock import FixedClock
    from hibachi.bootstrap import bootstrap
    from hibachi.business_file import DEFAULT_BUSINESS_FILE, load_business
    from tests.factories import create_booking_cmd

    env = keys() | {"DATABASE_URL": scratch_url}
    assert run_cli("load-business", env=env, tmp_path=tmp_path).returncode == 0
    first = FieldCipher(parse_keyring(env["PII_KEYS"]), env["PII_ACTIVE_KEY_ID"])
    container = bootstrap(
        database_url=scratch_url,
        business=load_business(DEFAULT_BUSINESS_FILE),
        cipher=first,
        blind=BlindIndex(decode_key(env["BLIND_INDEX_KEY"], name="BLIND_INDEX_KEY")),
        clock=FixedClock(datetime(2025, 12, 1, 18, tzinfo=UTC)),  # booked last year: the party is over
    )
    try:
        booked = container.bus.handle(create_booking_cmd(day="2026-01-10")).body  # a past party
        assert isinstance(container.cipher.data_keys, DataKeyStore)
    finally:
        container.engine.dispose()

    rotated_env = env | {"PII_KEYS": f"{env['PII_KEYS']},k2:{new_key()}", "PII_ACTIVE_KEY_ID": "k2"}
    rotated = run_cli("keys", "rotate", "--batch", "1", env=rotated_env, tmp_path=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    assert "1 data key(s) to re-wrap with master key k2" in rotated.stdout
    assert (
        "re-wrapping [" in rotated.stdout and "100%" in rotated.stdout and "re-wrapped 1 data key(s)" in rotated.stdout
    )
    again = run_cli("keys", "rotate", env=rotated_env, tmp_path=tmp_path)
    assert "0 data key(s) to re-wrap" in again.stdout and "re-wrapped 0" in again.stdout
    engine = create_engine(sqlalchemy_url(scratch_url))
    try:
        with engine.connect() as conn:
            rotations = conn.execute(
                text("SELECT subject, detail FROM audit.entries WHERE action = 'keys.rotate' ORDER BY position")
            ).all()
    finally:
        engine.dispose()
    assert [(r.subject, r.detail) for r in rotations] == [("k2", {"rewrapped": 1}), ("k2", {"rewrapped": 0})]

    out = tmp_path / "bundle.json"
    exported = run_cli(
        "customer", "export", "dana.lee@example.com", "--out", str(out), env=rotated_env, tmp_path=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    bundle = json.loads(out.read_text())
    assert bundle["customer"]["email"] == "dana.lee@example.com"
    assert bundle["bookings"][0]["reference"] == booked["reference"]
    refused = run_cli("customer", "erase", "dana.lee@example.com", env=rotated_env, tmp_path=tmp_path)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    erased = run_cli("customer", "erase", "+1 916 555 0123", "--yes", env=rotated_env, tmp_path=tmp_path)
    assert erased.returncode == 0 and "1 data key(s) destroyed" in erased.stdout, erased.stderr
    gone = run_cli("customer", "export", "dana.lee@example.com", env=rotated_env, tmp_path=tmp_path)
    assert gone.returncode == 2 and "customer: no customer" in gone.stderr


def test_the_access_log_never_holds_a_query_string(container: Container, caplog: pytest.LogCaptureFixture) -> None:
    create_app(container)
    access = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        # uvicorn's own format and arguments for a request line
        access.info('%s - "%s %s HTTP/%s" %d', "203.0.113.9:5123", "GET", "/admin?search=Quenby+Zaltorian", "1.1", 200)
    assert "/admin" in caplog.text and "Quenby" not in caplog.text and "search" not in caplog.text
