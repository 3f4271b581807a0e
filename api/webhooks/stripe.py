"""`POST /webhooks/stripe`: Stripe's events about deposit payments.

Public (no session or token: Stripe cannot log in); the signature over the raw body is the check.
A forged, unsigned or stale (over 300 s) delivery is refused with 400; a verified event becomes a
command, which records the event id so a redelivery is answered 200 and does nothing.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import ContainerDep
from api.errors import ErrorOut, error_body, error_responses
from api.webhooks import provider_json_body
from integrations.stripe import WebhookRefused, command_for, verify

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/stripe",
    responses={
        400: {
            "model": ErrorOut,
            "description": "Not signed by Stripe with our secret, stale (over 300 s), or missing what its type needs",
        },
        **error_responses(404, 413),
    },
    openapi_extra=provider_json_body("A Stripe event, signed in the `Stripe-Signature` header"),
)
async def stripe_webhook(request: Request, container: ContainerDep) -> Any:
    if container.stripe is None:
        return JSONResponse(error_body("not_configured", "Stripe is not configured"), status_code=404)
    payload = await request.body()
    try:
        event = verify(payload, request.headers.get("stripe-signature"), container.stripe.webhook_secret)
    except WebhookRefused as refused:
        return JSONResponse(error_body("bad_signature", f"webhook refused: {refused}"), status_code=400)
    try:
        command = command_for(event)
    except WebhookRefused as refused:
        return JSONResponse(error_body("malformed_event", f"webhook refused: {refused}"), status_code=400)
    if command is None:
        return {"received": True, "handled": False}
    result = await anyio.to_thread.run_sync(container.bus.handle, command)
    return {"received": True, "handled": True, "duplicate": bool(result.body.get("duplicate"))}
