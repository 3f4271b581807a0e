"""Matching bank credits to bookings: load what the pure matcher (domain/matching.py) needs, let it
decide, and send the outcome as a command (the bus owns the transaction): an automatic match records
the payment (RecordBankPayment), anything else leaves ranked suggestions for staff (SuggestMatches),
who confirm (ConfirmMatch, which also teaches the payer alias), reject or ignore."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from db.sql import execute
from db.uow import UnitOfWork
from domain.booking import ACTIVE_STATUSES
from domain.commands import RecordBankPayment, SuggestedMatch, SuggestMatches
from domain.errors import DomainError
from domain.matching import DUPLICATE_DAYS, Candidate, Credit, Decision, Recorded, decide, normalize_payer

if TYPE_CHECKING:
    from hibachi.bootstrap import Container

log = logging.getLogger(__name__)
BANK_TX = "integra.bank_transactions"


def _decrypt(uow: UnitOfWork, blob: bytes | None, column: str, row_id: str) -> str:
    return uow.cipher.decrypt(blob, table=BANK_TX, column=column, row_id=row_id) if blob else ""


def _candidates(uow: UnitOfWork, exclude: set[str]) -> tuple[list[Candidate], dict[str, str]]:
    rows = execute(
        uow.conn,
        "SELECT id, reference, customer_id, total_due_cents, deposit_due_cents, deposit_paid_cents, event_date,"
        " created_at::date AS created_on FROM core.bookings"
        " WHERE status = ANY(%s) AND deposit_paid_cents < total_due_cents",
        (list(ACTIVE_STATUSES),),
    ).fetchall()
    rows = [r for r in rows if str(r.id) not in exclude]
    customers = uow.customers.many(sorted({str(r.customer_id) for r in rows}))
    out: list[Candidate] = []
    ids: dict[str, str] = {}
    for r in rows:
        customer_id = str(r.customer_id)
        record = customers.get(customer_id)
        first, last = (record.first_name, record.last_name) if record else ("", "")
        out.append(
            Candidate(
                r.reference,
                customer_id,
                first,
                last,
                r.total_due_cents,
                r.deposit_due_cents,
                r.deposit_paid_cents,
                r.event_date,
                r.created_on,
            )
        )
        ids[r.reference] = str(r.id)
    return out, ids


def evaluate_credit(uow: UnitOfWork, transaction_id: str) -> tuple[Credit, Decision] | None:
    """The matcher's decision for an unmatched, posted credit (None for anything else)."""
    row = execute(
        uow.conn,
        "SELECT id, amount_cents, posted_on, pending, payer_enc, memo_enc, match_status, removed_at"
        " FROM integra.bank_transactions WHERE id = %s",
        (transaction_id,),
    ).fetchone()
    if row is None or row.removed_at is not None or row.pending or row.match_status != "unmatched":
        return None
    if row.amount_cents <= 0:
        return None
    tid = str(row.id)
    credit = Credit(
        row.amount_cents,
        row.posted_on,
        _decrypt(uow, row.payer_enc, "payer_enc", tid),
        _decrypt(uow, row.memo_enc, "memo_enc", tid),
    )
    rejected = {
        str(r.booking_id)
        for r in execute(
            uow.conn,
            "SELECT booking_id FROM integra.match_suggestions WHERE transaction_id = %s AND status = 'rejected'",
            (tid,),
        )
    }
    candidates, _ = _candidates(uow, rejected)
    normal = normalize_payer(credit.payer)
    aliases = (
        {
            str(r.customer_id)
            for r in execute(
                uow.conn,
                "SELECT customer_id FROM integra.payer_aliases WHERE payer_bidx = %s",
                (uow.blind.of("payer", normal),),
            )
        }
        if normal
        else set()
    )
    recorded = [
        Recorded(
            r.reference,
            Credit(
                r.amount_cents,
                r.posted_on,
                _decrypt(uow, r.payer_enc, "payer_enc", str(r.id)),
                _decrypt(uow, r.memo_enc, "memo_enc", str(r.id)),
            ),
        )
        for r in execute(
            uow.conn,
            "SELECT t.id, t.amount_cents, t.posted_on, t.payer_enc, t.memo_enc, b.reference"
            " FROM integra.bank_transactions t JOIN core.bookings b ON b.id = t.booking_id"
            " WHERE t.match_status = 'matched' AND t.amount_cents = %s AND t.id <> %s"
            " AND t.posted_on BETWEEN %s AND %s",
            (
                credit.amount_cents,
                tid,
                credit.posted_on - timedelta(days=DUPLICATE_DAYS),
                credit.posted_on + timedelta(days=DUPLICATE_DAYS),
            ),
        )
    ]
    return credit, decide(credit, candidates, alias_customers=aliases, recorded=recorded)


def match_credit(container: Container, transaction_id: str) -> dict[str, Any]:
    """Match one stored bank credit: automatically when the matcher is sure, else suggestions."""
    with container.uow() as uow:  # read only: rolled back on exit
        found = evaluate_credit(uow, transaction_id)
    if found is None:
        return {"transaction_id": transaction_id, "status": "skipped"}
    _, decision = found
    if decision.matched is not None:
        try:
            body = container.bus.handle(RecordBankPayment(transaction_id, decision.matched)).body
            return body | {"auto": True}
        except DomainError as error:  # e.g. the booking changed meanwhile: leave it to staff
            log.info("automatic match of %s refused: %s", transaction_id, error)
    suggestions = tuple(SuggestedMatch(s.reference, s.score, json.dumps(s.explain())) for s in decision.ranked)
    body = container.bus.handle(SuggestMatches(transaction_id, suggestions)).body
    return body | {"auto": False, "reason": decision.reason}


def on_new_credits(container: Container, transaction_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Called after new credits are stored in integra.bank_transactions (each committed): match
    each one, automatically or into ranked suggestions for staff. One bad credit does not stop the rest."""
    results: list[dict[str, Any]] = []
    for tid in transaction_ids:
        try:
            results.append(match_credit(container, str(tid)))
        except Exception:
            log.exception("matching bank credit %s failed", tid)
            results.append({"transaction_id": str(tid), "status": "error"})
    return results


def unmatched_credits(container: Container, limit: int = 50) -> list[dict[str, Any]]:
    """Unmatched posted credits, newest first, with payer and memo decrypted and the matcher's
    ranked suggestions (with their evidence), for the admin payments page."""
    with container.uow() as uow:
        rows = execute(
            uow.conn,
            "SELECT id, amount_cents, posted_on, payer_enc, memo_enc FROM integra.bank_transactions"
            " WHERE match_status = 'unmatched' AND removed_at IS NULL AND NOT pending AND amount_cents > 0"
            " ORDER BY posted_on DESC, created_at DESC LIMIT %s",
            (max(1, min(limit, 500)),),
        ).fetchall()
        out: list[dict[str, Any]] = []
        for r in rows:
            tid = str(r.id)
            suggestions = [
                {"reference": s.reference, "score": s.score, "rank": s.rank, "evidence": s.evidence}
                for s in execute(
                    uow.conn,
                    "SELECT b.reference, s.score, s.rank, s.evidence FROM integra.match_suggestions s"
                    " JOIN core.bookings b ON b.id = s.booking_id"
                    " WHERE s.transaction_id = %s AND s.status = 'suggested' ORDER BY s.rank",
                    (tid,),
                )
            ]
            out.append(
                {
                    "transaction_id": tid,
                    "amount_cents": r.amount_cents,
                    "posted_on": r.posted_on.isoformat(),
                    "payer": _decrypt(uow, r.payer_enc, "payer_enc", tid),
                    "memo": _decrypt(uow, r.memo_enc, "memo_enc", tid),
                    "suggestions": suggestions,
                }
            )
        return out
