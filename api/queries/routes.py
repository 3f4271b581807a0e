"""`GET /queries/*`: availability, quotes and bookings, read-only."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import ContainerDep
from domain.errors import DomainError

router = APIRouter(prefix="/queries", tags=["queries"])

Zip = Annotated[str, Query(min_length=5, max_length=10, examples=["95816"])]


def parse_upgrades(value: str | None) -> dict[str, int]:
    """`lobster_tail:4,filet_mignon:2` -> {"lobster_tail": 4, "filet_mignon": 2}."""
    chosen: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in (value or "").split(","))):
        code, sep, count = part.partition(":")
        if not sep or not count.strip().isdigit():
            raise DomainError(f"{part!r} is not CODE:GUESTS", field="upgrades")
        chosen[code.strip()] = int(count)
    return chosen


@router.get("/availability")
def availability(date: dt.date, zip: Zip, container: ContainerDep) -> dict[str, Any]:
    return container.queries.availability(date, zip)


@router.get("/quote")
def quote(
    adults: Annotated[int, Query(ge=0, le=1000)],
    zip: Zip,
    container: ContainerDep,
    kids: Annotated[int, Query(ge=0, le=1000)] = 0,
    upgrades: Annotated[str | None, Query(max_length=500, examples=["lobster_tail:4,filet_mignon:2"])] = None,
) -> dict[str, Any]:
    return container.queries.quote(adults, kids, zip, parse_upgrades(upgrades))


@router.get("/bookings/{reference}")
def booking(reference: Annotated[str, Path(max_length=16)], container: ContainerDep) -> dict[str, Any]:
    return container.queries.booking(reference)
