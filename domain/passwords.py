"""Password rules and login throttling, as pure functions (no I/O, time passed in).

Choices:
- Length 12 to 256 characters; no composition rules (NIST SP 800-63B): length and a refusal of
  known-common passwords do more than "one digit, one symbol". 256 bounds the hashing work an
  attacker can ask for.
- The common list comes in as an argument (the service passes zxcvbn's 30,000 most common
  passwords, drawn from breach corpora); the comparison is case-insensitive. A password equal to
  or containing the local part of the account's email is refused too.
- Throttling counts failures in a sliding window: 5 failed logins for one account within 15
  minutes lock it for 15 minutes; 20 failures from one IP address within 15 minutes throttle that
  address for 15 minutes. The wait runs from the failure that crossed the line, so trying again
  while throttled (which is refused before any password is checked, and not counted) does not
  extend it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

MIN_LENGTH = 12
MAX_LENGTH = 256

ACCOUNT_MAX_FAILURES = 5
IP_MAX_FAILURES = 20
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)


class PasswordRejected(ValueError):
    """The password breaks a rule; the message says which, in words a person can act on."""


def password_problem(password: str, *, email: str | None = None, common: Collection[str] = ()) -> str | None:
    """What is wrong with `password` for the account `email`, or None when it is acceptable.
    `common` holds lower-case common passwords."""
    if len(password) < MIN_LENGTH:
        return f"use at least {MIN_LENGTH} characters (a few unrelated words make a good one)"
    if len(password) > MAX_LENGTH:
        return f"use at most {MAX_LENGTH} characters"
    lowered = password.lower()
    if lowered in common:
        return "this password is on a list of common and breached passwords; choose another"
    local = (email or "").partition("@")[0].lower()
    if len(local) >= 3 and local in lowered:
        return "the password must not contain your email address"
    return None


def check_password(password: str, *, email: str | None = None, common: Collection[str] = ()) -> None:
    """PasswordRejected when `password_problem` finds something."""
    problem = password_problem(password, email=email, common=common)
    if problem:
        raise PasswordRejected(problem)


def throttle_until(
    failures: Sequence[datetime], *, limit: int, window: timedelta = FAILURE_WINDOW, lockout: timedelta = LOCKOUT
) -> datetime | None:
    """When the throttle that `failures` earned ends (None: none earned): `limit` failures within
    `window` start a wait of `lockout` at the last of them."""
    times = sorted(failures)
    until: datetime | None = None
    for last in range(limit - 1, len(times)):
        if times[last] - times[last - limit + 1] < window:
            end = times[last] + lockout
            until = end if until is None or end > until else until
    return until


def wait_for(until: datetime | None, now: datetime) -> timedelta | None:
    """How long is left of a throttle or lock ending at `until` (None: it is over)."""
    if until is None or until <= now:
        return None
    return until - now


def account_lock_until(failures: Sequence[datetime]) -> datetime | None:
    """An account's lock, from its failures since its last successful login."""
    return throttle_until(failures, limit=ACCOUNT_MAX_FAILURES)


def ip_throttle_until(failures: Sequence[datetime]) -> datetime | None:
    """An address's throttle, from its recent failures (successes do not reset it)."""
    return throttle_until(failures, limit=IP_MAX_FAILURES)


def minutes(wait: timedelta) -> int:
    """The wait in whole minutes, rounded up (never "0 minutes")."""
    return max(1, math.ceil(wait.total_seconds() / 60))


def account_locked_message(wait: timedelta) -> str:
    n = minutes(wait)
    return (
        f"Too many failed attempts for this account: it is locked for {n} minute{'s' if n != 1 else ''}. "
        "Try again then, or ask an admin."
    )


def ip_throttled_message(wait: timedelta) -> str:
    n = minutes(wait)
    return f"Too many failed logins from your network. Try again in {n} minute{'s' if n != 1 else ''}."
