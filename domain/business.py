"""The business's configuration as the domain sees it: immutable values, already validated.

`hibachi.business_file` parses and validates the YAML into these; the domain never reads files.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import time
from functools import cached_property

# Chef ids derive from their names, so every process (and every test reset) agrees on them
# without reading the database.
CHEF_NAMESPACE = uuid.UUID("5b0f6a3e-2f57-4d0b-9a43-6c1d2a7e9b10")


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
    id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", str(uuid.uuid5(CHEF_NAMESPACE, self.name)))


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

    @cached_property
    def roster(self) -> tuple[tuple[str, int, frozenset[str]], ...]:
        """(chef id, ordinal, zones) of every chef, in the file's order."""
        return tuple((chef.id, ordinal, frozenset(chef.zones)) for ordinal, chef in enumerate(self.chefs))

    @cached_property
    def _chef_names(self) -> dict[str, str]:
        return {chef.id: chef.name for chef in self.chefs}

    def chef_name(self, chef_id: str) -> str:
        return self._chef_names[chef_id]

    def zone(self, zone_id: str) -> Zone:
        for zone in self.zones:
            if zone.id == zone_id:
                return zone
        raise KeyError(zone_id)
