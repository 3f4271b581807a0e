"""Puts the business file's zones and chefs into the database (on start-up and `hibachi load-business`).

A chef's id derives from the name (`ChefProfile.id`); a chef no longer in the file is deactivated,
never deleted, so their past bookings keep pointing at them.
"""

from __future__ import annotations

from sqlalchemy import Connection, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db.tables import chefs, zones
from domain.business import Business


def sync_business(conn: Connection, business: Business) -> None:
    for zone in business.zones:
        values = {
            "name": zone.name,
            "zip_prefixes": list(zone.zip_prefixes),
            "travel_fee_cents": zone.travel_fee_cents,
        }
        conn.execute(
            pg_insert(zones).values(id=zone.id, **values).on_conflict_do_update(index_elements=["id"], set_=values)
        )
    names = []
    for ordinal, chef in enumerate(business.chefs):
        names.append(chef.name)
        values = {"ordinal": ordinal, "zones": list(chef.zones), "active": True}
        conn.execute(
            pg_insert(chefs)
            .values(id=chef.id, name=chef.name, **values)
            .on_conflict_do_update(index_elements=["id"], set_=values)
        )
    conn.execute(update(chefs).where(chefs.c.name.not_in(names)).values(active=False))
