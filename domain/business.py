"""The business's configuration as the domain sees it: immutable values, already validated.

`hibachi.business_file` parses and validates the YAML into these; the domain never reads files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time


@dataclass(frozen=True)
class Zone:
    id: str
    name: str
    zip_prefixes: tuple[str, ...]
    travel_fee_cents: int


@dataclass(frozen=True)
class ChefProfile:
    name: str
    zones: tuple[str, ...]


@dataclass(frozen=True)
class CalendarRules:
    slots: tuple[time, ...]
    event_minutes: int
    travel_buffer_minutes: int
    chef_max_events_per_day: int
    min_days_ahead: int
    max_days_ahead: int


@dataclass(frozen=True)
class PartyRules:
    min_guests: int
    max_guests: int
    kid_max_age: int


@dataclass(frozen=True)
class PriceBook:
    adult_cents: int
    kid_cents: int
    minimum_cents: int
    deposit_cents: int
    upgrades: dict[str, int]


@dataclass(frozen=True)
class CancellationRules:
    refund_min_days_before: int = 7
    free_reschedules: int = 1


@dataclass(frozen=True)
class Business:
    name: str
    timezone: str
    currency: str
    phone: str
    email: str
    calendar: CalendarRules
    party: PartyRules
    pricing: PriceBook
    zones: tuple[Zone, ...]
    chefs: tuple[ChefProfile, ...]
    policies: dict[str, str] = field(default_factory=dict)
    cancellation: CancellationRules = CancellationRules()

    def zone(self, zone_id: str) -> Zone:
        for zone in self.zones:
            if zone.id == zone_id:
                return zone
        raise KeyError(zone_id)
