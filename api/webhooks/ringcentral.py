"""`POST /webhooks/ringcentral`: RingCentral's WebHook deliveries (texts in, outbound text statuses).

Public (RingCentral cannot log in). A subscription's handshake carries a `Validation-Token` header,
echoed back at once. Every event must carry our `Verification-Token` (constant-time compare):
missing is 400, wrong is 401, and nothing is stored either way.

An inbound text is stored (`store_inbound`: dedupe on RingCentral's message id) before the 200, in
one short transaction, and the agent's turn (`answer_inbound`, under the thread lock) runs as a
background task after the response: RingCentral wants an answer within seconds and a turn can take
longer (an LLM). A redelivered event finds its message id stored and runs no second turn. A crash
after the store leaves the text stored and unanswered; the thread's next message answers both.
A text we cannot take (a sender that is not a phone number, such as a short code) is acknowledged
and logged, so RingCentral does not retry it.
A status event updates `integra.sms_deliveries` in the request (one short UPDATE).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, Response

from api.deps import ContainerDep
from api.errors import ErrorOut, error_body, error_responses
from api.webhooks import provider_json_body
from domain.errors import DomainError
from hibachi.bootstrap import Container
from integrations.ringcentral import DeliveryStatus, InboundSms, WebhookRefused, parse, verify
from integrations.ringcentral.adapter import PROVIDER, record_status
from services.conversations import Stored, answer_inbound, store_inbound

router = APIRouter(tags=["webhooks"])
log = logging.getLogger(__name__)


def _store(container: Container, text: InboundSms) -> Stored:
    return store_inbound(
        container,
        channel="sms",
        contact=text.phone,
        text=text.text,
        provider=PROVIDER,
        provider_message_id=text.provider_message_id,
    )


def _answer(container: Container, stored: Stored, phone: str) -> None:
    try:
        answer_inbound(container, stored, channel="sms", contact=phone)
    except Exception:  # after the response: nobody else would hear of it
        log.exception("inbound text (message %s) stored but not answered", stored.message_id)


@router.post(
    "/webhooks/ringcentral",
    responses={
        400: {"model": ErrorOut, "description": "No `Verification-Token`, or not a RingCentral event"},
        401: {"model": ErrorOut, "description": "A `Verification-Token` that is not ours"},
        **error_responses(404, 413),
    },
    openapi_extra=provider_json_body("A RingCentral event; the subscription's `Verification-Token` header with it"),
)
async def ringcentral_webhook(request: Request, background: BackgroundTasks, container: ContainerDep) -> Any:
    if container.ringcentral is None:
        return JSONResponse(error_body("not_configured", "RingCentral is not configured"), status_code=404)
    validation = request.headers.get("validation-token")
    if validation is not None:
        return Response(status_code=200, headers={"Validation-Token": validation})
    token, expected = request.headers.get("verification-token"), container.ringcentral.config.verification_token
    try:
        event = verify(await request.body(), token, expected)
    except WebhookRefused as refused:
        return JSONResponse(error_body("bad_verification", f"webhook refused: {refused}"), status_code=refused.status)
    what = parse(event)
    if isinstance(what, InboundSms):
        try:
            stored = await anyio.to_thread.run_sync(_store, container, what)
        except DomainError as refused:
            log.warning("inbound RingCentral text %s not taken: %s", what.provider_message_id, refused.message)
            return {"received": True, "handled": False}
        if not stored.duplicate:
            background.add_task(_answer, container, stored, what.phone)
        return {"received": True, "handled": "inbound", "duplicate": stored.duplicate}
    if isinstance(what, DeliveryStatus):
        known = await anyio.to_thread.run_sync(
            record_status, container.uow, container.clock, what.provider_message_id, what.status, what.error_code
        )
        return {"received": True, "handled": "status", "known": known}
    return {"received": True, "handled": False}
