"""Local staff accounts: creation, roles, password login with throttling, sessions, TOTP MFA.

Each public function is one operation in one transaction (`container.uow()`; only the unit of
work commits), and writes its line in the identity audit trail (`record_auth_event`).
"""

from __future__ import annotations

from datetime import datetime

from db.identity import StaffSession, StaffUser, record_auth_event
from db.uow import UnitOfWork
from domain.access import MFA_REQUIRED
from hibachi.bootstrap import Container


def needs_second_factor(user: StaffUser) -> bool:
    """An owner or admin always, anyone else once they have enrolled in MFA."""
    return user.role in MFA_REQUIRED or user.mfa_enrolled


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
