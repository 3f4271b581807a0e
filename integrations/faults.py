"""Faults a fake provider can be told to have, for tests of the outbox under failure: an ASGI
wrapper in front of a fake's API (`FaultyApi`) that, per call, as `Faults` says:

- answers a share with a 5xx before the fake sees the call (nothing happens at the provider);
- lets the fake act on a share and holds its answer `hang_seconds`, past the client's timeout (the
  effect happened, the caller does not know: its retry must be answered from the idempotency store);
- adds `latency_seconds` to every call (a slow provider, so calls are in flight when a worker dies);
- holds the answer of one chosen call, after the fake acted, until the test releases it
  (`hold_call`), so a worker can be killed with a call that took effect and was never answered.

What happened is counted (`calls`, `errors`, `hung`: the idempotency keys of the hung calls).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

Fate = Literal["ok", "error", "hang", "hold"]
ERROR_STATUSES = (500, 502, 503)


@dataclass
class Faults:
    error_share: float = 0.0
    hang_share: float = 0.0
    hang_seconds: float = 0.0
    latency_seconds: float = 0.0
    seed: int = 0
    calls: int = 0
    errors: int = 0
    hung: list[str] = field(default_factory=list)  # idempotency keys of calls answered too late
    hold_at: int | None = None  # the call number (1-based) whose answer waits for `release()`
    holding: threading.Event = field(default_factory=threading.Event)  # set while that answer is held
    released: threading.Event = field(default_factory=threading.Event)
    held_key: str | None = None
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def hold_call(self, number: int) -> None:
        """Hold the answer of call `number` (counted from the first call ever) until `release()`."""
        self.hold_at = number

    def release(self) -> None:
        self.released.set()

    def fate(self) -> Fate:
        self.calls += 1
        if self.hold_at == self.calls:
            return "hold"
        draw = self._random.random()
        if draw < self.error_share:
            self.errors += 1
            return "error"
        if draw < self.error_share + self.hang_share:
            return "hang"
        return "ok"


class FaultyApi:
    """`app` with `faults` applied to the HTTP calls whose path starts with `prefix` (the API, not
    a fake's pages for people)."""

    def __init__(self, app: Any, faults: Faults, prefix: str = "/") -> None:
        self.app = app
        self.faults = faults
        self.prefix = prefix

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        faults = self.faults
        fate = faults.fate()  # one event loop thread serves the fake: no lock needed
        if faults.latency_seconds:
            await asyncio.sleep(faults.latency_seconds)
        if fate == "error":
            await self._error(send, faults._random.choice(ERROR_STATUSES))
            return
        if fate == "ok":
            await self.app(scope, receive, send)
            return
        answer: list[dict[str, Any]] = []

        async def keep(message: dict[str, Any]) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)  # the provider acts ...
        key = dict(scope["headers"]).get(b"idempotency-key", b"").decode()
        if fate == "hang":
            faults.hung.append(key)
            await asyncio.sleep(faults.hang_seconds)
        else:
            faults.held_key = key
            faults.holding.set()
            while not faults.released.is_set():
                await asyncio.sleep(0.01)
        for message in answer:  # ... and its answer comes late (to a caller that may be gone)
            await send(message)

    @staticmethod
    async def _error(send: Any, status: int) -> None:
        body = json.dumps({"error": {"type": "api_error", "message": f"injected fault: {status}"}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
