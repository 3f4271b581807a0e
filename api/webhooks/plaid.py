"""`POST /webhooks/plaid`: Plaid's webhooks, verified (the `Plaid-Verification` JWT, see
integrations/plaid/webhooks.py) on the raw body; anything unverified is refused with 400.

Plaid webhooks carry no event id, and one item's SYNC_UPDATES_AVAILABLE bodies are identical from
one update to the next: a delivery is identified by its body's SHA-256 together with the signed
`iat` (integra.webhook_events). A replayed delivery is acknowledged and not acted on again; a later
notice with the same body is a new update and syncs (a sync is idempotent, so a retry Plaid signs
anew costs one extra empty sync, never a lost update).
`SYNC_UPDATES_AVAILABLE` starts a background sync of its item; the answer does not wait for it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.dialects.postgresql import insert
from starlette.concurrency import run_in_threadpool

from api.deps import ContainerDep
from api.errors import ErrorOut, error_body, error_responses
from api.webhooks import provider_json_body
from db.tables import webhook_events
from hibachi.bootstrap import Container
from integrations.plaid.webhooks import WebhookRejected
from services.bank_sync import PROVIDER, bank_sync_of

router = APIRouter(tags=["webhooks"])


def _record(container: Container, event_id: str, event_type: str) -> bool:
    """True when this delivery is new (recorded now), False for a repeat."""
    with container.uow() as uow:
        inserted = uow.conn.execute(
            insert(webhook_events)
            .values(provider=PROVIDER, event_id=event_id, event_type=event_type[:64])
            .on_conflict_do_nothing()
            .returning(webhook_events.c.event_id)
        ).first()
        uow.commit()
    return inserted is not None


@router.post(
    "/webhooks/plaid",
    responses={
        400: {"model": ErrorOut, "description": "Not verifiably from Plaid (signature, key, age or body digest)"},
        **error_responses(413),
    },
    openapi_extra=provider_json_body("A Plaid webhook, signed by the JWT in the `Plaid-Verification` header"),
)
async def plaid_webhook(request: Request, container: ContainerDep) -> Any:
    raw = await request.body()
    wiring = bank_sync_of(container)
    try:
        verified = await run_in_threadpool(wiring.verify, raw, request.headers.get("Plaid-Verification"))
    except WebhookRejected as error:
        return JSONResponse(error_body("invalid_signature", str(error)), status_code=400)
    payload = verified.payload
    webhook_type, code = str(payload.get("webhook_type", "")), str(payload.get("webhook_code", ""))
    event_id = f"sha256:{verified.body_sha256}:{verified.issued_at}"
    fresh = await run_in_threadpool(_record, container, event_id, f"{webhook_type}.{code}")
    item_id = payload.get("item_id")
    if fresh and webhook_type == "TRANSACTIONS" and code == "SYNC_UPDATES_AVAILABLE" and isinstance(item_id, str):
        wiring.runner.request(item_id, event_id)
    return {"received": True, "duplicate": not fresh}
