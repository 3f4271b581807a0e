"""Accumulating slots over a conversation: a later value corrects an earlier one, and the party's
total / adults / kids stay consistent."""

from __future__ import annotations

import re
from typing import Any

from agent.schema import Slots

_PARTY = ("party_total", "party_adults", "party_kids")

PartyTriple = tuple[int | None, int | None, int | None]


def reconcile_party(known: PartyTriple, new: PartyTriple) -> PartyTriple:
    """(total, adults, kids) after `new` is said, given `known`. What the new message states wins;
    the rest is kept when it still fits and derived where it can be (kids = total - adults ...)."""
    kt, ka, kk = known
    nt, na, nk = new
    given = sum(v is not None for v in new)
    if given == 0:
        return known
    if na is not None and nk is not None:
        return na + nk, na, nk  # the breakdown is the more specific statement
    if nt is not None and nk is not None:
        return (nt, nt - nk, nk) if nk <= nt else (nt, None, None)
    if nt is not None and na is not None:
        return (nt, na, nt - na) if na <= nt else (nt, None, None)
    if nt is not None:
        if kk is not None and kk <= nt:
            return nt, nt - kk, kk
        if ka is not None and kk is None and ka <= nt:
            return nt, ka, nt - ka
        return nt, None, None
    if nk is not None:
        if kt is not None and nk <= kt:
            return kt, kt - nk, nk
        if ka is not None:
            return ka + nk, ka, nk
        return None, None, nk
    assert na is not None
    if kk is not None:
        return na + kk, na, kk
    if kt is not None and na <= kt:
        return kt, na, kt - na
    return None, na, None


def merge(known: Slots, new: Slots) -> Slots:
    """`known` updated with everything `new` states."""
    data: dict[str, Any] = known.model_dump()
    for name, value in new.model_dump().items():
        if value is None or name in _PARTY or name == "upgrades":
            continue
        data[name] = value
    total, adults, kids = reconcile_party(
        (known.party_total, known.party_adults, known.party_kids),
        (new.party_total, new.party_adults, new.party_kids),
    )
    data.update(party_total=total, party_adults=adults, party_kids=kids)
    if new.zip and new.address is None and known.address and known.zip and new.zip != known.zip:
        # "the zip is 95819, not 95816": the address keeps its street, with the corrected ZIP
        data["address"] = re.sub(rf"(?<!\d){known.zip}(?!\d)", new.zip, known.address)
    if new.upgrades is not None:
        if not new.upgrades:
            data["upgrades"] = {}  # "no upgrades"
        else:
            upgrades = dict(known.upgrades or {})
            for code, count in new.upgrades.items():
                if count > 0:
                    upgrades[code] = count
                else:
                    upgrades.pop(code, None)
            data["upgrades"] = upgrades
    return Slots(**data)
