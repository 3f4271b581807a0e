"""The world a conversation case runs in: a scratch database of its own, the real container (bus,
queries, graph, checkpointer) on it, emptied before every case, and the case's fixtures made
through the real command path.

The scratch database (`hibachi_evals_<pid>_<random>`) lives on the first server named by
EVALS_DATABASE_URL, TEST_DATABASE_URL or DATABASE_URL (any database on it; the runner creates its
own and drops it at the end), else on the embedded Postgres under `.data/` that `make run` uses. A
run never touches the app's own database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import make_url

from agent.engines import Phraser, Understander
from db.embedded import drop_database, ensure_database, start_embedded
from db.migrate import upgrade
from db.pii import BlindIndex, FieldCipher, decode_key, new_key
from db.tables import SCHEMAS, metadata
from domain import availability
from domain.business import Business
from domain.clock import FixedClock
from domain.commands import BookingRequest, CreateBooking, CustomerDetails
from domain.errors import SlotUnavailable
from hibachi.bootstrap import Container, bootstrap
from hibachi.settings import PROJECT_ROOT
from services.business_sync import sync_business
from services.queries import Queries

from .cases import ConversationCase, FixtureBooking

SERVER_SETTINGS = ("EVALS_DATABASE_URL", "TEST_DATABASE_URL", "DATABASE_URL")
# The LangGraph checkpointer's bookkeeping of its own migrations survives a reset.
KEEP_TABLES = frozenset({"agent.checkpoint_migrations"})


class RecordingQueries(Queries):
    """The real queries, noting every price the pricing service produced (the dollar-amount policy
    check allows exactly those, plus the business file's own amounts)."""

    def __init__(self, queries: Queries) -> None:
        super().__init__(queries.uow_factory, queries.context)
        self.quotes: list[dict[str, Any]] = []

    def quote(self, adults: int, kids: int, zip_code: str, upgrades: Any) -> dict[str, Any]:
        result = super().quote(adults, kids, zip_code, upgrades)
        self.quotes.append(result)
        return result


def server_url() -> str:
    """An admin URL of the server the scratch database goes on (see the module docstring)."""
    for name in SERVER_SETTINGS:
        value = os.environ.get(name)
        if value:
            return make_url(value).set(database="postgres").render_as_string(hide_password=False)
    return start_embedded(PROJECT_ROOT / ".data")


def empty_world(container: Container) -> None:
    """Every table emptied (checkpoints too), then the business's zones and chefs loaded again."""
    with container.engine.begin() as conn:
        names = [f"{t.schema}.{t.name}" for t in metadata.sorted_tables if t.schema in SCHEMAS]
        names += [
            f"agent.{name}"
            for name in conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'agent'")
            ).scalars()
            if f"agent.{name}" not in KEEP_TABLES
        ]
        conn.execute(text(f"TRUNCATE {', '.join(names)} CASCADE"))
        sync_business(conn, container.business)


class World:
    """One scratch database and one container for the whole run; `begin(case)` empties it for a case."""

    def __init__(
        self, business: Business, *, understander: Understander, phraser: Phraser, admin_url: str | None = None
    ) -> None:
        self.business = business
        self.clock = FixedClock(datetime(2000, 1, 1, tzinfo=ZoneInfo(business.timezone)))
        self.admin_url = admin_url or server_url()
        self.database = f"hibachi_evals_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        url = ensure_database(self.admin_url, self.database)
        try:
            upgrade(url)
            # Keys of its own: nothing of a run is readable after it, and no key setting is needed.
            self.container = bootstrap(
                database_url=url,
                business=business,
                cipher=FieldCipher({"evals": decode_key(new_key(), name="k")}, "evals"),
                blind=BlindIndex(decode_key(new_key(), name="b")),
                clock=self.clock,
                understander=understander,
                phraser=phraser,
            )
        except BaseException:
            drop_database(self.admin_url, self.database)
            raise
        self.queries = RecordingQueries(self.container.queries)
        self.container.queries = self.queries

    def close(self) -> None:
        self.container.close_agent()
        self.container.engine.dispose()
        drop_database(self.admin_url, self.database)

    def local_now(self, case_now: datetime) -> datetime:
        """The case's clock; a naive `now` is read in the business's time zone."""
        return case_now if case_now.tzinfo else case_now.replace(tzinfo=ZoneInfo(self.business.timezone))

    def begin(self, case: ConversationCase) -> dict[str, str]:
        """Empty the world, make the case's fixtures, set the clock to the case's `now`. Returns the
        fixture bookings' real references by alias (and by index, `#0`, `#1`...)."""
        empty_world(self.container)
        self.queries.quotes.clear()
        now = self.local_now(case.now)
        references: dict[str, str] = {}
        for index, booking in enumerate(case.fixtures.bookings):
            reference = self._fixture_booking(booking, now)
            references[f"#{index}"] = reference
            if booking.ref_alias:
                references[booking.ref_alias] = reference
        for full in case.fixtures.full_slots:
            self._fill_slot(full.date.isoformat(), full.slot, now)
        self.clock.current = now
        self.queries.quotes.clear()  # fixtures' prices are in their booking rows
        return references

    @contextmanager
    def _booked_earlier(self, day: str, now: datetime) -> Iterator[None]:
        """Fixtures are bookings made before the case starts: made at `now`, or, for a date inside
        the lead time, on the last day it could have been booked."""
        rules = self.business.calendar
        event_day = datetime.fromisoformat(day).date()
        today = availability.local_today(now, self.business.timezone)
        at = now
        if (event_day - today).days < rules.min_days_ahead:
            earlier = event_day - timedelta(days=rules.min_days_ahead)
            at = datetime.combine(earlier, time(9, 0), tzinfo=ZoneInfo(self.business.timezone))
        self.clock.current = at
        yield

    def _fixture_booking(self, booking: FixtureBooking, now: datetime) -> str:
        person = booking.customer
        command = CreateBooking(
            source="staff",
            customer=CustomerDetails(
                person.first_name or "", person.last_name or "", person.email, person.phone, booking.consent_sms
            ),
            booking=BookingRequest(
                date=booking.date,
                slot=booking.slot,
                address=booking.address,
                zip=booking.zip,
                adults=booking.party_adults,
                kids=booking.party_kids,
                upgrades=dict(booking.upgrades),
            ),
        )
        with self._booked_earlier(booking.date.isoformat(), now):
            return str(self.container.bus.handle(command).body["reference"])

    def _fill_slot(self, day: str, slot: str, now: datetime) -> None:
        """Book every chef who could serve (date, slot), zone by zone, with placeholder customers."""
        with self._booked_earlier(day, now):
            for zone in self.business.zones:
                zip_code = f"{zone.zip_prefixes[0]}01"
                for _ in range(len(self.business.chefs) + 1):
                    filler = uuid.uuid4().hex[:10]
                    command = CreateBooking(
                        source="staff",
                        customer=CustomerDetails("Fixture", "Guest", f"fixture-{filler}@example.invalid"),
                        booking=BookingRequest(
                            date=datetime.fromisoformat(day).date(),
                            slot=slot,
                            address=f"1 Fixture Way, {zip_code}",
                            zip=zip_code,
                            adults=10,
                        ),
                    )
                    try:
                        self.container.bus.handle(command)
                    except SlotUnavailable:
                        break
