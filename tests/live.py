"""For tests against the app's own processes (hibachi.processes): many HTTP requests at once,
through the bench's lean keep-alive client (httpx spent ten times its CPU a request, and the
load generator shares two cores with the servers under test); waiting for a condition."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.harness import LeanClient

T = TypeVar("T")
TRANSPORT_ERRORS = (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError)


@dataclass(frozen=True)
class Request:
    path: str
    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Reply:
    status: int  # 0: no HTTP answer (refused, reset, timed out)
    body: bytes
    api: int  # the index of the base URL that answered

    def json(self) -> Any:
        return json.loads(self.body)


async def send(client: LeanClient, request: Request, api: int) -> Reply:
    try:
        status, body = await client.post_json(request.path, request.body, dict(request.headers))
    except TRANSPORT_ERRORS as error:
        return Reply(0, f"{type(error).__name__}: {error}".encode(), api)
    return Reply(status, body, api)


def send_all(base_urls: Sequence[str], requests: Sequence[Request], *, clients: int) -> list[Reply]:
    """Every request once, by `clients` concurrent keep-alive clients spread evenly over
    `base_urls` (client i talks to base_urls[i % n]), each sending its next request as soon as its
    last one answered; the replies in the order of `requests`."""

    async def run() -> list[Reply]:
        pools = [LeanClient(url) for url in base_urls]
        replies: list[Reply | None] = [None] * len(requests)
        pending = iter(range(len(requests)))

        async def one_client(number: int) -> None:
            api = number % len(pools)
            for index in pending:  # a shared iterator: each request is taken by one client
                replies[index] = await send(pools[api], requests[index], api)

        try:
            await asyncio.gather(*(one_client(n) for n in range(clients)))
        finally:
            for pool in pools:
                await pool.close()
        return [reply for reply in replies if reply is not None]

    return asyncio.run(run())


def wait_for(what: str, check: Callable[[], T], timeout: float = 30) -> T:
    """Poll `check` until it returns something true; that value. Fails naming `what` at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)
