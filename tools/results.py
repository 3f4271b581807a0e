"""The shapes every tool returns: plain dicts a model (or a node) can read without our types.

Success: `{"ok": True, ...}`. Failure: `{"ok": False, "error": {"code", "field", "message"}}`; a full
slot adds `alternatives` (what to offer instead). Nothing here raises for a business refusal.
"""

from __future__ import annotations

from typing import Any

from db.idempotency import IdempotencyKeyReused
from domain.errors import DomainError, SlotUnavailable
from services.bus import CommandFailed


def failed(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "field": field, "message": message}, **extra}


def from_error(error: Exception) -> dict[str, Any]:
    """The dict for an error the services raise on purpose; anything else is a bug and propagates."""
    if isinstance(error, SlotUnavailable):
        return failed(error.code, error.message, "slot", alternatives=error.as_dict()["alternatives"])
    if isinstance(error, DomainError):
        return failed(error.code, error.message, error.field)
    if isinstance(error, CommandFailed):
        return failed("busy", str(error))
    if isinstance(error, IdempotencyKeyReused):
        return failed("idempotency_key_reused", str(error))
    raise error


EXPECTED_ERRORS = (DomainError, SlotUnavailable, CommandFailed, IdempotencyKeyReused)
