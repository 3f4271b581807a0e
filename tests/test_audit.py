"""The tamper-evident audit log: entries for commands and auth events with no personal data, one
unbroken chain under concurrent writers, the append-only trigger, and `hibachi audit verify`
catching an entry changed, deleted or inserted."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from db.audit import append_entry, iter_entries, verify
from domain.audit import GENESIS, ChainProblem, Entry, chain_entry, command_detail, verify_chain
from domain.commands import CancelBooking, ReceiveMessage
from domain.errors import DomainError
from hibachi.bootstrap import Container
from services import identity
from tests.conftest import START
from tests.factories import create_booking_cmd
from tests.test_migrations_and_cli import keys, run_cli

SECRETS = ("Zelda", "Quixote", "zelda.q+party@example.org", "5550199", "77 Sunflower Lane", "peanut allergy")


@pytest.fixture
def audited(container: Container) -> Container:
    """A container whose audit log is empty (cleared as its owner would: triggers off)."""
    with container.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("DELETE FROM audit.entries"))
    return container


def rows(container: Container) -> list[dict[str, Any]]:
    with container.engine.connect() as conn:
        result = conn.execute(text("SELECT * FROM audit.entries ORDER BY position"))
        return [dict(row._mapping) for row in result]


def audit_text(container: Container) -> str:
    with container.engine.connect() as conn:
        return "\n".join(conn.execute(text("SELECT row_to_json(e)::text FROM audit.entries e")).scalars())


def tamper(container: Container, *statements: str) -> None:
    """Run statements past the append-only trigger, as someone with the database owner's rights."""
    with container.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            conn.execute(text(statement))


def fill(container: Container, count: int) -> None:
    for number in range(count):
        container.bus.handle(ReceiveMessage("web", f"session-{number}", "hello"))


# ---------------------------------------------------------------- what entries say


def test_a_command_leaves_one_entry_with_no_personal_data(audited: Container) -> None:
    command = create_booking_cmd(
        first_name="Zelda",
        last_name="Quixote",
        email="zelda.q+party@example.org",
        phone="+19165550199",
        address="77 Sunflower Lane, Sacramento, CA 95816",
    )
    command = dataclasses.replace(command, booking=dataclasses.replace(command.booking, notes="peanut allergy"))
    reference = audited.bus.handle(command, actor="service:tests").body["reference"]

    [entry] = rows(audited)
    assert (entry["position"], entry["actor"], entry["action"], entry["subject"]) == (
        1,
        "service:tests",
        "CreateBooking",
        reference,
    )
    assert entry["prev_hash"] == GENESIS
    values = entry["detail"]["values"]
    assert values["booking.date"] == "2026-12-12" and values["booking.slot"] == "18:00"
    assert values["booking.adults"] == 12 and values["source"] == "web"
    assert {"customer.email", "customer.phone", "booking.address", "booking.notes"} <= set(entry["detail"]["fields"])
    assert entry["detail"]["outcome"] == "ok"
    dumped = audit_text(audited).lower()
    for secret in SECRETS:
        assert secret.lower() not in dumped


def test_an_allowlisted_field_holding_free_text_is_left_out() -> None:
    detail = command_detail(CancelBooking("MH-7Q3K9", reason="Zelda Quixote is ill", source="Zelda Quixote"))
    assert detail["values"] == {"reference": "MH-7Q3K9"}
    assert detail["fields"] == ["reason", "reference", "source"]


def test_a_refused_command_is_recorded_with_its_error_code(audited: Container) -> None:
    with pytest.raises(DomainError):
        audited.bus.handle(CancelBooking("MH-NOPE2", reason="Zelda Quixote"), actor="user:someone")
    [entry] = rows(audited)
    assert entry["action"] == "CancelBooking" and entry["subject"] == "MH-NOPE2"
    assert entry["detail"]["outcome"] == "refused" and entry["detail"]["error"] == "not_found"
    assert "quixote" not in audit_text(audited).lower()


def test_an_auth_event_leaves_an_entry_without_email_or_ip(audited: Container) -> None:
    created = identity.create_user(
        audited, email="zelda.q+party@example.org", role="staff", password="correct horse battery 9"
    )
    with pytest.raises(DomainError):
        identity.password_login(audited, "zelda.q+party@example.org", "wrong password 123", "203.0.113.77")
    entries = {entry["action"]: entry for entry in rows(audited)}
    assert entries["auth.user_created"]["subject"] == created.user_id
    assert entries["auth.user_created"]["actor"] == "cli"
    assert entries["auth.user_created"]["detail"]["values"]["role"] == "staff"
    assert entries["auth.login_failed"]["actor"] == "anonymous"
    dumped = audit_text(audited)
    assert "zelda.q" not in dumped and "203.0.113.77" not in dumped
    assert verify(audited.engine).ok


def test_entries_are_chained_in_order_when_their_transaction_commits(audited: Container) -> None:
    with audited.engine.begin() as conn:
        append_entry(conn, at=START, actor="cli", action="customer.export", subject="cust-1", detail={"rows": 3})
        append_entry(conn, at=START, actor="cli", action="customer.erase", subject="cust-1", detail={})
        assert rows(audited) == []  # not before the commit
    assert [entry["action"] for entry in rows(audited)] == ["customer.export", "customer.erase"]
    assert verify(audited.engine).entries == 2
    with audited.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit.pending")).scalar_one() == 0


def test_an_entry_is_not_written_when_its_transaction_rolls_back(audited: Container) -> None:
    with audited.uow() as uow:
        append_entry(uow.conn, at=START, actor="cli", action="customer.export", subject="x", detail={})
        # no commit: the unit of work rolls back, the entry with it
    assert rows(audited) == []


# ---------------------------------------------------------------- one chain


def test_concurrent_writers_leave_one_unbroken_chain(audited: Container) -> None:
    threads, each = 8, 25
    failures: list[BaseException] = []

    def send(worker: int) -> None:
        try:
            for number in range(each):
                audited.bus.handle(ReceiveMessage("web", f"session-w{worker}-{number}", "hi"))
        except BaseException as error:  # reported below
            failures.append(error)

    workers = [threading.Thread(target=send, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    entries = rows(audited)
    assert [entry["position"] for entry in entries] == list(range(1, threads * each + 1))
    previous = GENESIS
    for entry in entries:
        assert entry["prev_hash"] == previous
        previous = entry["hash"]
    report = verify(audited.engine, batch=16)
    assert report.ok and report.entries == threads * each


def test_the_database_refuses_update_delete_and_truncate(audited: Container) -> None:
    fill(audited, 2)
    for statement in (
        "UPDATE audit.entries SET actor = 'forged' WHERE position = 1",
        "DELETE FROM audit.entries WHERE position = 2",
        "TRUNCATE audit.entries",
    ):
        with audited.engine.begin() as conn, pytest.raises(Exception, match="append-only"):
            conn.execute(text(statement))
    assert len(rows(audited)) == 2


# ---------------------------------------------------------------- tampering


def forge(conn: Connection, position: int, prev_hash: bytes) -> Entry:
    return chain_entry(
        prev_hash, position, at=START, actor="user:forger", action="MarkDepositPaid", subject="MH-FAKE1", detail={}
    )


def insert_raw(conn: Connection, entry: Entry) -> None:
    conn.execute(
        text(
            "INSERT INTO audit.entries (position, at, actor, action, subject, detail, prev_hash, hash) "
            "VALUES (:p, :at, :actor, :action, :subject, '{}'::jsonb, :prev, :hash)"
        ),
        {
            "p": entry.position,
            "at": entry.at,
            "actor": entry.actor,
            "action": entry.action,
            "subject": entry.subject,
            "prev": entry.prev_hash,
            "hash": entry.hash,
        },
    )


def shift_up_from(conn: Connection, position: int) -> None:
    conn.execute(text("UPDATE audit.entries SET position = -position WHERE position >= :p"), {"p": position})
    conn.execute(text("UPDATE audit.entries SET position = -position + 1 WHERE position < 0"))


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("change detail", "entry 5 changed"),
        ("change time", "entry 5 changed"),
        ("change link", "entry 5 changed"),
        ("delete", "entry 5 missing (deleted)"),
        ("delete and renumber", "entry 5 missing (deleted)"),
        ("insert rehashed", "entry 5 inserted"),
        ("insert naive", "entry 5 inserted"),
    ],
)
def test_tampering_is_reported_at_the_right_position(audited: Container, how: str, expected: str) -> None:
    fill(audited, 9)
    assert verify(audited.engine).ok
    with audited.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        if how == "change detail":
            conn.execute(text("UPDATE audit.entries SET detail = detail || '{\"x\": 1}' WHERE position = 5"))
        elif how == "change time":
            conn.execute(text("UPDATE audit.entries SET at = at + interval '1 second' WHERE position = 5"))
        elif how == "change link":
            conn.execute(text("UPDATE audit.entries SET prev_hash = sha256(prev_hash) WHERE position = 5"))
        elif how == "delete":
            conn.execute(text("DELETE FROM audit.entries WHERE position = 5"))
        elif how == "delete and renumber":
            conn.execute(text("DELETE FROM audit.entries WHERE position = 5"))
            conn.execute(text("UPDATE audit.entries SET position = -position WHERE position > 5"))
            conn.execute(text("UPDATE audit.entries SET position = -position - 1 WHERE position < 0"))
        else:
            head = conn.execute(text("SELECT hash FROM audit.entries WHERE position = 4")).scalar_one()
            shift_up_from(conn, 5)
            forged = forge(conn, 5, bytes(head))
            if how == "insert naive":
                forged = dataclasses.replace(forged, prev_hash=b"\x01" * 32, hash=b"\x02" * 32)
            insert_raw(conn, forged)
    report = verify(audited.engine, batch=3)
    assert not report.ok
    assert str(report.problem) == expected
    assert report.entries == 4


def test_the_cli_says_ok_then_names_the_changed_entry(audited: Container, database_url: str, tmp_path: Path) -> None:
    fill(audited, 3)
    env = keys() | {"DATABASE_URL": database_url}
    ok = run_cli("audit", "verify", env=env, tmp_path=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == "audit chain ok: 3 entries"
    tamper(audited, "UPDATE audit.entries SET subject = 'MH-OTHER' WHERE position = 2")
    broken = run_cli("audit", "verify", "--batch", "2", env=env, tmp_path=tmp_path)
    assert broken.returncode == 1
    assert "entry 2 changed" in broken.stdout


# ---------------------------------------------------------------- the walk alone (no database)


def synthetic(count: int) -> list[Entry]:
    chain, prev = [], GENESIS
    for position in range(1, count + 1):
        entry = chain_entry(
            prev,
            position,
            at=START + timedelta(seconds=position),
            actor="system",
            action="ReceiveMessage",
            subject=None,
            detail={"n": position},
        )
        chain.append(entry)
        prev = entry.hash
    return chain


def test_the_walk_streams_and_finds_the_first_break() -> None:
    def stream(count: int) -> Iterator[Entry]:
        yield from synthetic(count)

    assert verify_chain(stream(1000)).entries == 1000
    assert verify_chain([]).ok
    chain = synthetic(10)
    chain[0] = dataclasses.replace(chain[0], actor="user:other")
    chain[7] = dataclasses.replace(chain[7], actor="user:other")
    assert verify_chain(chain).problem == ChainProblem(1, "changed")
    assert verify_chain(synthetic(10)[1:]).problem == ChainProblem(1, "missing")


def test_iter_entries_pages_through_the_table(audited: Container) -> None:
    fill(audited, 7)
    with audited.engine.connect() as conn:
        assert [entry.position for entry in iter_entries(conn, batch=3)] == list(range(1, 8))
