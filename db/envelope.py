"""Envelope encryption: every customer and every conversation thread has its own data key.

- A data key is 32 random bytes, stored in `core.data_keys` wrapped (AES-GCM) by the active master
  key of PII_KEYS, with that master key's id beside it. Its id is its owner's row id
  (`db.pii.data_key_id`): a customer's name, email, phone and their bookings' address and notes are
  sealed with the customer's key; a thread's contact, messages and staff notes with the thread's
  (a web chat has no customer until it gives its details; erasing a customer destroys their
  threads' keys too).
- Destroying a data key (erasure) deletes its wrapped bytes: whatever it sealed, in any table,
  backup or event, can never be read again (crypto-shredding).
- Rotating the master key re-wraps data keys only (`rotate_master`, resumable: it takes the keys
  still wrapped by another master key, in batches, each batch its own transaction). Values sealed
  with a master key directly (system data: bank payers, access tokens, staff accounts, agent
  checkpoints) keep their key id and stay readable while that key stays in PII_KEYS.
- Unwrapped keys are cached in the process for CACHE_SECONDS: a key destroyed by another process
  stops working here within that time; in this process, at once.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from db.pii import DATA_KEY_PREFIX, FieldCipher, KeyDestroyed, data_key_id
from db.sql import execute
from domain.errors import DomainError


class OwnerErased(DomainError):
    """Something would be stored for a customer or thread that was erased."""


CACHE_SECONDS = 60.0
TABLE = "core.data_keys"


def _owner(key_id: str) -> str:
    return str(uuid.UUID(key_id.removeprefix(DATA_KEY_PREFIX)))


def _wrap_aad(owner_id: str) -> bytes:
    return f"{TABLE}/{owner_id}".encode()


@dataclass
class _Cached:
    key: bytes
    until: float


class DataKeyStore:
    """Data keys for a FieldCipher (`FieldCipher(..., data_keys=store)`), read through `engine`."""

    def __init__(self, engine: Engine, master: FieldCipher, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.master = master.master()
        self.clock = clock
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading
    def key(self, key_id: str) -> bytes:
        now = self.clock()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and cached.until > now:
            return cached.key
        owner = _owner(key_id)
        with self.engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT wrapped FROM {TABLE} WHERE owner_id = :owner"), {"owner": owner}
            ).one_or_none()
        if row is None or row.wrapped is None:
            self.forget(key_id)
            raise KeyDestroyed(f"data key {key_id} was destroyed" if row else f"no data key {key_id}")
        key = self.master.open(bytes(row.wrapped), _wrap_aad(owner))
        self._remember(key_id, key)
        return key

    def _remember(self, key_id: str, key: bytes) -> None:
        with self._lock:
            self._cache[key_id] = _Cached(key, self.clock() + CACHE_SECONDS)

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._cache.pop(key_id, None)

    # ------------------------------------------------------------------ writing (in the caller's transaction)
    def ensure(self, conn: Connection, owner_id: str, owner_kind: str) -> str:
        """The owner's data key id, creating the key in this transaction when it has none yet."""
        key_id = data_key_id(owner_id)
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and cached.until > self.clock():
            return key_id  # known and alive a moment ago: no query on the hot path (a message stored)
        found = execute(
            conn, "SELECT wrapped IS NULL AS destroyed FROM core.data_keys WHERE owner_id = %s", (owner_id,)
        ).fetchone()
        if found is not None:
            if found.destroyed:
                # Writing for an erased customer or thread: refused like any rule of the business.
                raise OwnerErased(
                    "was erased on request: nothing more can be stored for them",
                    field="customer" if owner_kind == "customer" else "thread_id",
                )
            return key_id
        return self.create(conn, owner_id, owner_kind)

    def create(self, conn: Connection, owner_id: str, owner_kind: str) -> str:
        """A data key for a new owner (this transaction's new row: no need to look first)."""
        key_id = data_key_id(owner_id)
        key = os.urandom(32)
        # Plain SQL (db.sql): this runs for every new customer and thread.
        inserted = execute(
            conn,
            "INSERT INTO core.data_keys (owner_id, owner_kind, wrapped, master_key_id) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (owner_id) DO NOTHING RETURNING owner_id",
            (owner_id, owner_kind, self.master.seal(key, _wrap_aad(owner_id)), self.master.active_key_id),
        ).fetchone()
        if inserted is None:  # another transaction made it first: use theirs
            return self.ensure(conn, owner_id, owner_kind)
        # Cached before commit: this transaction seals with it; if it rolls back, nothing sealed
        # with it was stored either.
        self._remember(key_id, key)
        return key_id

    def destroy(self, conn: Connection, owner_ids: list[str], at: object) -> int:
        """Crypto-shred these owners' data keys (in the caller's transaction); how many there were."""
        if not owner_ids:
            return 0
        destroyed = conn.execute(
            text(
                f"UPDATE {TABLE} SET wrapped = NULL, destroyed_at = :at"
                " WHERE owner_id = ANY(CAST(:owners AS uuid[])) AND wrapped IS NOT NULL"
            ),
            {"owners": owner_ids, "at": at},
        ).rowcount
        for owner_id in owner_ids:
            self.forget(data_key_id(owner_id))
        return int(destroyed or 0)


@dataclass
class RotationProgress:
    done: int
    total: int


def keys_to_rewrap(engine: Engine, master: FieldCipher) -> int:
    with engine.connect() as conn:
        count = conn.execute(
            text(f"SELECT count(*) FROM {TABLE} WHERE wrapped IS NOT NULL AND master_key_id <> :active"),
            {"active": master.active_key_id},
        ).scalar_one()
    return int(count)


def rotate_master(
    engine: Engine,
    master: FieldCipher,
    *,
    batch: int = 500,
    progress: Callable[[RotationProgress], None] = lambda progress: None,
) -> int:
    """Re-wrap every data key not wrapped by the active master key; returns how many. Each batch
    commits on its own, so an interrupted rotation resumes where it stopped; `SKIP LOCKED` lets two
    rotations share the work."""
    master = master.master()
    total = keys_to_rewrap(engine, master)
    done = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                text(
                    f"SELECT owner_id, wrapped FROM {TABLE} WHERE wrapped IS NOT NULL AND master_key_id <> :active"
                    " ORDER BY owner_id LIMIT :batch FOR UPDATE SKIP LOCKED"
                ),
                {"active": master.active_key_id, "batch": batch},
            ).all()
            for row in rows:
                owner = str(row.owner_id)
                key = master.open(bytes(row.wrapped), _wrap_aad(owner))
                conn.execute(
                    text(f"UPDATE {TABLE} SET wrapped = :wrapped, master_key_id = :active WHERE owner_id = :owner"),
                    {"wrapped": master.seal(key, _wrap_aad(owner)), "active": master.active_key_id, "owner": owner},
                )
        if not rows:
            return done
        done += len(rows)
        progress(RotationProgress(done, max(total, done)))


def owner_key(
    cipher: FieldCipher, conn: Connection, owner_id: str, owner_kind: str, *, new: bool = False
) -> str | None:
    """The data key to seal an owner's data with (created on first use, in this transaction; `new`:
    the owner's row is this transaction's, so its key is made without looking); None when the
    cipher has no data key store (then the master key seals it)."""
    store = cipher.data_keys
    if not isinstance(store, DataKeyStore):
        return None
    return store.create(conn, owner_id, owner_kind) if new else store.ensure(conn, owner_id, owner_kind)
