"""Who may do what: the roles, the permissions, and the one matrix between them.

Every route declares the permission it needs (`api.security.Requires`); a person's session or a
service's access token carries a role, and a token its scopes (a subset of its role's permissions).
Nothing else decides access. Reading the matrix top to bottom is reading the access policy.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, get_args

Role = Literal["owner", "admin", "staff", "chef", "ai_service"]
ROLES: tuple[Role, ...] = get_args(Role)
PEOPLE_ROLES: tuple[Role, ...] = ("owner", "admin", "staff", "chef")  # log in; ai_service is a machine role


class Permission(StrEnum):
    """What a route does. The value is also the OAuth scope name."""

    BOOKINGS_WRITE = "bookings:write"  # create, reschedule, cancel bookings
    CONSENT_WRITE = "consent:write"  # record a customer's opt-in / opt-out
    AVAILABILITY_READ = "availability:read"  # free dates and times, quotes
    BOOKINGS_READ = "bookings:read"  # any booking by reference
    THREADS_HANDOFF = "threads:handoff"  # hand a conversation to staff
    SCHEDULE_READ_OWN = "schedule:read_own"  # a chef's own events
    SCHEDULE_READ = "schedule:read"  # every chef's events
    INBOX_READ = "inbox:read"  # conversations and their transcripts
    INBOX_WRITE = "inbox:write"  # take over, reply, hand back, assign, resolve
    CUSTOMERS_READ = "customers:read"  # customers' decrypted contact details
    CUSTOMERS_EXPORT = "customers:export"  # a data subject's full export
    CUSTOMERS_ERASE = "customers:erase"  # a data subject's erasure
    PAYMENTS_READ = "payments:read"
    USERS_MANAGE = "users:manage"  # create staff accounts, change roles, deactivate
    TOKENS_ISSUE = "tokens:issue"  # service clients and their tokens
    AUDIT_READ = "audit:read"
    DELIVERIES_READ = "deliveries:read"  # messages to providers that failed for good or are retrying
    DELIVERIES_RETRY = "deliveries:retry"  # put a dead-lettered message back in the queue
    ADMIN_AREA = "admin:access"  # the staff pages under /admin at all


P = Permission
_STAFF: frozenset[Permission] = frozenset(
    {
        P.BOOKINGS_WRITE,
        P.CONSENT_WRITE,
        P.AVAILABILITY_READ,
        P.BOOKINGS_READ,
        P.THREADS_HANDOFF,
        P.SCHEDULE_READ,
        P.SCHEDULE_READ_OWN,
        P.INBOX_READ,
        P.INBOX_WRITE,
        P.CUSTOMERS_READ,
        P.PAYMENTS_READ,
        P.DELIVERIES_READ,
        P.DELIVERIES_RETRY,
        P.ADMIN_AREA,
    }
)
_ADMIN: frozenset[Permission] = _STAFF | {P.CUSTOMERS_EXPORT, P.CUSTOMERS_ERASE, P.USERS_MANAGE, P.AUDIT_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "owner": frozenset(Permission),
    "admin": _ADMIN,  # all but issuing service tokens; only an owner makes or promotes owners
    "staff": _STAFF,  # runs the business day to day; cannot export or erase customer data
    "chef": frozenset({P.SCHEDULE_READ_OWN, P.ADMIN_AREA}),  # their own schedule, nothing else
    # The agent as its own process, integrations, scripts: booking commands and queries, no admin area.
    "ai_service": frozenset(
        {P.BOOKINGS_WRITE, P.CONSENT_WRITE, P.AVAILABILITY_READ, P.BOOKINGS_READ, P.THREADS_HANDOFF}
    ),
}

# A password (or a single sign-on) alone never reaches these roles' pages: a second factor must too.
MFA_REQUIRED: frozenset[Role] = frozenset({"owner", "admin"})


def permissions_of(role: Role) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[role]


def parse_scopes(scopes: str | list[str] | tuple[str, ...] | None, role: Role = "ai_service") -> frozenset[Permission]:
    """Scopes asked for (space-separated or a list) as permissions; none means the role's all.
    ValueError names a scope that is unknown or beyond the role."""
    if scopes is None or scopes == "" or scopes == []:
        return ROLE_PERMISSIONS[role]
    parts = [scopes] if isinstance(scopes, str) else list(scopes)
    names = [name for part in parts for name in part.replace(",", " ").split()]
    granted: set[Permission] = set()
    for name in names:
        try:
            permission = Permission(name)
        except ValueError:
            raise ValueError(f"unknown scope {name!r}") from None
        if permission not in ROLE_PERMISSIONS[role]:
            raise ValueError(f"scope {name!r} is beyond the {role} role")
        granted.add(permission)
    return frozenset(granted)


def can_assign(actor: Role, target: Role) -> bool:
    """Who may give a role: owners any; admins any but owner; nobody else."""
    if actor == "owner":
        return True
    return actor == "admin" and target != "owner"


# Staff sessions end after 30 minutes without a request, and 12 hours after login whatever happens.
SESSION_IDLE = timedelta(minutes=30)
SESSION_ABSOLUTE = timedelta(hours=12)


def session_expiry(created_at: datetime, last_seen_at: datetime, now: datetime) -> str | None:
    """Why a session is over at `now` ("idle" or "absolute"), or None while it is alive."""
    if now - created_at >= SESSION_ABSOLUTE:
        return "absolute"
    if now - last_seen_at >= SESSION_IDLE:
        return "idle"
    return None
