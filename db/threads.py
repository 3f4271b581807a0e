"""Conversation threads and their messages. Bodies are encrypted per message (AAD: core.messages,
body_enc, the message id); a thread is found by the blind index of its channel identity (the SMS
sender's phone, the web widget's session id), never by the value itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from db.envelope import owner_key
from db.pii import BlindIndex, FieldCipher
from db.sql import execute

MESSAGES = "core.messages"
BODY = "body_enc"
THREADS = "core.message_threads"
CONTACT = "contact_enc"


@dataclass
class ThreadRecord:
    id: str
    channel: str
    customer_id: str | None
    mode: str
    handoff_reason: str | None
    version: int
    status: str = "pending"  # open | pending | snoozed | resolved
    assignee_id: str | None = None
    snoozed_until: datetime | None = None


@dataclass(frozen=True)
class StoredMessage:
    id: str
    thread_id: str
    seq: int
    direction: str
    author: str
    body: str
    in_reply_to: str | None
    handled_at: datetime | None
    staff_id: str | None = None  # the staff user who wrote it (a staff message, or one sent as AI)
    created_at: datetime | None = None


@dataclass(frozen=True)
class StoredNote:
    id: str
    thread_id: str
    author_id: str
    body: str
    created_at: datetime


THREAD_COLUMNS = "id, channel, customer_id, mode, handoff_reason, version, status, assignee_id, snoozed_until"
MESSAGE_COLUMNS = "id, thread_id, seq, direction, author, body_enc, in_reply_to, handled_at, staff_id, created_at"
NOTES = "core.thread_notes"


def _thread(row: Any) -> ThreadRecord:
    return ThreadRecord(
        str(row.id),
        row.channel,
        str(row.customer_id) if row.customer_id else None,
        row.mode,
        row.handoff_reason,
        row.version,
        row.status,
        str(row.assignee_id) if row.assignee_id else None,
        row.snoozed_until,
    )


def thread_lock_key(thread_id: str) -> str:
    """The advisory lock key a thread's turns run under (services.conversations.thread_lock)."""
    return f"thread:{thread_id}"


class ThreadRepository:
    def __init__(self, conn: Connection, cipher: FieldCipher, blind: BlindIndex) -> None:
        self.conn = conn
        self.cipher = cipher
        self.blind = blind

    def _seal(self, thread_id: str, value: str, *, table: str, column: str, row_id: str) -> bytes:
        """Sealed with the thread's own data key (db/envelope.py)."""
        key = owner_key(self.cipher, self.conn, thread_id, "thread")
        return self.cipher.encrypt(value, table=table, column=column, row_id=row_id, data_key=key)

    def contact_index(self, channel: str, contact: str) -> bytes:
        # SMS threads share the customers' phone index kind, so a thread joins its customer by value.
        return self.blind.of("phone" if channel == "sms" else f"{channel}-session", contact)

    def open_or_lock(self, channel: str, contact: str, customer_id: str | None) -> tuple[ThreadRecord, bool]:
        """The channel identity's thread, locked for this transaction, and whether it was opened now.
        Insert first: a concurrent first message waits on the unique index, then finds this one."""
        bidx = self.contact_index(channel, contact)
        thread_id = str(uuid.uuid4())
        row = execute(
            self.conn,
            "INSERT INTO core.message_threads (id, channel, contact_bidx, customer_id)"
            " VALUES (%s, %s, %s, %s)"
            f" ON CONFLICT (channel, contact_bidx) DO NOTHING RETURNING {THREAD_COLUMNS}",
            (thread_id, channel, bidx, customer_id),
        ).fetchone()
        if row is not None:
            # Sealed once the thread exists: its data key is made only for a thread that was.
            owner_key(self.cipher, self.conn, thread_id, "thread", new=True)
            execute(
                self.conn,
                "UPDATE core.message_threads SET contact_enc = %s WHERE id = %s",
                (self._seal(thread_id, contact, table=THREADS, column=CONTACT, row_id=thread_id), thread_id),
            )
            return _thread(row), True
        row = execute(
            self.conn,
            f"SELECT {THREAD_COLUMNS} FROM core.message_threads WHERE channel = %s AND contact_bidx = %s FOR UPDATE",
            (channel, bidx),
        ).fetchone()
        assert row is not None  # the conflicting row committed: ON CONFLICT waited for it
        return _thread(row), False

    def lock(self, thread_id: str) -> ThreadRecord | None:
        row = execute(
            self.conn, f"SELECT {THREAD_COLUMNS} FROM core.message_threads WHERE id = %s FOR UPDATE", (thread_id,)
        ).fetchone()
        return _thread(row) if row else None

    def get(self, thread_id: str) -> ThreadRecord | None:
        row = execute(
            self.conn, f"SELECT {THREAD_COLUMNS} FROM core.message_threads WHERE id = %s", (thread_id,)
        ).fetchone()
        return _thread(row) if row else None

    def contact(self, thread_id: str) -> str | None:
        """The thread's channel identity in clear: the SMS sender's phone, the web session id."""
        row = execute(self.conn, "SELECT contact_enc FROM core.message_threads WHERE id = %s", (thread_id,)).fetchone()
        if row is None or row.contact_enc is None:
            return None
        return self.cipher.readable(row.contact_enc, table=THREADS, column=CONTACT, row_id=thread_id)

    def save(self, thread: ThreadRecord) -> None:
        """Write the locked thread's mode, status, assignee, customer and version."""
        execute(
            self.conn,
            "UPDATE core.message_threads SET mode = %s, handoff_reason = %s, customer_id = %s, version = %s,"
            " status = %s, assignee_id = %s, snoozed_until = %s WHERE id = %s",
            (
                thread.mode,
                thread.handoff_reason,
                thread.customer_id,
                thread.version,
                thread.status,
                thread.assignee_id,
                thread.snoozed_until,
                thread.id,
            ),
        )

    def by_provider_id(self, provider: str, provider_message_id: str) -> StoredMessage | None:
        row = execute(
            self.conn,
            f"SELECT {MESSAGE_COLUMNS} FROM core.messages WHERE provider = %s AND provider_message_id = %s",
            (provider, provider_message_id),
        ).fetchone()
        return self._message(row) if row else None

    def add_message(
        self,
        thread_id: str,
        *,
        direction: str,
        author: str,
        body: str,
        provider: str | None = None,
        provider_message_id: str | None = None,
        in_reply_to: str | None = None,
        staff_id: str | None = None,
        at: datetime,
    ) -> StoredMessage:
        message_id = str(uuid.uuid4())
        sealed = self._seal(thread_id, body, table=MESSAGES, column=BODY, row_id=message_id)
        row = execute(
            self.conn,
            "INSERT INTO core.messages (id, thread_id, direction, author, body_enc, provider, provider_message_id,"
            " in_reply_to, staff_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq",
            (
                message_id,
                thread_id,
                direction,
                author,
                sealed,
                provider,
                provider_message_id,
                in_reply_to,
                staff_id,
                at,
            ),
        ).fetchone()
        assert row is not None
        return StoredMessage(message_id, thread_id, row.seq, direction, author, body, in_reply_to, None, staff_id, at)

    def add_note(self, thread_id: str, *, author_id: str, body: str, at: datetime) -> StoredNote:
        """A private staff note on the thread, its body encrypted to its own row."""
        note_id = str(uuid.uuid4())
        sealed = self._seal(thread_id, body, table=NOTES, column=BODY, row_id=note_id)
        execute(
            self.conn,
            "INSERT INTO core.thread_notes (id, thread_id, author_id, body_enc, created_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (note_id, thread_id, author_id, sealed, at),
        )
        return StoredNote(note_id, thread_id, author_id, body, at)

    def notes(self, thread_ids: list[str]) -> list[StoredNote]:
        """The threads' notes, oldest first."""
        rows = execute(
            self.conn,
            "SELECT id, thread_id, author_id, body_enc, created_at FROM core.thread_notes"
            " WHERE thread_id = ANY(%s::uuid[]) ORDER BY created_at, id",
            (thread_ids,),
        ).fetchall()
        return [
            StoredNote(
                str(row.id),
                str(row.thread_id),
                str(row.author_id),
                self.cipher.readable(row.body_enc, table=NOTES, column=BODY, row_id=str(row.id)),
                row.created_at,
            )
            for row in rows
        ]

    def bodies(self, message_ids: list[str]) -> dict[str, str]:
        """Decrypted bodies of these messages (an inbox page's previews), by message id."""
        if not message_ids:
            return {}
        rows = execute(
            self.conn, "SELECT id, body_enc FROM core.messages WHERE id = ANY(%s::uuid[])", (message_ids,)
        ).fetchall()
        return {
            str(row.id): self.cipher.readable(row.body_enc, table=MESSAGES, column=BODY, row_id=str(row.id))
            for row in rows
        }

    def mark_handled(self, message_ids: list[str], at: datetime) -> None:
        if message_ids:
            execute(
                self.conn,
                "UPDATE core.messages SET handled_at = %s WHERE id = ANY(%s::uuid[]) AND handled_at IS NULL",
                (at, message_ids),
            )

    def waiting(self, thread_id: str, *, up_to_seq: int | None = None) -> list[StoredMessage]:
        """The thread's customer messages whose turn has not run, oldest first."""
        rows = execute(
            self.conn,
            f"SELECT {MESSAGE_COLUMNS} FROM core.messages WHERE thread_id = %s AND direction = 'in'"
            " AND handled_at IS NULL AND (%s::bigint IS NULL OR seq <= %s::bigint) ORDER BY seq",
            (thread_id, up_to_seq, up_to_seq),
        ).fetchall()
        return [self._message(row) for row in rows]

    def message(self, message_id: str) -> StoredMessage | None:
        row = execute(self.conn, f"SELECT {MESSAGE_COLUMNS} FROM core.messages WHERE id = %s", (message_id,)).fetchone()
        return self._message(row) if row else None

    def reply_to(self, message_id: str) -> StoredMessage | None:
        """The reply stored for a customer message, if any."""
        row = execute(
            self.conn,
            f"SELECT {MESSAGE_COLUMNS} FROM core.messages WHERE in_reply_to = %s ORDER BY seq LIMIT 1",
            (message_id,),
        ).fetchone()
        return self._message(row) if row else None

    def sent_to(self, channel: str, contact: str, after_seq: int, limit: int = 50) -> list[StoredMessage]:
        """What the business sent to this channel identity (a web session) after `after_seq`, in order:
        the latest `limit` of them (a widget opening on a long conversation starts from its end)."""
        rows = execute(
            self.conn,
            f"SELECT {MESSAGE_COLUMNS} FROM core.messages WHERE direction = 'out' AND seq > %s AND thread_id ="
            " (SELECT id FROM core.message_threads WHERE channel = %s AND contact_bidx = %s)"
            " ORDER BY seq DESC LIMIT %s",
            (after_seq, channel, self.contact_index(channel, contact), limit),
        ).fetchall()
        return [self._message(row) for row in reversed(rows)]

    def transcript(self, thread_id: str) -> list[StoredMessage]:
        rows = execute(
            self.conn, f"SELECT {MESSAGE_COLUMNS} FROM core.messages WHERE thread_id = %s ORDER BY seq", (thread_id,)
        ).fetchall()
        return [self._message(row) for row in rows]

    def _message(self, row: Any) -> StoredMessage:
        message_id = str(row.id)
        return StoredMessage(
            message_id,
            str(row.thread_id),
            row.seq,
            row.direction,
            row.author,
            self.cipher.readable(row.body_enc, table=MESSAGES, column=BODY, row_id=message_id),
            str(row.in_reply_to) if row.in_reply_to else None,
            row.handled_at,
            str(row.staff_id) if row.staff_id else None,
            row.created_at,
        )
