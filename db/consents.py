"""The consent ledger (core.consents): append-only; the current state of a channel is its latest
entry (by seq). Only services.consent.record_consent appends."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from db.envelope import owner_key
from db.pii import BlindIndex, FieldCipher
from db.sql import execute

TABLE = "core.consents"


@dataclass(frozen=True)
class ConsentEntry:
    customer_id: str
    channel: str
    granted: bool
    source: str
    source_message_id: str | None
    text: str | None
    ip: str | None
    page: str | None
    recorded_at: datetime


class ConsentLedger:
    def __init__(self, conn: Connection, cipher: FieldCipher, blind: BlindIndex) -> None:
        self.conn = conn
        self.cipher = cipher
        self.blind = blind

    def append(
        self,
        customer_id: str,
        *,
        channel: str,
        granted: bool,
        source: str,
        at: datetime,
        phone: str | None,
        source_message_id: str | None = None,
        text: str | None = None,
        ip: str | None = None,
        page: str | None = None,
    ) -> None:
        row_id = str(uuid.uuid4())
        sealed: dict[str, bytes | None] = {"text_enc": None, "ip_enc": None, "page_enc": None}
        if text or ip or page:  # their words and where they were: under their data key
            key = owner_key(self.cipher, self.conn, customer_id, "customer")
            for column, value in (("text_enc", text), ("ip_enc", ip), ("page_enc", page)):
                if value:
                    sealed[column] = self.cipher.encrypt(value, table=TABLE, column=column, row_id=row_id, data_key=key)
        execute(
            self.conn,
            "INSERT INTO core.consents (id, customer_id, channel, granted, source, source_message_id, recorded_at,"
            " phone_bidx, text_enc, ip_enc, page_enc) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                row_id,
                customer_id,
                channel,
                granted,
                source,
                source_message_id,
                at,
                self.blind.of("phone", phone) if phone and channel == "sms" else None,
                sealed["text_enc"],
                sealed["ip_enc"],
                sealed["page_enc"],
            ),
        )

    def current(self, customer_id: str, channel: str) -> bool | None:
        """The customer's latest entry for the channel: True opted in, False opted out, None never asked."""
        row = execute(
            self.conn,
            "SELECT granted FROM core.consents WHERE customer_id = %s AND channel = %s ORDER BY seq DESC LIMIT 1",
            (customer_id, channel),
        ).fetchone()
        return None if row is None else bool(row.granted)

    def sms_state(self, phone: str) -> bool | None:
        """The latest sms entry for this (normalised) number, recorded by its phone index or for the
        customer who holds the number: True opted in, False opted out, None no entry."""
        bidx = self.blind.of("phone", phone)
        row = execute(
            self.conn,
            "SELECT granted FROM core.consents WHERE channel = 'sms' AND (phone_bidx = %s"
            " OR customer_id = (SELECT id FROM core.customers WHERE phone_bidx = %s))"
            " ORDER BY seq DESC LIMIT 1",
            (bidx, bidx),
        ).fetchone()
        return None if row is None else bool(row.granted)

    def history(self, customer_id: str) -> list[ConsentEntry]:
        """The customer's entries, oldest first, decrypted (`[erased]` once they were)."""
        rows = execute(
            self.conn,
            "SELECT id, customer_id, channel, granted, source, source_message_id, text_enc, ip_enc, page_enc,"
            " recorded_at FROM core.consents WHERE customer_id = %s ORDER BY seq",
            (customer_id,),
        ).fetchall()

        def opened(blob: bytes | None, column: str, row_id: str) -> str | None:
            return self.cipher.readable(blob, table=TABLE, column=column, row_id=row_id) if blob else None

        return [
            ConsentEntry(
                customer_id=str(row.customer_id),
                channel=row.channel,
                granted=row.granted,
                source=row.source,
                source_message_id=row.source_message_id,
                text=opened(row.text_enc, "text_enc", str(row.id)),
                ip=opened(row.ip_enc, "ip_enc", str(row.id)),
                page=opened(row.page_enc, "page_enc", str(row.id)),
                recorded_at=row.recorded_at,
            )
            for row in rows
        ]
