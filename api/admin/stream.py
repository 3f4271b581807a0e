"""Live inbox changes for the staff pages: `GET /admin/stream`, server-sent events.

Every thread change does `NOTIFY hibachi_inbox, '{"thread_id": ..., "kind": ...}'` when it commits.
One process holds ONE `LISTEN` connection (psycopg `AsyncConnection`, autocommit, on the container's
database) and fans each notice out to every open stream, so twenty open inbox tabs cost one
Postgres connection, not twenty. The listener starts with the first stream and stops with the last.

What a stream sends:
- `retry: 3000` first, once the listener is listening: a client that has read it misses nothing
  committed afterwards (the tests rely on it);
- `event: inbox` with `{"thread_id", "kind"}` for every change (the inbox refreshes its rows);
- `event: thread` as well, for changes of the thread named by `?thread_id=` (a thread page
  refreshes its transcript);
- `event: inbox` with kind `resync` after the listener lost and regained its connection (changes
  in between were not heard: refresh everything);
- a `: heartbeat` comment every 15 s (proxies keep the connection; a gone client is noticed).

The stream ends when the client disconnects, and when its session ends (logout, expiry): the session
is re-checked at every heartbeat without being kept alive by it, so an unattended inbox tab still
times out (the rows it refreshes are ordinary requests and do count as activity).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import psycopg

from db.engine import libpq_url
from domain.access import session_expiry
from hibachi.bootstrap import Container

log = logging.getLogger(__name__)

CHANNEL = "hibachi_inbox"
HEARTBEAT_SECONDS = 15.0
QUEUE_SIZE = 256  # per stream; a client this far behind loses notices, harmlessly: each one means "refresh"
RECONNECT_SECONDS = 1.0
READY_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Notice:
    thread_id: str
    kind: str

    def data(self) -> str:
        return json.dumps({"thread_id": self.thread_id, "kind": self.kind}, separators=(",", ":"))


RESYNC = Notice("", "resync")


def parse_notice(payload: str) -> Notice | None:
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    thread_id, kind = body.get("thread_id"), body.get("kind")
    return Notice(str(thread_id or ""), str(kind or "changed"))


class InboxHub:
    """The process's one listener on `hibachi_inbox` and the queues of the streams subscribed to it.
    Bound to the event loop of its first subscriber (a test client's loop may differ from the
    server's: a hub on another loop is set aside and started afresh)."""

    def __init__(self, database_url: str) -> None:
        self.url = libpq_url(database_url)
        self._subscribers: set[asyncio.Queue[Notice]] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Notice]]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._subscribers, self._task, self._ready = loop, set(), None, asyncio.Event()
        queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.add(queue)
        if self._task is None or self._task.done():
            self._ready = asyncio.Event()
            self._task = loop.create_task(self._listen(), name="inbox-listener")
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT_SECONDS)
            yield queue
        finally:
            self._subscribers.discard(queue)
            if not self._subscribers and self._task is not None:
                self._task.cancel()  # closes the LISTEN connection
                self._task = None

    def _publish(self, notice: Notice) -> None:
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(notice)

    async def _listen(self) -> None:
        heard_before = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    if heard_before:
                        self._publish(RESYNC)  # what changed while we were not listening is unknown
                    heard_before = True
                    async for notify in conn.notifies():
                        notice = parse_notice(notify.payload)
                        if notice is not None:
                            self._publish(notice)
            except asyncio.CancelledError:
                raise
            except Exception as problem:  # the database went away: listen again shortly
                log.warning("inbox listener lost its connection: %s", type(problem).__name__)
                self._ready.clear()
                await asyncio.sleep(RECONNECT_SECONDS)


def hub_of(app_state: Any, container: Container) -> InboxHub:
    hub = getattr(app_state, "inbox_hub", None)
    if not isinstance(hub, InboxHub):
        hub = InboxHub(container.engine.url.render_as_string(hide_password=False))
        app_state.inbox_hub = hub
    return hub


def session_alive(container: Container, session_token: str) -> bool:
    """Whether the session is still open, read without keeping it alive."""
    with container.uow() as uow:
        session = uow.sessions.by_token(session_token)
    if session is None or session.ended_at is not None:
        return False
    return session_expiry(session.created_at, session.last_seen_at, container.clock.now()) is None


def sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


async def events(
    hub: InboxHub,
    container: Container,
    *,
    thread_id: str | None,
    session_token: str | None,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[str]:
    """The stream's text, until the session ends (the response is cancelled when the client goes)."""
    async with hub.subscribe() as queue:
        yield "retry: 3000\n\n"
        while True:
            try:
                notice = await asyncio.wait_for(queue.get(), heartbeat)
            except TimeoutError:
                if session_token is not None and not await anyio.to_thread.run_sync(
                    session_alive, container, session_token
                ):
                    yield sse("expired", "{}")
                    return
                yield ": heartbeat\n\n"
                continue
            yield sse("inbox", notice.data())
            if thread_id is not None and notice.thread_id in (thread_id, ""):
                yield sse("thread", notice.data())
