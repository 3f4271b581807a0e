"""Errors the domain raises. Each names the field it is about, so a client can fix its input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class DomainError(Exception):
    """A rule of the business refused the request (a 422 at the edge)."""

    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class OutsideServiceArea(DomainError):
    code = "outside_service_area"


class NotFound(DomainError):
    code = "not_found"


class NotAuthenticated(DomainError):
    """No valid credentials (a 401): log in, or send a bearer token."""

    code = "not_authenticated"


class Forbidden(DomainError):
    """Authenticated, but the role or the token's scopes do not allow this (a 403)."""

    code = "forbidden"


class TooManyAttempts(DomainError):
    """Login throttled: too many failures for this account or address (a 429)."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after_seconds: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class Alternative:
    date: str
    slot: str


@dataclass
class SlotUnavailable(Exception):
    """The requested slot has no free chef; carries what the customer could take instead (a 409)."""

    message: str
    alternatives: list[Alternative] = field(default_factory=list)
    code: str = "slot_unavailable"

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "alternatives": [{"date": a.date, "slot": a.slot} for a in self.alternatives],
        }


class ConcurrencyConflict(Exception):
    """Another writer appended to the same aggregate first; the bus retries the command."""
