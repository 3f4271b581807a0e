"""`POST /webhooks/google-calendar`: events.watch push notifications about a chef's calendar.

Public (Google cannot log in). A push carries no body and no signature: the check is that
`X-Goog-Channel-ID` names a channel we opened (integra.calendar_channels) and `X-Goog-Channel-Token`
is the secret we gave it. Anything else is refused with 403 and nothing is done. An accepted push
syncs that calendar (incremental, so a duplicate or reordered push costs one empty sync).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ContainerDep
from api.errors import ErrorOut, error_body, error_responses
from services.chef_calendars import ChannelRefused

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/google-calendar",
    responses={
        403: {
            "model": ErrorOut,
            "description": "`X-Goog-Channel-ID` and `X-Goog-Channel-Token` name no channel of ours",
        },
        **error_responses(404, 413),
    },
)
async def google_calendar_webhook(request: Request, container: ContainerDep) -> Any:
    if container.calendars is None:
        return JSONResponse(error_body("not_configured", "Google Calendar is not configured"), status_code=404)
    headers = request.headers
    try:
        result = await run_in_threadpool(
            container.calendars.push,
            headers.get("x-goog-channel-id"),
            headers.get("x-goog-channel-token"),
            headers.get("x-goog-resource-state"),
        )
    except ChannelRefused as refused:
        return JSONResponse(error_body("unknown_channel", f"push refused: {refused}"), status_code=403)
    return {"received": True, "synced": result["synced"]}
