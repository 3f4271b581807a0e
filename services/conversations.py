"""The one channel-neutral inbound path: every channel (web widget, SMS, the terminal chat) stores
the customer's message, runs the thread's turn under the thread's lock and stores the reply here.

1. `ReceiveMessage` stores the message in its own transaction (a repeated provider message id stops
   here: its turn ran or runs for the first delivery).
2. The turn runs under a per-thread Postgres advisory lock, on a connection of its own. Under the
   lock, every stored customer message of the thread whose turn has not run is taken in store order
   (`messages.seq`), so two quick messages are answered in the order they were stored even when the
   second request reaches the lock first; never concurrently.
3. A thread in human mode gets no turn. Otherwise the graph runs; its reply is stored with
   `RecordReply`, which re-checks the mode under the thread's row lock: a takeover mid-turn wins
   (nothing stored, nothing sent). If the graph now waits for staff (the handoff interrupt), the
   reply ("someone will follow up") is stored first, then `HandOffThread` puts the thread in human
   mode.

SMS replies leave through the outbox (`sms.send_message`, written with the reply); a web reply is
the HTTP response.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from psycopg import Connection
from psycopg_pool import ConnectionPool

from db.engine import libpq_url
from db.pii import FieldCipher
from db.threads import thread_lock_key
from domain.cards import CARD_MARKER, redact_card_numbers
from domain.commands import HandBackThread, HandOffThread, ReceiveMessage, RecordReply, UpdateConsent
from domain.contact import normalize_phone

if TYPE_CHECKING:
    from db.threads import StoredMessage
    from graph.checkpoint import CompiledGraph
    from hibachi.bootstrap import Container

Channel = Literal["web", "sms"]

LOCK_THREAD = "SELECT pg_advisory_lock(hashtextextended(%s, 0))"
UNLOCK_THREAD = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"


class AgentRuntime:
    """One per process: the graph compiled with the Postgres checkpointer (its own pool) and a pool
    of plain autocommit connections that hold thread locks. Waiting for a thread's lock holds a
    lock-pool connection only, so waiters can never starve the turns they wait for of connections."""

    def __init__(
        self, database_url: str, cipher: FieldCipher, *, graph_pool_size: int = 10, lock_pool_size: int = 20
    ) -> None:
        self.database_url = database_url
        self.cipher = cipher
        self.graph_pool_size = graph_pool_size
        self.lock_pool_size = lock_pool_size
        self._graph: CompiledGraph | None = None
        self._graph_pool: ConnectionPool[Any] | None = None
        self._locks: ConnectionPool[Connection[Any]] | None = None
        self._mutex = threading.Lock()

    def graph(self) -> CompiledGraph:
        with self._mutex:
            if self._graph is None:
                from graph.checkpoint import compile_graph, open_pool

                self._graph_pool = open_pool(self.database_url, max_size=self.graph_pool_size)
                self._graph = compile_graph(self._graph_pool, self.cipher)
            return self._graph

    def lock_pool(self) -> ConnectionPool[Connection[Any]]:
        with self._mutex:
            if self._locks is None:
                self._locks = ConnectionPool(
                    libpq_url(self.database_url),
                    kwargs={"autocommit": True},
                    min_size=1,
                    max_size=self.lock_pool_size,
                    max_idle=300,
                    max_lifetime=1800,
                    # A connection goes back to the pool holding no lock, whatever happened.
                    reset=_unlock_all,
                    check=ConnectionPool.check_connection,  # none left dead by a Postgres restart
                    open=True,
                )
            return self._locks

    def close(self) -> None:
        with self._mutex:
            for pool in (self._graph_pool, self._locks):
                if pool is not None:
                    pool.close()
            self._graph, self._graph_pool, self._locks = None, None, None


def _unlock_all(conn: Connection[Any]) -> None:
    conn.execute("SELECT pg_advisory_unlock_all()")


@contextmanager
def thread_lock(container: Container, thread_id: str) -> Iterator[None]:
    """Hold the thread's advisory lock (session level, on a dedicated connection) for the block."""
    key = thread_lock_key(thread_id)
    with container.agent().lock_pool().connection() as conn:
        conn.execute(LOCK_THREAD, (key,))
        try:
            yield
        finally:
            try:
                conn.execute(UNLOCK_THREAD, (key,))
            except Exception:
                conn.close()  # a broken connection holds no lock; the pool drops it
                raise


@dataclass(frozen=True)
class Inbound:
    thread_id: str
    message_id: str
    reply: str | None  # the agent's answer to this message; None when it stays silent
    duplicate: bool = False  # the provider's message id was seen before: no turn ran for it now
    mode: str = "ai"  # the thread's mode afterwards
    reply_seq: int | None = None  # the reply's place in the thread (messages.seq)


@dataclass(frozen=True)
class Stored:
    """A customer's message as `store_inbound` left it (`answer_inbound` takes it from here)."""

    thread_id: str
    message_id: str
    seq: int
    duplicate: bool  # the provider's message id was seen before: nothing stored now


def handle_inbound(
    container: Container,
    *,
    channel: Channel,
    contact: str,
    text: str,
    provider: str | None = None,
    provider_message_id: str | None = None,
    email: str | None = None,
    graph: CompiledGraph | None = None,
    client_ip: str | None = None,
    page: str | None = None,
) -> Inbound:
    """Store a customer's message and answer it (see the module docstring). `contact` is the sender's
    phone for sms, the widget's session id for web. `graph` defaults to the process's checkpointed
    graph (`container.agent()`). `client_ip` and `page` (web) are where the message came from: kept
    in the consent ledger if the customer opts in or out in it.

    Card numbers are removed from `text` first, before anything stores, logs, checkpoints or shows
    it (domain.cards); the turn's reply then says we never take cards by text."""
    stored = store_inbound(
        container,
        channel=channel,
        contact=contact,
        text=text,
        provider=provider,
        provider_message_id=provider_message_id,
        email=email,
    )
    return answer_inbound(
        container, stored, channel=channel, contact=contact, email=email, graph=graph, client_ip=client_ip, page=page
    )


def store_inbound(
    container: Container,
    *,
    channel: Channel,
    contact: str,
    text: str,
    provider: str | None = None,
    provider_message_id: str | None = None,
    email: str | None = None,
) -> Stored:
    """Step 1 alone (card numbers removed first): for a webhook that answers once the message is
    stored and runs `answer_inbound` after its response."""
    text, _ = redact_card_numbers(text)
    received = container.bus.handle(ReceiveMessage(channel, contact, text, provider, provider_message_id, email)).body
    return Stored(received["thread_id"], received["message_id"], received["seq"], bool(received["duplicate"]))


def answer_inbound(
    container: Container,
    stored: Stored,
    *,
    channel: Channel,
    contact: str,
    email: str | None = None,
    graph: CompiledGraph | None = None,
    client_ip: str | None = None,
    page: str | None = None,
) -> Inbound:
    """Steps 2 and 3 for a stored message (a duplicate only reports what its first delivery got)."""
    thread_id, message_id = stored.thread_id, stored.message_id
    if stored.duplicate:
        reply, mode, seq = _reply_and_mode(container, thread_id, message_id)
        return Inbound(thread_id, message_id, reply, duplicate=True, mode=mode, reply_seq=seq)
    compiled = graph if graph is not None else container.agent().graph()
    phone = normalize_phone(contact) if channel == "sms" else None
    with thread_lock(container, thread_id):
        with container.uow() as uow:
            waiting = uow.threads.waiting(thread_id, up_to_seq=stored.seq)
        for message in waiting:
            # Only this request's own message came from this IP and page.
            origin = (client_ip, page) if message.id == message_id else (None, None)
            _turn(container, compiled, message, channel, phone, email, origin)
        reply, mode, seq = _reply_and_mode(container, thread_id, message_id)
    return Inbound(thread_id, message_id, reply, mode=mode, reply_seq=seq)


def receive_sms(
    container: Container,
    phone: str,
    text: str,
    provider_message_id: str,
    *,
    provider: str = "sms-test",
    graph: CompiledGraph | None = None,
) -> Inbound:
    """An inbound text, as the RingCentral webhook delivers it (the tests' way in, with no provider)."""
    return handle_inbound(
        container,
        channel="sms",
        contact=phone,
        text=text,
        provider=provider,
        provider_message_id=provider_message_id,
        graph=graph,
    )


def hand_back(
    container: Container, thread_id: str, *, by: str = "staff", graph: CompiledGraph | None = None
) -> str | None:
    """Staff return the thread to the agent: ai mode, then the graph resumes from its handoff
    checkpoint. Returns (and stores) a reply if resuming produced one."""
    from graph.turns import resume

    compiled = graph if graph is not None else container.agent().graph()
    with thread_lock(container, thread_id):
        container.bus.handle(HandBackThread(thread_id, by))
        context = _context(container, thread_id)
        reply = resume(compiled, context)
        if reply:
            container.bus.handle(RecordReply(thread_id, reply, "ai"))
    return reply


def hand_back_with_corrections(
    container: Container,
    thread_id: str,
    slots: dict[str, Any],
    *,
    by: str = "staff",
    graph: CompiledGraph | None = None,
) -> str | None:
    """Hand the thread back with what staff changed in the agent's booking-so-far (a corrected
    date, say): the agent resumes from its checkpoint, and its state then holds the corrections,
    so its next reply goes on from them (a changed date or ZIP is checked again, a changed party
    priced again). `slots` maps slot names (agent.schema.Slots) to their new values; None clears
    one. Only the names of the slots that changed are recorded (ThreadSlotsCorrected).
    Returns (and stores) a reply if resuming produced one."""
    from graph.turns import config_for, resume

    corrections = corrected_slots(slots)
    compiled = graph if graph is not None else container.agent().graph()
    with thread_lock(container, thread_id):
        context = _context(container, thread_id)
        config = config_for(context)
        before = dict(compiled.get_state(config).values.get("slots") or {})
        changed = tuple(sorted(name for name, value in corrections.items() if before.get(name) != value))
        container.bus.handle(HandBackThread(thread_id, by, changed))
        reply = resume(compiled, context)
        if changed:
            # After the resume, so the handoff node's own clean-up cannot undo a correction. As the
            # handoff node: the graph's next step is then the end, and the next message starts a turn.
            current = dict(compiled.get_state(config).values.get("slots") or {})
            for name in changed:
                if corrections[name] is None:
                    current.pop(name, None)
                else:
                    current[name] = corrections[name]
            compiled.update_state(config, {"slots": current}, as_node="handoff")
        if reply:
            container.bus.handle(RecordReply(thread_id, reply, "ai"))
    return reply


MAX_CORRECTED_GUESTS = 1000


def corrected_slots(slots: dict[str, Any]) -> dict[str, Any]:
    """Staff's corrections as the agent keeps slots: known names only, values of the slot's type,
    a date as YYYY-MM-DD, a time as HH:MM, a phone in E.164, an email normalised, a 5-digit ZIP.
    DomainError (naming the slot) otherwise."""
    from datetime import date, time

    from pydantic import ValidationError

    from agent.schema import Slots
    from domain.contact import normalize_email
    from domain.errors import DomainError

    unknown = sorted(set(slots) - set(Slots.model_fields))
    if unknown:
        raise DomainError(f"unknown slots: {', '.join(unknown)}", field=unknown[0])
    for name in ("party_total", "party_adults", "party_kids"):
        count = slots.get(name)
        if isinstance(count, int) and not 0 <= count <= MAX_CORRECTED_GUESTS:
            raise DomainError(f"must be 0 to {MAX_CORRECTED_GUESTS}", field=name)
    try:
        parsed = Slots.model_validate(slots)
    except ValidationError as error:
        first = error.errors()[0]
        raise DomainError(str(first["msg"]), field=str(first["loc"][0]) if first["loc"] else None) from None
    values = parsed.model_dump()
    result: dict[str, Any] = {}
    for name in slots:
        value = values[name]
        try:
            if value is None:
                pass
            elif name == "date":
                value = date.fromisoformat(str(value).strip()).isoformat()
            elif name == "time":
                value = time.fromisoformat(str(value).strip()).strftime("%H:%M")
            elif name == "phone":
                value = normalize_phone(value, field=name)
            elif name == "email":
                value = normalize_email(value, field=name)
            elif name == "zip":
                if not (len(value.strip()) == 5 and value.strip().isdigit()):
                    raise DomainError("must be a 5-digit ZIP code", field=name)
                value = value.strip()
            elif name == "reference":
                value = value.strip().upper()
            elif isinstance(value, str):
                value = value.strip() or None
        except ValueError:  # a date or time that does not parse
            raise DomainError(f"is not a valid {name}", field=name) from None
        result[name] = value
    return result


def hand_off(container: Container, thread_id: str, reason: str, *, by: str = "staff") -> dict[str, Any]:
    """Staff take the thread over (human mode). Deliberately not under the thread lock: a takeover
    must not wait for a running turn, it makes that turn's reply be dropped instead."""
    return container.bus.handle(HandOffThread(thread_id, reason, by)).body


def thread_slots(container: Container, thread_id: str, graph: CompiledGraph | None = None) -> dict[str, Any]:
    """What the agent knows so far on the thread (the graph state's slots)."""
    from graph.turns import config_for

    compiled = graph if graph is not None else container.agent().graph()
    values = compiled.get_state(config_for(_context(container, thread_id))).values
    return dict(values.get("slots") or {})


def _turn(
    container: Container,
    compiled: CompiledGraph,
    message: StoredMessage,
    channel: Channel,
    phone: str | None,
    email: str | None,
    origin: tuple[str | None, str | None] = (None, None),
) -> None:
    from graph.context import Context
    from graph.turns import take_turn

    with container.uow() as uow:
        thread = uow.threads.get(message.thread_id)
        opted_out = channel == "sms" and phone is not None and uow.consents.sms_state(phone) is False
    if thread is None or thread.mode == "human":
        if thread is not None and channel == "sms" and phone and _carrier_keyword(container, message, phone, opted_out):
            return  # STOP/START/HELP are the carrier's words: honoured even while staff have the thread
        if thread is not None and not opted_out and CARD_MARKER in message.body:
            # Staff have the thread, but the warning cannot wait for them: the system says it.
            container.bus.handle(RecordReply(message.thread_id, _no_cards_notice(container), "system"))
        _mark_handled(container, message.id)  # staff have the thread: the message is theirs
        return
    if opted_out and phone:
        # Opted out (perhaps while staff had the thread): only START gets an answer.
        if not _carrier_keyword(container, message, phone, opted_out):
            _mark_handled(container, message.id)
        return
    client_ip, page = origin
    context = Context(
        container,
        message.thread_id,
        channel,
        customer_phone=phone,
        customer_email=email,
        message_id=message.id,
        client_ip=client_ip,
        page=page,
    )
    # The thread is the agent's (its mode was just read under the thread lock), so no handoff
    # interrupt can be pending: skip that checkpoint read.
    turn = take_turn(compiled, context, message.body, check_waiting=False)
    waiting = turn.waiting
    # Worded on the way out (templates by default; the llm phraser keeps every number of the template).
    reply = container.phraser.phrase(turn.reply) if turn.reply else None
    if CARD_MARKER in message.body:
        # After the phrasing, so the warning is always said in these words.
        reply = f"{_no_cards_notice(container)} {reply}" if reply else _no_cards_notice(container)
    if reply:
        # The agent's own handoff (the handoff_to_staff tool already put the thread in human mode)
        # still tells the customer someone will follow up: that notice goes out as a system message.
        # Any other reply is the agent's, and a staff takeover during the turn makes RecordReply refuse it.
        author = "system" if waiting is not None else "ai"
        recorded = container.bus.handle(RecordReply(message.thread_id, reply, author, in_reply_to=message.id))
        if recorded.body.get("stored") is False:
            _forget_unsent_reply(compiled, context)
    else:
        _mark_handled(container, message.id)
    if waiting is not None:
        # Normally a no-op (the tool handed off); here in case the tool could not reach the bus.
        container.bus.handle(HandOffThread(message.thread_id, str(waiting.get("reason") or "agent"), "agent"))


def _forget_unsent_reply(compiled: CompiledGraph, context: Any) -> None:
    """Staff took the thread over while the agent was answering, and its reply was never sent: take
    it out of the agent's checkpoint too, so that after a hand back the agent does not go on as if
    the customer had read it (the question it asked is dropped with it)."""
    from langchain_core.messages import AIMessage, RemoveMessage

    from graph.turns import config_for

    config = config_for(context)
    messages = compiled.get_state(config).values.get("messages") or []
    if messages and isinstance(messages[-1], AIMessage) and messages[-1].id:
        compiled.update_state(config, {"messages": [RemoveMessage(id=messages[-1].id)], "pending": None})


def _carrier_keyword(container: Container, message: StoredMessage, phone: str, opted_out: bool) -> bool:
    """Answer a lone STOP / START / HELP by text with the business's standard reply, as a system
    message (carriers require it whoever is handling the conversation); False for anything else.
    An opted-out number got its one confirmation: after it only START is answered (a repeated STOP
    or a HELP is taken, and nothing is sent)."""
    from agent import wording
    from agent.understanding.intents import carrier_keyword

    keyword = carrier_keyword(message.body)
    if keyword is None:
        return False
    if opted_out and keyword != "start":
        _mark_handled(container, message.id)
        return True
    business = container.business
    if keyword == "help":
        answer = wording.help_text(business)
    else:
        granted = keyword == "start"
        container.bus.handle(
            UpdateConsent(channel="sms", granted=granted, source="sms", phone=phone, source_message_id=message.id)
        )
        answer = wording.opted_in(business) if granted else wording.opted_out(business)
    container.bus.handle(RecordReply(message.thread_id, answer, "system", in_reply_to=message.id))
    return True


def _no_cards_notice(container: Container) -> str:
    from agent import wording

    return wording.no_cards_by_text(container.business)


def _context(container: Container, thread_id: str) -> Any:
    from graph.context import Context

    with container.uow() as uow:
        thread = uow.threads.get(thread_id)
        contact = uow.threads.contact(thread_id)
    if thread is None:
        from domain.errors import NotFound

        raise NotFound("no such thread", field="thread_id")
    channel: Channel = "sms" if thread.channel == "sms" else "web"
    return Context(container, thread_id, channel, customer_phone=contact if channel == "sms" else None)


def _mark_handled(container: Container, message_id: str) -> None:
    with container.uow() as uow:
        uow.threads.mark_handled([message_id], container.clock.now())
        uow.commit()


def _reply_and_mode(container: Container, thread_id: str, message_id: str) -> tuple[str | None, str, int | None]:
    with container.uow() as uow:
        reply = uow.threads.reply_to(message_id)
        thread = uow.threads.get(thread_id)
    return (reply.body if reply else None), (thread.mode if thread else "ai"), (reply.seq if reply else None)
