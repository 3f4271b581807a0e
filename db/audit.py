"""The audit log's SQL: append hash-chained entries to `audit.entries`, read them back in batches,
verify the chain. The encoding, the hashing and the verification walk are in domain.audit.

Appending (`append_entry`, the public door; exports, erasures and admin actions call it):
- The entry is written in the caller's transaction, so it commits with what it records or not at
  all.
- No forks: appends are serialised by one transaction-scoped advisory lock (`AUDIT_LOCK`); the
  writer reads the head after taking it (a fresh statement, so it sees the previous holder's
  commit) and inserts the next position. `position` is the primary key: two writers can never
  both hold position N even if the lock were skipped.
- The lock is held from the append to the commit, so it is taken as late as possible: inside a
  unit of work the entry is queued on the connection and written by `UnitOfWork.commit()` just
  before the commit (one lock, one head read, one insert however many entries the transaction
  made). On a bare connection (`engine.begin()`) it is written at once: call it last.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from db.sql import execute, executemany, jsonb
from domain.audit import GENESIS, ChainReport, Entry, chain_entry, verify_chain

# pg_advisory_xact_lock's key for the chain (any constant no other lock in the app uses; the
# thread and chef-day locks use two-int keys or hashes of their ids).
AUDIT_LOCK = 0x4155_4449_545F_4C47  # "AUDIT_LG"
PENDING = "audit.pending"  # key in Connection.info of a unit of work's queued entries
VERIFY_BATCH = 5_000


@dataclass(frozen=True)
class PendingEntry:
    at: datetime
    actor: str
    action: str
    subject: str | None
    detail: Mapping[str, object]


def append_entry(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    detail: Mapping[str, object],
) -> None:
    """Add an entry to the audit log in `conn`'s transaction. `subject` is an id or a booking
    reference and `detail` holds no personal data (no names, phones, emails, addresses, IPs or
    free text): the log is kept for years and is never erased."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    entry = PendingEntry(at, actor, action, subject, dict(detail))
    queued: list[PendingEntry] | None = conn.info.get(PENDING)
    if queued is not None:
        queued.append(entry)
    else:
        write_entries(conn, [entry])


def collect_on(conn: Connection) -> list[PendingEntry]:
    """Queue `append_entry` calls on this connection until `write_entries` (the unit of work)."""
    queued: list[PendingEntry] = []
    conn.info[PENDING] = queued
    return queued


def stop_collecting(conn: Connection) -> None:
    conn.info.pop(PENDING, None)


def write_entries(conn: Connection, entries: Sequence[PendingEntry]) -> None:
    """Chain `entries` after the head, under the chain lock (held until the transaction ends)."""
    if not entries:
        return
    execute(conn, "SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
    head = execute(conn, "SELECT position, hash FROM audit.entries ORDER BY position DESC LIMIT 1").fetchone()
    position, prev_hash = (head.position, bytes(head.hash)) if head else (0, GENESIS)
    rows: list[tuple[Any, ...]] = []
    for pending in entries:
        position += 1
        entry = chain_entry(
            prev_hash,
            position,
            at=pending.at,
            actor=pending.actor,
            action=pending.action,
            subject=pending.subject,
            detail=pending.detail,
        )
        rows.append(
            (
                entry.position,
                entry.at,
                entry.actor,
                entry.action,
                entry.subject,
                jsonb(entry.detail),
                entry.prev_hash,
                entry.hash,
            )
        )
        prev_hash = entry.hash
    query = (
        "INSERT INTO audit.entries (position, at, actor, action, subject, detail, prev_hash, hash) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    if len(rows) == 1:
        execute(conn, query, rows[0])
    else:
        executemany(conn, query, rows)


def iter_entries(conn: Connection, *, batch: int = VERIFY_BATCH) -> Iterator[Entry]:
    """Every entry in position order, `batch` rows per query (keyset paging: memory stays flat)."""
    after = 0
    while True:
        rows = execute(
            conn,
            "SELECT position, at, actor, action, subject, detail, prev_hash, hash FROM audit.entries "
            "WHERE position > %s ORDER BY position LIMIT %s",
            (after, batch),
        ).fetchall()
        for row in rows:
            yield Entry(
                row.position,
                row.at,
                row.actor,
                row.action,
                row.subject,
                row.detail,
                bytes(row.prev_hash),
                bytes(row.hash),
            )
        if len(rows) < batch:
            return
        after = rows[-1].position


def verify(engine: Engine, *, batch: int = VERIFY_BATCH) -> ChainReport:
    """Walk the whole chain in one snapshot (REPEATABLE READ: appends made meanwhile wait for the
    next run) and report the first break."""
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        return verify_chain(iter_entries(conn, batch=batch))
