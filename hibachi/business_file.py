"""Loads and validates a business file (YAML) into `domain.business.Business`.

A bad file is refused with the field path and the reason, e.g.
`config/x.yaml: pricing.adult_cents: Input should be greater than or equal to 0`.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.business import (
    Business,
    CalendarRules,
    CancellationRules,
    ChefProfile,
    PartyRules,
    PriceBook,
    Zone,
)

DEFAULT_BUSINESS_FILE = Path(__file__).resolve().parent.parent / "config" / "demo-business.yaml"

Cents = Annotated[int, Field(ge=0, strict=True)]


class BusinessFileError(ValueError):
    pass


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessInfo(_Model):
    name: str = Field(min_length=1)
    timezone: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    phone: str
    email: str

    @field_validator("timezone")
    @classmethod
    def known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class CalendarSection(_Model):
    slots: list[str] = Field(min_length=1)
    event_minutes: int = Field(gt=0, le=24 * 60)
    travel_buffer_minutes: int = Field(ge=0, le=24 * 60)
    chef_max_events_per_day: int = Field(ge=1)
    min_days_ahead: int = Field(ge=0)
    max_days_ahead: int = Field(ge=1)

    @field_validator("slots")
    @classmethod
    def slots_are_times(cls, value: list[str]) -> list[str]:
        for slot in value:
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", slot):
                raise ValueError(f"slot {slot!r} is not a time like 18:00")
        if len(set(value)) != len(value):
            raise ValueError("slots repeat")
        return sorted(value)

    @model_validator(mode="after")
    def window_ordered(self) -> CalendarSection:
        if self.max_days_ahead < self.min_days_ahead:
            raise ValueError("max_days_ahead is before min_days_ahead")
        return self


class PartySection(_Model):
    min_guests: int = Field(ge=1)
    max_guests: int = Field(ge=1)
    kid_max_age: int = Field(ge=0, le=17)

    @model_validator(mode="after")
    def bounds_ordered(self) -> PartySection:
        if self.max_guests < self.min_guests:
            raise ValueError("max_guests is below min_guests")
        return self


class PricingSection(_Model):
    adult_cents: Cents
    kid_cents: Cents
    minimum_cents: Cents
    deposit_cents: Cents
    upgrades: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], Cents] = Field(default_factory=dict)


class ZoneSection(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")
    name: str = Field(min_length=1)
    zip_prefixes: list[Annotated[str, Field(pattern=r"^\d{3}$")]] = Field(min_length=1)
    travel_fee_cents: Cents


class ChefSection(_Model):
    name: str = Field(min_length=1)
    zones: list[str] = Field(min_length=1)


class CancellationSection(_Model):
    refund_min_days_before: int = Field(default=7, ge=0)
    free_reschedules: int = Field(default=1, ge=0)


class BusinessFile(_Model):
    business: BusinessInfo
    calendar: CalendarSection
    party: PartySection
    pricing: PricingSection
    zones: list[ZoneSection] = Field(min_length=1)
    chefs: list[ChefSection] = Field(min_length=1)
    policies: dict[str, str] = Field(default_factory=dict)
    # Not in the demo file: the numbers behind its cancellation policy text, defaulted to match it.
    cancellation: CancellationSection = CancellationSection()

    @model_validator(mode="after")
    def references_resolve(self) -> BusinessFile:
        zone_ids = [zone.id for zone in self.zones]
        if len(set(zone_ids)) != len(zone_ids):
            raise ValueError("zones: zone ids repeat")
        owner: dict[str, str] = {}
        for zone in self.zones:
            for prefix in zone.zip_prefixes:
                if prefix in owner:
                    raise ValueError(f"zones: ZIP prefix {prefix} is in both {owner[prefix]} and {zone.id}")
                owner[prefix] = zone.id
        names = [chef.name for chef in self.chefs]
        if len(set(names)) != len(names):
            raise ValueError("chefs: chef names repeat")
        for i, chef in enumerate(self.chefs):
            for zone_id in chef.zones:
                if zone_id not in zone_ids:
                    raise ValueError(f"chefs.{i}.zones: unknown zone {zone_id!r}")
        return self

    def to_domain(self) -> Business:
        cal, party, pricing = self.calendar, self.party, self.pricing
        return Business(
            name=self.business.name,
            timezone=self.business.timezone,
            currency=self.business.currency,
            phone=self.business.phone,
            email=self.business.email,
            calendar=CalendarRules(
                slots=tuple(time.fromisoformat(s) for s in cal.slots),
                event_minutes=cal.event_minutes,
                travel_buffer_minutes=cal.travel_buffer_minutes,
                chef_max_events_per_day=cal.chef_max_events_per_day,
                min_days_ahead=cal.min_days_ahead,
                max_days_ahead=cal.max_days_ahead,
            ),
            party=PartyRules(party.min_guests, party.max_guests, party.kid_max_age),
            pricing=PriceBook(
                adult_cents=pricing.adult_cents,
                kid_cents=pricing.kid_cents,
                minimum_cents=pricing.minimum_cents,
                deposit_cents=pricing.deposit_cents,
                upgrades=dict(pricing.upgrades),
            ),
            zones=tuple(Zone(z.id, z.name, tuple(z.zip_prefixes), z.travel_fee_cents) for z in self.zones),
            chefs=tuple(ChefProfile(c.name, tuple(c.zones)) for c in self.chefs),
            policies=dict(self.policies),
            cancellation=CancellationRules(
                self.cancellation.refund_min_days_before, self.cancellation.free_reschedules
            ),
        )


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{path}: {item['msg']}")
    return "; ".join(parts)


def parse_business(data: Any, *, source: str = "business file") -> Business:
    try:
        return BusinessFile.model_validate(data).to_domain()
    except ValidationError as error:
        raise BusinessFileError(f"{source}: {_describe(error)}") from None


def load_business(path: Path | str = DEFAULT_BUSINESS_FILE) -> Business:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise BusinessFileError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise BusinessFileError(f"{path}: not valid YAML ({error})") from None
    return parse_business(data, source=str(path))
