"""What the query endpoints answer (the documented shape; FastAPI checks each answer against it)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from api.commands.schemas import PartyOut


class ZoneOut(BaseModel):
    id: str
    name: str
    travel_fee_cents: int


class SlotOut(BaseModel):
    slot: str = Field(examples=["18:00"])
    available: bool
    chefs_free: int


class AvailabilityOut(BaseModel):
    date: dt.date
    zip: str
    zone: ZoneOut
    slots: list[SlotOut]


class UpgradeLineOut(BaseModel):
    code: str
    guests: int
    unit_cents: int
    cents: int


class QuoteOut(BaseModel):
    zone: str
    party: PartyOut
    food_cents: int
    upgrades: list[UpgradeLineOut]
    upgrades_cents: int
    minimum_cents: int
    minimum_applied: bool
    travel_fee_cents: int
    total_due_cents: int
    deposit_due_cents: int
    total_due: str
    deposit_due: str


class BookingFactsOut(BaseModel):
    """A booking's non-personal facts."""

    reference: str
    status: str
    date: dt.date
    slot: str
    zone: str
    party: PartyOut
    total_due_cents: int
    deposit_due_cents: int
    deposit_paid_cents: int
    total_due: str
    deposit_due: str
    chef_name: str
    upgrades: dict[str, int]


class ScheduledEventOut(BaseModel):
    reference: str
    chef_id: str
    chef_name: str
    date: dt.date
    slot: str
    zone: str
    guests: int
    status: str


class ScheduleOut(BaseModel):
    events: list[ScheduledEventOut]
