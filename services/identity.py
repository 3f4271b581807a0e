"""Local staff accounts: creation, roles, password login with throttling, sessions, TOTP MFA.

Each public function is one operation in one transaction (`container.uow()`; only the unit of work
commits) and writes its line in the identity audit trail (`record_auth_event`): user_created,
role_changed, user_deactivated, login, login_failed, login_throttled, account_locked, mfa_passed,
mfa_failed, mfa_enrol_started, mfa_enrolled, mfa_reset, logout, logout_everywhere. A refusal that
must be remembered (a failed login) is committed first and raised after.

Choices:
- Passwords: argon2id through argon2-cffi's `PasswordHasher` defaults (RFC 9106's low-memory
  profile: 64 MiB, t=3, p=4), rehashed on login when the parameters change. Rules in
  domain.passwords; the common list is zxcvbn's 30,000 passwords from breach corpora.
- One message, "wrong email or password", for an unknown email, a wrong password, a deactivated or
  single-sign-on-only account; an unknown email still costs one argon2 verify (of a dummy hash).
- Throttling reads `identity.login_attempts`: per account (by the email's blind index, so an unknown
  email is throttled exactly like a real one and the lock message reveals nothing) counting
  failures since the last complete login; per IP counting every failure. A wrong second-factor
  code is a failure of the account too, so a stolen password cannot grind through TOTP codes.
  `staff_users.failed_logins` and `locked_until` mirror the account's state for people reading it.
- Sessions: `start_session` (also used by single sign-on). A session of an owner or admin, or of
  anyone enrolled in MFA, starts with `mfa_passed` false; the second factor sets it.
- TOTP (pyotp, 6 digits, 30 s, one step of clock drift either way); a code is accepted once
  (`mfa_last_step`). Enrolment keeps the new secret encrypted in `mfa_pending_enc`, bound to the
  session that asked, until a code from it is confirmed; then 10 one-time recovery codes are
  made, shown once and stored as keyed hashes (the blind-index HMAC).
- A stolen password alone never reaches the admin pages: an owner or admin who has not enrolled
  can start enrolment only with the one-time enrolment code (7 days, stored as a keyed hash, used
  up by the enrolment) that `create_user` / `change_role` / `reset_mfa` return to whoever made or
  promoted the account.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, insert, select, update

from db.identity import USERS, StaffSession, StaffUser, record_auth_event
from db.tables import login_attempts, recovery_codes, staff_sessions, staff_users
from db.uow import UnitOfWork
from domain.access import MFA_REQUIRED, PEOPLE_ROLES, ROLES, Permission, Role, can_assign, permissions_of
from domain.access import session_expiry as session_over
from domain.clock import Clock
from domain.errors import DomainError, Forbidden, NotAuthenticated, NotFound, TooManyAttempts
from domain.passwords import (
    FAILURE_WINDOW,
    LOCKOUT,
    account_lock_until,
    account_locked_message,
    ip_throttle_until,
    ip_throttled_message,
    password_problem,
    wait_for,
)
from hibachi.bootstrap import Container

WRONG_CREDENTIALS = "wrong email or password"
ENROL_CODE_LIFETIME = timedelta(days=7)
RECOVERY_CODES = 10
TOTP_DIGITS = 6
_LOOKBACK = FAILURE_WINDOW + LOCKOUT  # failures older than this can no longer throttle anyone

HASHER = PasswordHasher()  # argon2id


class LoginFailed(NotAuthenticated):
    """Wrong email or password (the same words whichever it was)."""

    code = "login_failed"


class WrongCode(DomainError):
    """A second-factor, recovery or enrolment code that is not right (or already used)."""

    code = "wrong_code"


@cache
def common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


@cache
def _dummy_hash() -> str:
    return HASHER.hash(secrets.token_urlsafe(16))


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or "@" in domain or len(value) > 254 or any(c.isspace() for c in value):
        raise DomainError("enter an email address like name@example.com", field="email")
    return value


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def validate_password(password: str, email: str) -> None:
    problem = password_problem(password, email=email, common=common_passwords())
    if problem:
        raise DomainError(problem, field="password")


def needs_second_factor(user: StaffUser) -> bool:
    """An owner or admin always, anyone else once they have enrolled in MFA."""
    return user.role in MFA_REQUIRED or user.mfa_enrolled


def _actor_name(actor: StaffUser | None) -> str:
    return f"user:{actor.id}" if actor else "cli"


# ---------------------------------------------------------------- sessions


def open_session(
    uow: UnitOfWork, user: StaffUser, method: str, ip: str | None, at: datetime
) -> tuple[str, StaffSession]:
    """Start a session inside the caller's transaction (see `start_session`)."""
    token, session = uow.sessions.start(user.id, method=method, mfa_passed=not needs_second_factor(user), at=at)
    record_auth_event(
        uow.conn,
        "login",
        at=at,
        user_id=user.id,
        actor=f"user:{user.id}",
        ip=ip,
        method=method,
        session_id=session.id,
        mfa_pending=not session.mfa_passed,
    )
    return token, session


def start_session(container: Container, user: StaffUser, method: str, ip: str | None) -> tuple[str, StaffSession]:
    """A new server-side session for a user who has just proved who they are (`method`: "password"
    or "oidc"), recorded as a `login` auth event. The session has passed MFA already only when the
    user needs no second factor; otherwise send them to /login/mfa (or /account/mfa/enrol when
    they have not enrolled). Returns the cookie token (shown once; set it with
    `api.security.set_session_cookie`) and the session."""
    with container.uow() as uow:
        token, session = open_session(uow, user, method, ip, container.clock.now())
        uow.commit()
    return token, session


def logout(container: Container, session: StaffSession, ip: str | None = None) -> None:
    """End this session server-side: its cookie no longer works, wherever it was copied."""
    now = container.clock.now()
    with container.uow() as uow:
        uow.sessions.end(session.id, now, "logout")
        record_auth_event(
            uow.conn,
            "logout",
            at=now,
            user_id=session.user_id,
            actor=f"user:{session.user_id}",
            ip=ip,
            session_id=session.id,
        )
        uow.commit()


def logout_everywhere(container: Container, session: StaffSession, ip: str | None = None) -> int:
    """End every session of the session's user, this one included; how many were open."""
    now = container.clock.now()
    with container.uow() as uow:
        ended = uow.sessions.end_all(session.user_id, now, "logout_everywhere")
        record_auth_event(
            uow.conn,
            "logout_everywhere",
            at=now,
            user_id=session.user_id,
            actor=f"user:{session.user_id}",
            ip=ip,
            sessions=ended,
        )
        uow.commit()
    return ended


@dataclass(frozen=True)
class AccountOverview:
    user: StaffUser
    open_sessions: int
    recovery_codes_left: int


def account_overview(container: Container, user_id: str) -> AccountOverview:
    now = container.clock.now()
    with container.uow() as uow:
        user = uow.staff.get(user_id)
        if user is None:
            raise NotFound("no such account")
        rows = uow.conn.execute(
            select(staff_sessions.c.created_at, staff_sessions.c.last_seen_at).where(
                staff_sessions.c.user_id == user_id, staff_sessions.c.ended_at.is_(None)
            )
        ).all()
        left = uow.conn.execute(
            select(func.count()).where(recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))
        ).scalar_one()
    alive = sum(1 for row in rows if session_over(row.created_at, row.last_seen_at, now) is None)
    return AccountOverview(user, alive, int(left))


# ---------------------------------------------------------------- accounts


@dataclass(frozen=True)
class CreatedUser:
    user_id: str
    email: str
    role: Role
    enrolment_code: str | None  # owner/admin: give it to the person, once; they need it to enrol MFA
    enrolment_code_expires_at: datetime | None


def _check_role(role: str) -> Role:
    if role not in PEOPLE_ROLES:
        people = ", ".join(PEOPLE_ROLES)
        hint = " (ai_service is for machines: `hibachi token create`)" if role in ROLES else ""
        raise DomainError(f"role must be one of {people}{hint}", field="role")
    return role


def _check_actor(actor: StaffUser | None, target: Role, *, current: Role | None = None) -> None:
    """The command line (actor None) is the operator and may do anything; a person needs users:manage
    and may only give (and take away) roles `can_assign` lets them."""
    if actor is None:
        return
    if Permission.USERS_MANAGE not in permissions_of(actor.role):
        raise Forbidden(f"{actor.role} may not manage accounts")
    for role in (target, current):
        if role is not None and not can_assign(actor.role, role):
            raise Forbidden(f"an {actor.role} may not give or change the {role} role", field="role")


def _issue_enrolment_code(uow: UnitOfWork, user_id: str, at: datetime) -> tuple[str, datetime]:
    code = _group(base64.b32encode(secrets.token_bytes(10)).decode(), 4, "-")  # 80 bits, XXXX-XXXX-XXXX-XXXX
    expires = at + ENROL_CODE_LIFETIME
    uow.staff.update(
        user_id, at, mfa_enrol_code_hash=_enrol_code_hash(uow, user_id, code), mfa_enrol_code_expires_at=expires
    )
    return code, expires


def _group(text: str, size: int, sep: str) -> str:
    return sep.join(text[i : i + size] for i in range(0, len(text), size))


def _enrol_code_hash(uow: UnitOfWork, user_id: str, code: str) -> bytes:
    normal = code.replace("-", "").replace(" ", "").upper()
    return uow.blind.of(f"mfa-enrol-code:{user_id}", normal)


def _active_owners(uow: UnitOfWork) -> int:
    return int(
        uow.conn.execute(
            select(func.count()).where(staff_users.c.role == "owner", staff_users.c.active.is_(True))
        ).scalar_one()
    )


def create_user(
    container: Container,
    *,
    email: str,
    role: str,
    password: str | None,
    name: str | None = None,
    chef_id: str | None = None,
    actor: StaffUser | None = None,
    ip: str | None = None,
) -> CreatedUser:
    """A staff account. `password` None makes a single-sign-on-only account. For an owner or admin
    the result carries the one-time MFA enrolment code to hand to the person."""
    email = normalise_email(email)
    target = _check_role(role)
    _check_actor(actor, target)
    if password is not None:
        validate_password(password, email)
    if target == "chef" and not chef_id:
        raise DomainError("a chef account needs the chef it belongs to", field="chef")
    if target != "chef" and chef_id:
        raise DomainError("only a chef account is linked to a chef", field="chef")
    password_hash = hash_password(password) if password is not None else None
    now = container.clock.now()
    user_id = str(uuid.uuid4())
    with container.uow() as uow:
        if uow.staff.by_email(email) is not None:
            raise DomainError("an account with this email exists already", field="email")
        uow.staff.add(
            user_id=user_id, email=email, role=target, password_hash=password_hash, name=name, chef_id=chef_id
        )
        code, expires = _issue_enrolment_code(uow, user_id, now) if target in MFA_REQUIRED else (None, None)
        record_auth_event(
            uow.conn,
            "user_created",
            at=now,
            user_id=user_id,
            actor=_actor_name(actor),
            ip=ip,
            role=target,
            password=password is not None,
        )
        uow.commit()
    return CreatedUser(user_id, email, target, code, expires)


def _user_by_email(uow: UnitOfWork, email: str) -> StaffUser:
    user = uow.staff.by_email(normalise_email(email))
    if user is None:
        raise NotFound("no account has this email", field="email")
    locked = uow.staff.lock_row(user.id)
    assert locked is not None
    return locked


def change_role(
    container: Container, *, email: str, role: str, actor: StaffUser | None = None, ip: str | None = None
) -> str | None:
    """Give the account another role; its sessions end (the next login carries the new role). A
    promotion into a role that needs MFA drops any factor enrolled before (under a role that needed
    none, it may have been enrolled by whoever held the password) and returns a fresh enrolment code:
    the person enrols again, with the code."""
    target = _check_role(role)
    now = container.clock.now()
    with container.uow() as uow:
        user = _user_by_email(uow, email)
        _check_actor(actor, target, current=user.role)
        if user.role == target:
            return None
        if user.role == "owner" and _active_owners(uow) <= 1:
            raise DomainError("this is the only owner; make another owner first", field="role")
        if target == "chef" and not user.chef_id:
            raise DomainError("a chef account needs the chef it belongs to; create a new account", field="role")
        uow.staff.update(user.id, now, role=target)
        ended = uow.sessions.end_all(user.id, now, "role_changed")
        code = None
        if target in MFA_REQUIRED and user.role not in MFA_REQUIRED:
            uow.staff.update(
                user.id, now, mfa_secret=None, mfa_enrolled_at=None, mfa_pending_enc=None, mfa_pending_session_id=None
            )
            uow.conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user.id))
            code, _ = _issue_enrolment_code(uow, user.id, now)
        record_auth_event(
            uow.conn,
            "role_changed",
            at=now,
            user_id=user.id,
            actor=_actor_name(actor),
            ip=ip,
            **{"from": user.role, "to": target, "sessions_ended": ended},
        )
        uow.commit()
    return code


def deactivate(container: Container, *, email: str, actor: StaffUser | None = None, ip: str | None = None) -> None:
    """The account can no longer log in; every session of it ends now."""
    now = container.clock.now()
    with container.uow() as uow:
        user = _user_by_email(uow, email)
        _check_actor(actor, user.role)
        if not user.active:
            return
        if user.role == "owner" and _active_owners(uow) <= 1:
            raise DomainError("this is the only owner; make another owner first", field="email")
        uow.staff.update(user.id, now, active=False)
        ended = uow.sessions.end_all(user.id, now, "deactivated")
        record_auth_event(
            uow.conn, "user_deactivated", at=now, user_id=user.id, actor=_actor_name(actor), ip=ip, sessions_ended=ended
        )
        uow.commit()


def reset_mfa(container: Container, *, email: str, actor: StaffUser | None = None, ip: str | None = None) -> str | None:
    """For a person who lost their authenticator and recovery codes: the second factor and recovery
    codes are removed and every session ends. An owner or admin gets a new enrolment code (returned)."""
    now = container.clock.now()
    with container.uow() as uow:
        user = _user_by_email(uow, email)
        _check_actor(actor, user.role)
        uow.staff.update(
            user.id, now, mfa_secret=None, mfa_enrolled_at=None, mfa_pending_enc=None, mfa_pending_session_id=None
        )
        uow.conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user.id))
        ended = uow.sessions.end_all(user.id, now, "mfa_reset")
        code = _issue_enrolment_code(uow, user.id, now)[0] if user.role in MFA_REQUIRED else None
        record_auth_event(
            uow.conn, "mfa_reset", at=now, user_id=user.id, actor=_actor_name(actor), ip=ip, sessions_ended=ended
        )
        uow.commit()
    return code


# ---------------------------------------------------------------- throttling


def _failures(
    uow: UnitOfWork, now: datetime, *, email_bidx: bytes | None = None, ip: str | None = None
) -> list[datetime]:
    """Recent failures of an account (since its last complete login) or of an address."""
    since = now - _LOOKBACK
    query = select(login_attempts.c.at).where(login_attempts.c.succeeded.is_(False), login_attempts.c.at > since)
    if email_bidx is not None:
        # Store order, not timestamps: a failure in the same instant as a success still counts.
        last_success = (
            select(func.max(login_attempts.c.id))
            .where(login_attempts.c.email_bidx == email_bidx, login_attempts.c.succeeded.is_(True))
            .scalar_subquery()
        )
        query = query.where(
            login_attempts.c.email_bidx == email_bidx, login_attempts.c.id > func.coalesce(last_success, 0)
        )
    else:
        query = query.where(login_attempts.c.ip == (ip or "unknown"))
    return list(uow.conn.execute(query).scalars())


def _attempt(uow: UnitOfWork, email_bidx: bytes, ip: str | None, *, succeeded: bool, at: datetime) -> None:
    uow.conn.execute(
        insert(login_attempts).values(email_bidx=email_bidx, ip=ip or "unknown", succeeded=succeeded, at=at)
    )


def _throttled(
    uow: UnitOfWork, email_bidx: bytes, ip: str | None, now: datetime, user: StaffUser | None
) -> TooManyAttempts | None:
    """The refusal to give before checking any credential, recorded; None when none is due."""
    wait = wait_for(ip_throttle_until(_failures(uow, now, ip=ip)), now)
    scope, message = "ip", ip_throttled_message
    if wait is None:
        until = account_lock_until(_failures(uow, now, email_bidx=email_bidx))
        if user is not None and user.locked_until is not None and (until is None or user.locked_until > until):
            until = user.locked_until
        wait = wait_for(until, now)
        scope, message = "account", account_locked_message
    if wait is None:
        return None
    record_auth_event(
        uow.conn,
        "login_throttled",
        at=now,
        user_id=user.id if user else None,
        ip=ip,
        scope=scope,
        wait_seconds=int(wait.total_seconds()),
    )
    return TooManyAttempts(message(wait), retry_after_seconds=max(1, int(wait.total_seconds())))


def _record_failure(
    uow: UnitOfWork, email_bidx: bytes, ip: str | None, now: datetime, user: StaffUser | None, kind: str, **detail: Any
) -> TooManyAttempts | None:
    """Count a failure of the account and the address; lock the account when it crosses the line
    (returns the refusal that says so)."""
    _attempt(uow, email_bidx, ip, succeeded=False, at=now)
    record_auth_event(uow.conn, kind, at=now, user_id=user.id if user else None, ip=ip, **detail)
    until = account_lock_until(_failures(uow, now, email_bidx=email_bidx))
    if user is not None:
        values: dict[str, Any] = {"failed_logins": user.failed_logins + 1}
        if until is not None and until > now:
            values["locked_until"] = until
        uow.staff.update(user.id, now, **values)
    wait = wait_for(until, now)
    if wait is None:
        return None
    record_auth_event(
        uow.conn,
        "account_locked",
        at=now,
        user_id=user.id if user else None,
        ip=ip,
        until=until.isoformat() if until else None,
    )
    return TooManyAttempts(account_locked_message(wait), retry_after_seconds=int(wait.total_seconds()))


def _succeeded(uow: UnitOfWork, user: StaffUser, ip: str | None, now: datetime, **values: Any) -> None:
    """A complete login (password, and the second factor when one is needed): the account's failure
    count starts again."""
    _attempt(uow, uow.staff.email_index(user.email), ip, succeeded=True, at=now)
    uow.staff.update(user.id, now, failed_logins=0, locked_until=None, **values)


ATTEMPTS_KEPT = timedelta(days=1)  # throttling looks back 30 minutes; the audit trail keeps the story


def purge_login_attempts(uow_factory: Callable[[], UnitOfWork], clock: Clock) -> int:
    """Delete login attempts too old to throttle anyone (housekeeping); how many went."""
    with uow_factory() as uow:
        result = uow.conn.execute(delete(login_attempts).where(login_attempts.c.at < clock.now() - ATTEMPTS_KEPT))
        uow.commit()
    return int(result.rowcount or 0)


# ---------------------------------------------------------------- password login


@dataclass(frozen=True)
class LoginResult:
    user: StaffUser
    token: str  # the session cookie's value
    session: StaffSession

    @property
    def mfa_pending(self) -> bool:
        return not self.session.mfa_passed


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return HASHER.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_login(container: Container, email: str, password: str, ip: str | None) -> LoginResult:
    """Check an email and password and start a session. LoginFailed ("wrong email or password")
    or TooManyAttempts (with the minutes to wait) otherwise."""
    now = container.clock.now()
    normal = email.strip().lower()[:254]
    outcome: LoginResult | DomainError
    with container.uow() as uow:
        email_bidx = uow.staff.email_index(normal)
        found = uow.staff.by_email(normal) if normal else None
        user = uow.staff.lock_row(found.id) if found else None  # one attempt at a time per account
        refused = _throttled(uow, email_bidx, ip, now, user)
        if refused is not None:
            outcome = refused
        elif not _verify(user.password_hash if user and user.active else None, password[:1024]):
            reason = "unknown_email" if user is None else ("inactive" if not user.active else "wrong_password")
            if user is not None and user.active and user.password_hash is None:
                reason = "no_password"
            outcome = _record_failure(uow, email_bidx, ip, now, user, "login_failed", reason=reason) or LoginFailed(
                WRONG_CREDENTIALS
            )
        else:
            assert user is not None and user.password_hash is not None
            token, session = open_session(uow, user, "password", ip, now)
            if HASHER.check_needs_rehash(user.password_hash):
                uow.staff.update(user.id, now, password_hash=hash_password(password))
            if session.mfa_passed:
                _succeeded(uow, user, ip, now)
            outcome = LoginResult(user, token, session)
        uow.commit()
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


# ---------------------------------------------------------------- MFA


@dataclass(frozen=True)
class MfaState:
    """What the MFA columns say (beyond StaffUser)."""

    pending_secret: str | None
    pending_session_id: str | None
    last_step: int | None
    enrol_code_hash: bytes | None
    enrol_code_expires_at: datetime | None


def _mfa_state(uow: UnitOfWork, user_id: str) -> MfaState:
    row = uow.conn.execute(
        select(
            staff_users.c.mfa_pending_enc,
            staff_users.c.mfa_pending_session_id,
            staff_users.c.mfa_last_step,
            staff_users.c.mfa_enrol_code_hash,
            staff_users.c.mfa_enrol_code_expires_at,
        ).where(staff_users.c.id == user_id)
    ).one()
    pending = (
        uow.cipher.decrypt(row.mfa_pending_enc, table=USERS, column="mfa_pending_enc", row_id=user_id)
        if row.mfa_pending_enc
        else None
    )
    return MfaState(
        pending,
        str(row.mfa_pending_session_id) if row.mfa_pending_session_id else None,
        row.mfa_last_step,
        row.mfa_enrol_code_hash,
        row.mfa_enrol_code_expires_at,
    )


def _totp_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step `code` belongs to (now, or one step either side), if it is right and newer
    than the last one accepted."""
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS)
    for offset in (0, -1, 1):
        at = now + timedelta(seconds=offset * totp.interval)
        if hmac.compare_digest(totp.at(at).encode(), code.encode()):
            step = totp.timecode(at)
            return step if last_step is None or step > last_step else None
    return None


def _normal_code(code: str) -> str:
    """A typed code as compared: NFKC first (full-width digits from an East Asian keyboard become
    ASCII), then ASCII letters and digits only, lower-case (spaces, dashes and anything else dropped)."""
    folded = unicodedata.normalize("NFKC", code)
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum()).lower()


def _recovery_hash(uow: UnitOfWork, user_id: str, code: str) -> bytes:
    return uow.blind.of(f"mfa-recovery:{user_id}", _normal_code(code))


def _live_session(uow: UnitOfWork, session: StaffSession, now: datetime) -> StaffUser:
    current = uow.conn.execute(select(staff_sessions.c.ended_at).where(staff_sessions.c.id == session.id)).first()
    user = uow.staff.lock_row(session.user_id)
    if current is None or current.ended_at is not None or user is None or not user.active:
        raise NotAuthenticated("your session has ended; log in again")
    return user


def _check_factor(uow: UnitOfWork, user: StaffUser, code: str, now: datetime) -> tuple[int | None, bool]:
    """A code for the account's enrolled factor: (the TOTP step it matched, or None; whether it
    used up a recovery code). A TOTP step already accepted is refused (no replay)."""
    assert user.mfa_secret is not None
    normal = _normal_code(code)
    if len(normal) == TOTP_DIGITS and normal.isdigit():
        return _totp_step(user.mfa_secret, normal, now, _mfa_state(uow, user.id).last_step), False
    if not normal:
        return None, False
    used = uow.conn.execute(
        update(recovery_codes)
        .where(
            recovery_codes.c.user_id == user.id,
            recovery_codes.c.code_hash == _recovery_hash(uow, user.id, normal),
            recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=now)
        .returning(recovery_codes.c.code_hash)
    ).first()
    return None, used is not None


def verify_second_factor(container: Container, session: StaffSession, code: str, ip: str | None) -> str:
    """The login's second step: a TOTP code (6 digits) or an unused recovery code. Marks the session
    as having passed MFA and returns which was used ("totp" or "recovery"). WrongCode, or
    TooManyAttempts once the account has failed too often."""
    now = container.clock.now()
    outcome: str | DomainError
    with container.uow() as uow:
        user = _live_session(uow, session, now)
        if user.mfa_secret is None:
            raise DomainError("this account has no second factor yet: enrol first", field="mfa")
        email_bidx = uow.staff.email_index(user.email)
        refused = _throttled(uow, email_bidx, ip, now, user)
        step, used_recovery = (None, False) if refused is not None else _check_factor(uow, user, code, now)
        if refused is not None:
            outcome = refused
        elif step is None and not used_recovery:
            outcome = _record_failure(uow, email_bidx, ip, now, user, "mfa_failed", session_id=session.id) or WrongCode(
                "that code is not right (or was used already); try the current one from your app", field="code"
            )
        else:
            method = "recovery" if used_recovery else "totp"
            uow.sessions.pass_mfa(session.id, now)
            _succeeded(uow, user, ip, now, **({"mfa_last_step": step} if step is not None else {}))
            left = uow.conn.execute(
                select(func.count()).where(recovery_codes.c.user_id == user.id, recovery_codes.c.used_at.is_(None))
            ).scalar_one()
            record_auth_event(
                uow.conn,
                "mfa_passed",
                at=now,
                user_id=user.id,
                actor=f"user:{user.id}",
                ip=ip,
                method=method,
                session_id=session.id,
                recovery_codes_left=int(left),
            )
            outcome = method
        uow.commit()
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


@dataclass(frozen=True)
class EnrolmentStart:
    secret: str  # base32, for typing into an authenticator by hand
    uri: str  # otpauth://, what the QR code holds


def needs_enrolment_code(user: StaffUser, session: StaffSession) -> bool:
    """Only a session that has passed its second factor may enrol (or re-enrol) on its own; an
    owner or admin who has never enrolled (their session waits for MFA) needs the enrolment code."""
    return not session.mfa_passed and not user.mfa_enrolled


def begin_enrolment(
    container: Container,
    session: StaffSession,
    ip: str | None,
    *,
    enrolment_code: str | None = None,
    current_code: str | None = None,
) -> EnrolmentStart:
    """A new TOTP secret, kept pending (encrypted, bound to this session) until confirmed. Replacing
    an enrolled factor needs a code from it (TOTP or recovery) too: a stolen session cookie alone
    cannot swap the factor."""
    now = container.clock.now()
    outcome: EnrolmentStart | DomainError
    with container.uow() as uow:
        user = _live_session(uow, session, now)
        if not session.mfa_passed and user.mfa_enrolled:
            raise Forbidden("enter a code from your authenticator first", field="mfa")
        refused: DomainError | None = None
        if user.mfa_enrolled:
            email_bidx = uow.staff.email_index(user.email)
            refused = _throttled(uow, email_bidx, ip, now, user)
            step, used_recovery = (
                (None, False) if refused is not None else _check_factor(uow, user, current_code or "", now)
            )
            if refused is None and step is None and not used_recovery:
                refused = _record_failure(
                    uow, email_bidx, ip, now, user, "mfa_failed", step="re_enrol", session_id=session.id
                ) or WrongCode(
                    "enter a current code from your authenticator (or a recovery code)", field="current_code"
                )
            elif step is not None:
                uow.staff.update(user.id, now, mfa_last_step=step)
        elif needs_enrolment_code(user, session):
            email_bidx = uow.staff.email_index(user.email)
            refused = _throttled(uow, email_bidx, ip, now, user)
            if refused is None and not _enrol_code_ok(uow, user.id, enrolment_code, now):
                refused = _record_failure(
                    uow, email_bidx, ip, now, user, "mfa_failed", step="enrolment_code", session_id=session.id
                ) or WrongCode(
                    "that enrolment code is not right or has expired; ask an admin for a new one",
                    field="enrolment_code",
                )
        if refused is not None:
            outcome = refused
        else:
            secret = pyotp.random_base32()
            uow.staff.update(
                user.id,
                now,
                mfa_pending_enc=uow.cipher.encrypt(secret, table=USERS, column="mfa_pending_enc", row_id=user.id),
                mfa_pending_session_id=session.id,
            )
            record_auth_event(
                uow.conn,
                "mfa_enrol_started",
                at=now,
                user_id=user.id,
                actor=f"user:{user.id}",
                ip=ip,
                session_id=session.id,
            )
            uri = pyotp.TOTP(secret, digits=TOTP_DIGITS).provisioning_uri(
                name=user.email, issuer_name=container.business.name
            )
            outcome = EnrolmentStart(secret, uri)
        uow.commit()
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def _enrol_code_ok(uow: UnitOfWork, user_id: str, code: str | None, now: datetime) -> bool:
    state = _mfa_state(uow, user_id)
    if not code or state.enrol_code_hash is None or state.enrol_code_expires_at is None:
        return False
    if state.enrol_code_expires_at <= now:
        return False
    return hmac.compare_digest(state.enrol_code_hash, _enrol_code_hash(uow, user_id, code))


def pending_enrolment(container: Container, session: StaffSession) -> EnrolmentStart | None:
    """The enrolment this session started and has not confirmed (to show its QR code again)."""
    with container.uow() as uow:
        user = uow.staff.get(session.user_id)
        state = _mfa_state(uow, session.user_id)
    if user is None or state.pending_secret is None or state.pending_session_id != session.id:
        return None
    uri = pyotp.TOTP(state.pending_secret, digits=TOTP_DIGITS).provisioning_uri(
        name=user.email, issuer_name=container.business.name
    )
    return EnrolmentStart(state.pending_secret, uri)


def confirm_enrolment(container: Container, session: StaffSession, code: str, ip: str | None) -> list[str]:
    """Confirm the pending secret with a code from it: it becomes the account's second factor (the
    enrolment code is used up, the session has passed MFA) and 10 new recovery codes replace any
    old ones. Returns the recovery codes: the only time they are shown."""
    now = container.clock.now()
    outcome: list[str] | DomainError
    with container.uow() as uow:
        user = _live_session(uow, session, now)
        state = _mfa_state(uow, user.id)
        if state.pending_secret is None or state.pending_session_id != session.id:
            raise DomainError("start the enrolment again", field="code")
        if needs_enrolment_code(user, session) and (
            state.enrol_code_expires_at is None or state.enrol_code_expires_at <= now
        ):
            raise WrongCode("the enrolment code has expired; ask an admin for a new one", field="enrolment_code")
        email_bidx = uow.staff.email_index(user.email)
        refused = _throttled(uow, email_bidx, ip, now, user)
        step = None if refused else _totp_step(state.pending_secret, _normal_code(code), now, None)
        if refused is not None:
            outcome = refused
        elif step is None:
            outcome = _record_failure(
                uow, email_bidx, ip, now, user, "mfa_failed", step="enrol_confirm", session_id=session.id
            ) or WrongCode("that code is not right; enter the current one from your app", field="code")
        else:
            codes = [_group(base64.b32encode(secrets.token_bytes(7)).decode()[:10].lower(), 5, "-") for _ in range(10)]
            uow.conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user.id))
            uow.conn.execute(
                insert(recovery_codes),
                [{"user_id": user.id, "code_hash": _recovery_hash(uow, user.id, c), "created_at": now} for c in codes],
            )
            uow.staff.update(
                user.id,
                now,
                mfa_secret=state.pending_secret,
                mfa_enrolled_at=now,
                mfa_pending_enc=None,
                mfa_pending_session_id=None,
                mfa_enrol_code_hash=None,
                mfa_enrol_code_expires_at=None,
            )
            if not session.mfa_passed:
                uow.sessions.pass_mfa(session.id, now)
            _succeeded(uow, user, ip, now, mfa_last_step=step)
            record_auth_event(
                uow.conn,
                "mfa_enrolled",
                at=now,
                user_id=user.id,
                actor=f"user:{user.id}",
                ip=ip,
                session_id=session.id,
                replaced=user.mfa_enrolled,
                recovery_codes=len(codes),
            )
            outcome = codes
        uow.commit()
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome
