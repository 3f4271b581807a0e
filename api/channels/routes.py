"""`POST /channels/web/messages` (the widget sends), `GET /channels/web/messages` (the widget polls
for what staff send while they have the conversation) and `GET /chat` (the widget page).

Public by definition (no auth dependency): a website visitor has no account. The session id is the
thread's identity; it is a bearer secret only for the conversation it names.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.channels.schemas import SentMessage, SentMessages, SessionId, WebMessageIn, WebMessageOut
from api.channels.widget import widget_page
from api.deps import ContainerDep
from api.errors import error_responses
from services.conversations import handle_inbound

router = APIRouter(tags=["channels"])

WEB_PROVIDER = "web-widget"


@router.post("/channels/web/messages", response_model=WebMessageOut, responses=error_responses(400, 413, 415, 422, 503))
def web_message(body: WebMessageIn, request: Request, container: ContainerDep) -> WebMessageOut:
    result = handle_inbound(
        container,
        channel="web",
        contact=body.session_id,
        text=body.text,
        provider=WEB_PROVIDER if body.message_id else None,
        provider_message_id=body.message_id,
        email=body.email,
        # Consent evidence: the client's address (behind a proxy, run uvicorn with --proxy-headers
        # so this is the visitor's) and the page the widget was on.
        client_ip=request.client.host if request.client else None,
        page=body.page or request.headers.get("referer"),
    )
    return WebMessageOut(
        thread_id=result.thread_id,
        message_id=result.message_id,
        reply=result.reply,
        reply_seq=result.reply_seq,
        duplicate=result.duplicate,
    )


@router.get("/channels/web/messages", response_model=SentMessages, responses=error_responses(422, 503))
def web_sent(
    container: ContainerDep,
    session_id: Annotated[SessionId, Query()],
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> SentMessages:
    """What the business sent to this session after `after` (a `seq`): the widget polls this to show
    staff replies. An unknown session has none."""
    sent = container.queries.web_messages(session_id, after)
    return SentMessages(messages=[SentMessage.model_validate(m) for m in sent])


@router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
def chat_page(container: ContainerDep) -> HTMLResponse:
    return HTMLResponse(widget_page(container.business.name))
