"""Matching bank credits to bookings (the service side of `domain.matching`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hibachi.bootstrap import Container


def match_credit(container: Container, transaction_id: str) -> dict[str, Any]:
    """Match one stored bank credit (placeholder until the scorer lands: leaves it unmatched)."""
    return {"transaction_id": transaction_id, "status": "unmatched"}


def on_new_credits(container: Container, transaction_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Called after new credits are stored in integra.bank_transactions (each committed): match
    each one, automatically or into ranked suggestions for staff. Never raises for one bad credit."""
    return [match_credit(container, str(tid)) for tid in transaction_ids]
