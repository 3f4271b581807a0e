"""The webhook subscription (`hibachi ringcentral subscribe`): RingCentral's expire (7 days at most),
so the stored one is renewed; a new one is made when none is stored, the address changed, or
RingCentral no longer knows it. Housekeeping renews the stored one when it has under
RENEW_WITHIN left (`renew_if_due`, hourly), so only the first `subscribe` is by hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db.tables import webhook_subscriptions
from db.uow import UnitOfWork
from domain.clock import Clock
from integrations.ringcentral.client import RingCentralClient, RingCentralError

PROVIDER = "ringcentral"
RENEW_WITHIN = timedelta(days=2)


@dataclass(frozen=True)
class Subscribed:
    action: str  # created | renewed
    subscription_id: str
    expires_at: datetime | None


def _expires(answer: dict[str, Any]) -> datetime | None:
    value = answer.get("expirationTime")
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def subscribe(
    uow_factory: Callable[[], UnitOfWork], client: RingCentralClient, address: str, clock: Clock
) -> Subscribed:
    with uow_factory() as uow:
        stored = uow.conn.execute(
            select(webhook_subscriptions).where(webhook_subscriptions.c.provider == PROVIDER)
        ).first()
    answer: dict[str, Any] | None = None
    if stored is not None and stored.address == address:
        try:
            answer, action = client.renew_subscription(stored.subscription_id), "renewed"
        except RingCentralError as error:
            if error.status != 404:
                raise
    if answer is None:  # none stored, moved, or gone at RingCentral
        answer, action = client.create_subscription(address), "created"
    result = Subscribed(action, str(answer["id"]), _expires(answer))
    values = {
        "subscription_id": result.subscription_id,
        "address": address,
        "expires_at": result.expires_at,
        "updated_at": clock.now(),
    }
    with uow_factory() as uow:
        uow.conn.execute(
            pg_insert(webhook_subscriptions)
            .values(provider=PROVIDER, **values)
            .on_conflict_do_update(index_elements=["provider"], set_=values)
        )
        uow.commit()
    return result


def renew_if_due(uow_factory: Callable[[], UnitOfWork], client: RingCentralClient, clock: Clock) -> Subscribed | None:
    """Renew the stored subscription when it runs out within RENEW_WITHIN; None when none is stored
    or it has time left."""
    with uow_factory() as uow:
        stored = uow.conn.execute(
            select(webhook_subscriptions).where(webhook_subscriptions.c.provider == PROVIDER)
        ).first()
    if stored is None or (stored.expires_at is not None and stored.expires_at - clock.now() > RENEW_WITHIN):
        return None
    return subscribe(uow_factory, client, stored.address, clock)
