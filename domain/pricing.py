"""The price book, exactly as the business file states it.

total_due = max(food + upgrades, minimum) + the zone's travel fee; the deposit is fixed and
never more than the total. Upgrades are priced per guest who takes one, so an upgrade's count
can be at most the number of guests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from domain.business import PriceBook, Zone
from domain.errors import DomainError


@dataclass(frozen=True)
class Party:
    adults: int
    kids: int

    @property
    def guests(self) -> int:
        return self.adults + self.kids


@dataclass(frozen=True)
class Quote:
    food_cents: int
    upgrades_cents: int
    minimum_cents: int
    minimum_applied: bool
    travel_fee_cents: int
    total_due_cents: int
    deposit_due_cents: int
    upgrade_lines: tuple[tuple[str, int, int], ...]  # (code, count, unit cents)


def validate_upgrades(price_book: PriceBook, upgrades: Mapping[str, int], party: Party) -> dict[str, int]:
    """Known codes only, each count 0..guests; zero counts are dropped."""
    clean: dict[str, int] = {}
    for code, count in upgrades.items():
        if code not in price_book.upgrades:
            known = ", ".join(sorted(price_book.upgrades))
            raise DomainError(f"unknown upgrade {code!r}; offered: {known}", field=f"upgrades.{code}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise DomainError("must be a whole number of guests, 0 or more", field=f"upgrades.{code}")
        if count > party.guests:
            raise DomainError(f"{count} guests cannot take it in a party of {party.guests}", field=f"upgrades.{code}")
        if count:
            clean[code] = count
    return clean


def quote(price_book: PriceBook, zone: Zone, party: Party, upgrades: Mapping[str, int]) -> Quote:
    if party.adults < 0:
        raise DomainError("must be 0 or more", field="party.adults")
    if party.kids < 0:
        raise DomainError("must be 0 or more", field="party.kids")
    chosen = validate_upgrades(price_book, upgrades, party)
    lines = tuple((code, count, price_book.upgrades[code]) for code, count in sorted(chosen.items()))
    food = party.adults * price_book.adult_cents + party.kids * price_book.kid_cents
    extras = sum(count * unit for _, count, unit in lines)
    subtotal = max(food + extras, price_book.minimum_cents)
    total = subtotal + zone.travel_fee_cents
    return Quote(
        food_cents=food,
        upgrades_cents=extras,
        minimum_cents=price_book.minimum_cents,
        minimum_applied=food + extras < price_book.minimum_cents,
        travel_fee_cents=zone.travel_fee_cents,
        total_due_cents=total,
        deposit_due_cents=min(price_book.deposit_cents, total),
        upgrade_lines=lines,
    )
