"""The audit log's SQL: append hash-chained entries to `audit.entries`, read them back in batches,
verify the chain. The encoding, the hashing and the verification walk are in domain.audit.

Appending (`append_entry`, the public door; exports, erasures and admin actions call it):
- The entry is written in the caller's transaction, so it commits with what it records or not at
  all. It goes into `audit.pending` with its canonical encoding split around the position; a
  deferred constraint trigger (migration 0008, `audit.chain_pending`) chains it when the
  transaction commits: it takes one transaction-scoped advisory lock (`AUDIT_LOCK`), reads the
  head (a fresh snapshot, so it sees the previous holder's commit), inserts the entry at the next
  position with hash = sha256(prev_hash || prefix || position || suffix), and deletes the pending
  row. No forks: appenders are serialised by the lock, and `position` is the primary key.
- Why at commit, in the database: the lock is held from the moment it is taken until the commit
  is durable. Taken from Python (lock, read head, insert, commit: four round trips, each waiting
  for the GIL in a busy API process) it serialised every command and halved the bench's capacity;
  taken by the trigger it is held only for the commit itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

from sqlalchemy import Connection, Engine

from db.sql import execute, jsonb
from domain.audit import ChainReport, Entry, canonical_parts, normalise_detail, verify_chain

# pg_advisory_xact_lock's key for the chain, in migration 0008's trigger function (any constant
# no other lock in the app uses; the thread and chef-day locks use other keys).
AUDIT_LOCK = 0x4155_4449_545F_4C47  # "AUDIT_LG"
VERIFY_BATCH = 5_000


def append_entry(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    detail: Mapping[str, object],
) -> None:
    """Add an entry to the audit log in `conn`'s transaction (chained when it commits). `subject`
    is an id or a booking reference and `detail` holds no personal data (no names, phones,
    emails, addresses, IPs or free text): the log is kept for years and never erased."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    clean = normalise_detail(detail)
    prefix, suffix = canonical_parts(at, actor, action, subject, clean)
    execute(
        conn,
        "INSERT INTO audit.pending (at, actor, action, subject, detail, canonical_prefix, canonical_suffix) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (at, actor, action, subject, jsonb(clean), prefix, suffix),
    )


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
