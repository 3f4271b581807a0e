"""Service zones come from the first three digits of a 5-digit ZIP code."""

from __future__ import annotations

import re

from domain.business import Business, Zone
from domain.errors import DomainError, OutsideServiceArea

_ZIP = re.compile(r"^\d{5}(-\d{4})?$", re.ASCII)


def normalize_zip(value: str, *, field: str = "zip") -> str:
    zip_code = value.strip()
    if not _ZIP.match(zip_code):
        raise DomainError("must be a 5-digit US ZIP code", field=field)
    return zip_code[:5]


def zone_for_zip(business: Business, zip_code: str, *, field: str = "zip") -> Zone:
    """The zone serving this ZIP, or `OutsideServiceArea` naming the field."""
    normalized = normalize_zip(zip_code, field=field)
    for zone in business.zones:
        if normalized[:3] in zone.zip_prefixes:
            return zone
    raise OutsideServiceArea(f"ZIP {normalized} is outside the service area", field=field)


_TRAILING_ZIP = re.compile(r"\b(\d{5})(?:-\d{4})?\s*(?:,?\s*(?:USA?|United States))?\s*$", re.IGNORECASE | re.ASCII)


def zip_from_address(address: str) -> str | None:
    """The ZIP at the end of a US street address ("..., CA 95816"), if there is one."""
    match = _TRAILING_ZIP.search(address.strip())
    return match.group(1) if match else None
