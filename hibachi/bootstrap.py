"""The composition root: builds the engine, unit of work, bus, queries and outbox dispatcher from
settings. The app, the CLI, the tests and the benchmarks all wire through here."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from agent.engines import RULES, Phraser, TemplatePhraser, Understander
from automation.journeys import Journey
from automation.runner import JourneyRunner, start_runs
from db.engine import make_engine
from db.envelope import DataKeyStore
from db.pii import BlindIndex, FieldCipher
from db.uow import UnitOfWork
from domain.business import Business
from domain.clock import Clock, SystemClock
from domain.events import DomainEvent
from integrations.email import SmtpConfig, SmtpMailer
from integrations.google import CalendarApi, GoogleConfig
from integrations.logging_targets import log_only
from integrations.ringcentral import RingCentralConfig, RingCentralSms
from integrations.stripe import StripeConfig, StripePayments
from services import handlers
from services.bus import MessageBus
from services.chef_calendars import ChefCalendars
from services.context import ServiceContext
from services.email import BookingEmails
from services.outbox_dispatcher import RETRY_BASE, RETRY_MAX, OutboxDispatcher, Target
from services.queries import Queries
from services.sms import SmsSender
from services.tokens import TokenIssuer

if TYPE_CHECKING:  # the graph imports this module: only the type here, the runtime lazily below
    from services.conversations import AgentRuntime

LOGGING_TARGETS: dict[str, Target] = {
    name: log_only
    for name in (
        handlers.DEPOSIT_LINK,
        handlers.REFUND_DEPOSIT,
        handlers.NOTIFY_CONFIRMED,
        handlers.NOTIFY_RESCHEDULED,
        handlers.NOTIFY_CANCELLED,
        handlers.SEND_SMS,
        handlers.NOTIFY_STAFF_HANDOFF,
        handlers.NOTIFY_PAYMENT_LINK,
        handlers.NOTIFY_RECEIPT,
        handlers.NOTIFY_REMINDER,
        handlers.CALENDAR_EVENT,
    )
}


SMS_TARGETS = (handlers.SEND_SMS, handlers.NOTIFY_PAYMENT_LINK)  # the outbox targets that text a customer

TEMPLATES = TemplatePhraser()


@dataclass
class Container:
    engine: Engine
    business: Business
    cipher: FieldCipher
    blind: BlindIndex
    clock: Clock
    bus: MessageBus
    queries: Queries
    dispatcher: OutboxDispatcher
    outbox_max_attempts: int
    tokens: TokenIssuer  # service access tokens (client credentials, `hibachi token create`)
    understander: Understander = RULES  # the agent's understanding engine (AGENT_ENGINE)
    phraser: Phraser = TEMPLATES  # how replies are worded on the way out (LLM_PHRASE_REPLIES)
    stripe: StripeConfig | None = None  # deposit links and their webhooks; None: the logging targets
    ringcentral: RingCentralSms | None = None  # the SMS transport and its webhook; None: the logging targets
    calendars: ChefCalendars | None = None  # chefs' Google calendars; None: bookings are only logged
    journeys: JourneyRunner | None = None  # the follow-up journeys; None: none run (tests, evals)
    on_publish: Callable[[UnitOfWork, Sequence[DomainEvent], datetime], object] | None = None
    _agent: AgentRuntime | None = field(default=None, repr=False)
    _agent_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(
            self.engine,
            self.cipher,
            self.blind,
            self.business,
            outbox_max_attempts=self.outbox_max_attempts,
            on_publish=self.on_publish,
        )

    def agent(self) -> AgentRuntime:
        """The process's agent runtime (the checkpointed graph, its pool, the thread-lock pool), made
        on first use: the commands-only paths and the benchmarks never open it."""
        with self._agent_lock:
            if self._agent is None:
                from services.conversations import AgentRuntime

                self._agent = AgentRuntime(self.engine.url.render_as_string(hide_password=False), self.cipher)
            return self._agent

    def close_agent(self) -> None:
        """Close the agent runtime's pools (app shutdown); a later use opens them again."""
        with self._agent_lock:
            agent, self._agent = self._agent, None
        if agent is not None:
            agent.close()


def bootstrap(
    *,
    database_url: str,
    business: Business,
    cipher: FieldCipher,
    blind: BlindIndex,
    clock: Clock | None = None,
    targets: Mapping[str, Target] | None = None,
    outbox_max_attempts: int = 8,
    outbox_retry_base: timedelta = RETRY_BASE,
    outbox_retry_max: timedelta = RETRY_MAX,
    pool_size: int = 20,
    context: ServiceContext | None = None,
    understander: Understander = RULES,
    phraser: Phraser | None = None,
    token_key: bytes | None = None,
    stripe: StripeConfig | None = None,
    email: SmtpConfig | None = None,
    ringcentral: RingCentralConfig | None = None,
    google: GoogleConfig | None = None,
    journeys: Sequence[Journey] = (),
) -> Container:
    """`token_key` signs service access tokens; None makes a random one (tokens then live as long
    as this process: tests, evals, benchmarks)."""
    engine = make_engine(database_url, pool_size=pool_size)
    clock = clock or SystemClock()
    # Envelope encryption: customers' and threads' data under their own keys, wrapped by the master.
    cipher = replace(cipher.master(), data_keys=DataKeyStore(engine, cipher))

    def start_journeys(uow: UnitOfWork, events: Sequence[DomainEvent], at: datetime) -> None:
        start_runs(uow, journeys, events, at)

    on_publish = start_journeys if journeys else None

    def uow_factory() -> UnitOfWork:
        return UnitOfWork(
            engine, cipher, blind, business, outbox_max_attempts=outbox_max_attempts, on_publish=on_publish
        )

    context = context or ServiceContext(business=business, clock=clock)
    chosen = dict(targets or LOGGING_TARGETS)
    queries = Queries(uow_factory, context)
    if stripe is not None:
        # Stripe makes the deposit links and refunds; the other messages keep what was chosen.
        chosen |= StripePayments(stripe, uow_factory, clock).targets(handlers.DEPOSIT_LINK, handlers.REFUND_DEPOSIT)
        queries.deposit_link_wait_seconds = 8.0
    if email is not None:  # booking emails over SMTP; otherwise they keep what was chosen (logged)
        mailer = BookingEmails(
            uow_factory,
            business,
            SmtpMailer(email),
            clock,
            sender=email.sender,
            deposit_link=lambda reference: queries.deposit_link(reference, wait=False),
        )
        chosen |= mailer.targets()
    sms_transport = None
    if ringcentral is not None:
        # RingCentral sends the texts; still behind the gate below, like any transport.
        sms_transport = RingCentralSms(ringcentral, uow_factory, clock)
        chosen |= sms_transport.targets(*SMS_TARGETS)
    calendars = None
    if google is not None:
        calendars = ChefCalendars(google, CalendarApi(google), uow_factory, business, clock)
        chosen |= calendars.targets()
    # Every text leaves through the SMS sender's send-time check, whatever transport is wired.
    sms_sender = SmsSender(uow_factory, clock, business.timezone)
    for name in SMS_TARGETS:
        if name in chosen:
            chosen[name] = sms_sender.gate(chosen[name])
    return Container(
        engine=engine,
        business=business,
        cipher=cipher,
        blind=blind,
        clock=clock,
        bus=MessageBus(uow_factory, context),
        queries=queries,
        dispatcher=OutboxDispatcher(
            uow_factory, chosen, clock, base_delay=outbox_retry_base, max_delay=outbox_retry_max
        ),
        outbox_max_attempts=outbox_max_attempts,
        tokens=TokenIssuer(token_key or secrets.token_bytes(32), clock),
        understander=understander,
        phraser=phraser or TEMPLATES,
        stripe=stripe,
        ringcentral=sms_transport,
        calendars=calendars,
        journeys=JourneyRunner(uow_factory, context, journeys, handlers) if journeys else None,
        on_publish=on_publish,
    )
