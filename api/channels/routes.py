"""`POST /channels/web/messages` (the widget's one call) and `GET /chat` (the widget page).

Public by definition (no auth dependency): a website visitor has no account. The session id is the
thread's identity; it is a bearer secret only for the conversation it names.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.channels.schemas import WebMessageIn, WebMessageOut
from api.channels.widget import widget_page
from api.deps import ContainerDep
from services.conversations import handle_inbound

router = APIRouter(tags=["channels"])

WEB_PROVIDER = "web-widget"


@router.post(
    "/channels/web/messages",
    response_model=WebMessageOut,
    responses={422: {"description": "Invalid input; `field` names it"}},
)
def web_message(body: WebMessageIn, container: ContainerDep) -> WebMessageOut:
    result = handle_inbound(
        container,
        channel="web",
        contact=body.session_id,
        text=body.text,
        provider=WEB_PROVIDER if body.message_id else None,
        provider_message_id=body.message_id,
        email=body.email,
    )
    return WebMessageOut(
        thread_id=result.thread_id, message_id=result.message_id, reply=result.reply, duplicate=result.duplicate
    )


@router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
def chat_page(container: ContainerDep) -> HTMLResponse:
    return HTMLResponse(widget_page(container.business.name))
