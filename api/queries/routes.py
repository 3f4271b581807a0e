"""`GET /queries/*`: availability, quotes, bookings and the chefs' schedule, read-only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from api.deps import ContainerDep
from api.errors import error_responses
from api.queries.schemas import AvailabilityOut, BookingFactsOut, QuoteOut, ScheduleOut
from api.security import Principal, Requires
from domain.access import Permission
from domain.errors import DomainError, Forbidden

router = APIRouter(prefix="/queries", tags=["queries"], responses=error_responses(401, 403, 422, 503))

Zip = Annotated[str, Query(min_length=5, max_length=10, examples=["95816"])]
AvailabilityReader = Annotated[Principal, Depends(Requires(Permission.AVAILABILITY_READ))]
BookingsReader = Annotated[Principal, Depends(Requires(Permission.BOOKINGS_READ))]
ScheduleReader = Annotated[Principal, Depends(Requires(Permission.SCHEDULE_READ_OWN))]
MAX_SCHEDULE_DAYS = 92


def parse_upgrades(value: str | None) -> dict[str, int]:
    """`lobster_tail:4,filet_mignon:2` -> {"lobster_tail": 4, "filet_mignon": 2}."""
    chosen: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in (value or "").split(","))):
        code, sep, count = part.partition(":")
        if not sep or not count.strip().isdigit():
            raise DomainError(f"{part!r} is not CODE:GUESTS", field="upgrades")
        chosen[code.strip()] = int(count)
    return chosen


@router.get("/availability", response_model=AvailabilityOut)
def availability(
    date: Annotated[dt.date, Query(examples=["2026-12-12"])], zip: Zip, container: ContainerDep, _: AvailabilityReader
) -> dict[str, Any]:
    return container.queries.availability(date, zip)


@router.get("/quote", response_model=QuoteOut)
def quote(
    adults: Annotated[int, Query(ge=0, le=1000, examples=[12])],
    zip: Zip,
    container: ContainerDep,
    _: AvailabilityReader,
    kids: Annotated[int, Query(ge=0, le=1000)] = 0,
    upgrades: Annotated[str | None, Query(max_length=500, examples=["lobster_tail:4,filet_mignon:2"])] = None,
) -> dict[str, Any]:
    return container.queries.quote(adults, kids, zip, parse_upgrades(upgrades))


@router.get("/bookings/{reference}", response_model=BookingFactsOut, responses=error_responses(404))
def booking(
    reference: Annotated[str, Path(max_length=16, examples=["MH-7Q3K9"])], container: ContainerDep, _: BookingsReader
) -> dict[str, Any]:
    return container.queries.booking(reference)


@router.get("/schedule", response_model=ScheduleOut)
def schedule(
    container: ContainerDep,
    principal: ScheduleReader,
    start: Annotated[dt.date, Query(alias="from")],
    end: Annotated[dt.date, Query(alias="to")],
    chef_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The chefs' events between two dates (at most 92 days). A chef sees only their own."""
    if end < start or (end - start).days > MAX_SCHEDULE_DAYS:
        raise DomainError(f"must be on or after `from` and at most {MAX_SCHEDULE_DAYS} days later", field="to")
    if Permission.SCHEDULE_READ not in principal.permissions:
        if principal.chef_id is None or chef_id not in (None, uuid.UUID(principal.chef_id)):
            raise Forbidden("a chef sees their own schedule only", field="chef_id")
        chef_id = uuid.UUID(principal.chef_id)
    return {"events": container.queries.schedule(start, end, str(chef_id) if chef_id else None)}
