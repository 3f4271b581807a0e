"""Staff accounts, their server-side sessions, and the identity audit trail (schema `identity`).

Emails and names are encrypted like customers' (table/column/row as AAD), found by blind index.
A session's cookie value never reaches the database: only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, insert, select, update

from db.audit import append_entry
from db.pii import BlindIndex, FieldCipher
from db.tables import auth_events, staff_sessions, staff_users
from domain.access import Role
from domain.audit import auth_detail

USERS = "identity.staff_users"


@dataclass
class StaffUser:
    id: str
    email: str
    name: str | None
    role: Role
    password_hash: str | None
    active: bool
    chef_id: str | None
    mfa_secret: str | None  # the TOTP secret once enrolment is confirmed
    failed_logins: int
    locked_until: datetime | None

    @property
    def mfa_enrolled(self) -> bool:
        return self.mfa_secret is not None


@dataclass(frozen=True)
class StaffSession:
    id: str
    user_id: str
    csrf_token: str
    mfa_passed: bool
    method: str
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class StaffUserRepository:
    def __init__(self, conn: Connection, cipher: FieldCipher, blind: BlindIndex) -> None:
        self.conn = conn
        self.cipher = cipher
        self.blind = blind

    def _enc(self, column: str, row_id: str, value: str | None) -> bytes | None:
        return None if value is None else self.cipher.encrypt(value, table=USERS, column=column, row_id=row_id)

    def _dec(self, column: str, row_id: str, blob: bytes | None) -> str | None:
        return None if blob is None else self.cipher.decrypt(blob, table=USERS, column=column, row_id=row_id)

    def _user(self, row: Any) -> StaffUser:
        rid = str(row.id)
        return StaffUser(
            id=rid,
            email=self._dec("email_enc", rid, row.email_enc) or "",
            name=self._dec("name_enc", rid, row.name_enc),
            role=cast(Role, row.role),
            password_hash=row.password_hash,
            active=row.active,
            chef_id=str(row.chef_id) if row.chef_id else None,
            mfa_secret=self._dec("mfa_secret_enc", rid, row.mfa_secret_enc),
            failed_logins=row.failed_logins,
            locked_until=row.locked_until,
        )

    def email_index(self, email: str) -> bytes:
        return self.blind.of("staff-email", email)

    def add(
        self,
        *,
        user_id: str,
        email: str,
        role: Role,
        password_hash: str | None,
        name: str | None = None,
        chef_id: str | None = None,
    ) -> None:
        self.conn.execute(
            insert(staff_users).values(
                id=user_id,
                email_enc=self._enc("email_enc", user_id, email),
                email_bidx=self.email_index(email),
                name_enc=self._enc("name_enc", user_id, name),
                role=role,
                password_hash=password_hash,
                chef_id=chef_id,
            )
        )

    def get(self, user_id: str) -> StaffUser | None:
        row = self.conn.execute(select(staff_users).where(staff_users.c.id == user_id)).first()
        return self._user(row) if row else None

    def many(self, user_ids: Iterable[str]) -> list[StaffUser]:
        """The accounts with these ids (unknown ids left out), in one query."""
        wanted = list(user_ids)
        if not wanted:
            return []
        return [self._user(row) for row in self.conn.execute(select(staff_users).where(staff_users.c.id.in_(wanted)))]

    def active_in_roles(self, roles: Iterable[str]) -> list[StaffUser]:
        rows = self.conn.execute(select(staff_users).where(staff_users.c.active, staff_users.c.role.in_(list(roles))))
        return [self._user(row) for row in rows]

    def by_email(self, email: str) -> StaffUser | None:
        row = self.conn.execute(select(staff_users).where(staff_users.c.email_bidx == self.email_index(email))).first()
        return self._user(row) if row else None

    def lock_row(self, user_id: str) -> StaffUser | None:
        row = self.conn.execute(select(staff_users).where(staff_users.c.id == user_id).with_for_update()).first()
        return self._user(row) if row else None

    def update(self, user_id: str, at: datetime, **values: Any) -> None:
        """Change columns; `mfa_secret` and `name` are encrypted on the way."""
        if "mfa_secret" in values:
            values["mfa_secret_enc"] = self._enc("mfa_secret_enc", user_id, values.pop("mfa_secret"))
        if "name" in values:
            values["name_enc"] = self._enc("name_enc", user_id, values.pop("name"))
        self.conn.execute(
            update(staff_users)
            .where(staff_users.c.id == user_id)
            .values(**values, updated_at=at, version=staff_users.c.version + 1)
        )

    def count(self) -> int:
        return len(self.conn.execute(select(staff_users.c.id)).all())


class SessionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def start(self, user_id: str, *, method: str, mfa_passed: bool, at: datetime) -> tuple[str, StaffSession]:
        """A new session; returns the cookie token (shown once, stored hashed) and the session."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        row = self.conn.execute(
            insert(staff_sessions)
            .values(
                token_hash=token_hash(token),
                user_id=user_id,
                csrf_token=csrf,
                mfa_passed=mfa_passed,
                method=method,
                created_at=at,
                last_seen_at=at,
            )
            .returning(*staff_sessions.c)
        ).one()
        return token, _session(row)

    def by_token(self, token: str) -> StaffSession | None:
        row = self.conn.execute(select(staff_sessions).where(staff_sessions.c.token_hash == token_hash(token))).first()
        return _session(row) if row else None

    def touch(self, session_id: str, at: datetime) -> None:
        self.conn.execute(update(staff_sessions).where(staff_sessions.c.id == session_id).values(last_seen_at=at))

    def pass_mfa(self, session_id: str, at: datetime) -> None:
        self.conn.execute(
            update(staff_sessions).where(staff_sessions.c.id == session_id).values(mfa_passed=True, last_seen_at=at)
        )

    def end(self, session_id: str, at: datetime, reason: str) -> None:
        self.conn.execute(
            update(staff_sessions)
            .where(staff_sessions.c.id == session_id, staff_sessions.c.ended_at.is_(None))
            .values(ended_at=at, ended_reason=reason)
        )

    def end_all(self, user_id: str, at: datetime, reason: str) -> int:
        """End every open session of the user ("log out everywhere", a role change, a lockout)."""
        result = self.conn.execute(
            update(staff_sessions)
            .where(staff_sessions.c.user_id == user_id, staff_sessions.c.ended_at.is_(None))
            .values(ended_at=at, ended_reason=reason)
        )
        return int(result.rowcount or 0)


def _session(row: Any) -> StaffSession:
    return StaffSession(
        id=str(row.id),
        user_id=str(row.user_id),
        csrf_token=row.csrf_token,
        mfa_passed=row.mfa_passed,
        method=row.method,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        ended_at=row.ended_at,
    )


def record_auth_event(
    conn: Connection,
    kind: str,
    *,
    at: datetime,
    user_id: str | None = None,
    actor: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """Append to the identity audit trail and to the audit log (in the caller's transaction). The
    audit log's entry leaves out the IP address and every detail not on its allowlist
    (domain.audit.AUTH_VALUE_FIELDS); identity.auth_events keeps them."""
    conn.execute(insert(auth_events).values(at=at, kind=kind, user_id=user_id, actor=actor, ip=ip, detail=detail))
    append_entry(
        conn,
        at=at,
        actor=actor or "anonymous",
        action=f"auth.{kind}",
        subject=user_id,
        detail=auth_detail(detail),
    )
