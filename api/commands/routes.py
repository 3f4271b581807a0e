"""`POST /commands/*`: each parses its body, sends one command through the bus, returns its result.

Every command takes an `Idempotency-Key` header (required): the same key and body replay the
first response (`Idempotent-Replayed: true`), the same key with another body is a 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from api.commands.schemas import (
    BookingOut,
    CancelBookingIn,
    CancelledBookingOut,
    ConsentOut,
    CreateBookingIn,
    RescheduleBookingIn,
    UpdateConsentIn,
)
from api.deps import ContainerDep
from api.errors import error_responses
from api.security import Principal, Requires
from domain.access import Permission
from domain.commands import Command

router = APIRouter(
    prefix="/commands", tags=["commands"], responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 503)
)

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="A unique value per intended action (e.g. a UUID); retries send the same one.",
    ),
]

BookingsWriter = Annotated[Principal, Depends(Requires(Permission.BOOKINGS_WRITE))]
ConsentWriter = Annotated[Principal, Depends(Requires(Permission.CONSENT_WRITE))]


def _send(container: ContainerDep, command: Command, key: str, principal: Principal) -> JSONResponse:
    result = container.bus.handle(command, idempotency_key=key, actor=principal.actor)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return JSONResponse(result.body, status_code=result.status, headers=headers)


@router.post("/create-booking", status_code=201, response_model=BookingOut)
def create_booking(
    body: CreateBookingIn, container: ContainerDep, idempotency_key: IdempotencyKey, principal: BookingsWriter
) -> JSONResponse:
    return _send(container, body.to_command(), idempotency_key, principal)


@router.post("/reschedule-booking", response_model=BookingOut)
def reschedule_booking(
    body: RescheduleBookingIn, container: ContainerDep, idempotency_key: IdempotencyKey, principal: BookingsWriter
) -> JSONResponse:
    return _send(container, body.to_command(), idempotency_key, principal)


@router.post("/cancel-booking", response_model=CancelledBookingOut)
def cancel_booking(
    body: CancelBookingIn, container: ContainerDep, idempotency_key: IdempotencyKey, principal: BookingsWriter
) -> JSONResponse:
    return _send(container, body.to_command(), idempotency_key, principal)


@router.post("/update-consent", response_model=ConsentOut)
def update_consent(
    body: UpdateConsentIn, container: ContainerDep, idempotency_key: IdempotencyKey, principal: ConsentWriter
) -> JSONResponse:
    return _send(container, body.to_command(), idempotency_key, principal)
