"""Driving the agent graph in tests: a conversation on one thread, and what the database holds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select

from db.tables import booking_upgrades, bookings, consents, customers
from graph.checkpoint import CompiledGraph
from graph.context import Context
from graph.turns import config_for, resume, run_turn, waiting_for_staff
from hibachi.bootstrap import Container


@dataclass
class Chat:
    agent: CompiledGraph
    container: Container
    channel: Literal["web", "sms"] = "web"
    phone: str | None = None
    thread_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    replies: list[str | None] = field(default_factory=list)

    @property
    def context(self) -> Context:
        return Context(self.container, self.thread_id, self.channel, customer_phone=self.phone)

    def say(self, text: str) -> str | None:
        answer = run_turn(self.agent, self.context, text)
        self.replies.append(answer)
        return answer

    def resume(self, value: Any = None) -> str | None:
        return resume(self.agent, self.context, value)

    @property
    def state(self) -> dict[str, Any]:
        return dict(self.agent.get_state(config_for(self.context)).values)

    @property
    def waiting(self) -> dict[str, Any] | None:
        return waiting_for_staff(self.agent, self.context)

    def said(self, text: str) -> bool:
        return any(reply is not None and text.lower() in reply.lower() for reply in self.replies)


def all_bookings(container: Container) -> list[dict[str, Any]]:
    """Every booking row with its upgrades and its (decrypted) customer."""
    with container.engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(select(bookings).order_by(bookings.c.created_at))]
        for row in rows:
            row["upgrades"] = {
                r.code: r.guests
                for r in conn.execute(select(booking_upgrades).where(booking_upgrades.c.booking_id == row["id"]))
            }
    with container.uow() as uow:
        for row in rows:
            customer = uow.customers.get(row["customer_id"])
            assert customer is not None
            row["customer"] = customer
    return rows


def consent_rows(container: Container) -> list[dict[str, Any]]:
    with container.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(consents).order_by(consents.c.recorded_at))]


def customer_consent_sms(container: Container, customer_id: str) -> bool:
    with container.engine.connect() as conn:
        return bool(conn.execute(select(customers.c.consent_sms).where(customers.c.id == customer_id)).scalar_one())
