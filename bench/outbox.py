"""Benchmark of the outbox: how fast it drains to a provider, and how long a message waits between
the commit that wrote it and its dispatch.

    .venv/bin/python bench/outbox.py [--messages 5000] [--workers 2] [--processes] [--provider-ms 2]
                                     [--rate 200] [--duration 10] [--poll 0.05] [--no-wake]

A fresh database on `--admin-url` (default `$BENCH_DATABASE_URL`, else the 5432 service, else an
embedded Postgres) is migrated. The provider is a fake target that takes `--provider-ms` per call
and counts effects by the outbox row's id (its idempotency key), as a real provider would.
`--workers` dispatchers run `OutboxDispatcher.run` (claiming with `FOR UPDATE SKIP LOCKED`, woken
by the NOTIFY of new rows) as threads of this process, or with `--processes` each in a process of
its own, as `hibachi outbox-worker` processes run; each process counts its provider's effects and
the counts are added up at the end, so a message that took effect in two processes shows as a
duplicate.

1. Throughput: with the dispatchers idle, `--messages` rows are committed at once; messages per
   second until none is pending, and a check that every message took effect exactly once.
2. Delay: a producer commits `--rate` messages a second for `--duration` seconds, one per
   transaction, while the idle dispatchers wait for the NOTIFY of new rows (`--no-wake`: poll every
   `--poll` seconds only): p50/p95/p99 of the time from the producer's commit to the provider's call.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import DEFAULT_ADMIN_URL, fresh_database, prepare_database
from db.engine import libpq_url
from db.outbox import OutboxMessage
from db.pii import BlindIndex, FieldCipher, decode_key, parse_keyring
from domain.clock import SystemClock
from evals.results import percentile
from hibachi.bootstrap import Container, bootstrap
from hibachi.business_file import DEFAULT_BUSINESS_FILE, load_business
from hibachi.settings import fresh_keys
from services.outbox_dispatcher import OutboxDispatcher, OutboxWakeup

TARGET = "bench.provider"
WARM_UP_MESSAGES = 50  # drained before the clock starts: each process's first statements are slower
WARM_UP_FIRST_N = -1_000_000_000  # their numbers, below any backlog message's (-1 .. -messages)
START_TIMEOUT = 120.0  # seconds for the dispatcher processes to import and connect (2 busy cores)


class FakeProvider:
    """Takes `seconds` per call; counts each idempotency key's effects; notes when each message came.
    An in-process stand-in: the figures are the dispatcher's own ceiling (claim, call, record), not a
    real adapter's over HTTP (tests/test_faults_outbox.py runs the Stripe adapter against its fake)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.effects: Counter[str] = Counter()
        self.arrived: dict[int, float] = {}
        self.lock = threading.Lock()

    def __call__(self, message: OutboxMessage) -> dict[str, Any]:
        called = time.time()  # the delay measured is commit to call, not to the call's end
        time.sleep(self.seconds)
        with self.lock:
            self.effects[message.id] += 1
            self.arrived[int(message.payload["n"])] = called
        return {"ok": True}


def make_container(database_url: str, keys: dict[str, str], pool_size: int) -> Container:
    return bootstrap(
        database_url=database_url,
        business=load_business(DEFAULT_BUSINESS_FILE),
        cipher=FieldCipher(parse_keyring(keys["PII_KEYS"]), keys["PII_ACTIVE_KEY_ID"]),
        blind=BlindIndex(decode_key(keys["BLIND_INDEX_KEY"], name="BLIND_INDEX_KEY")),
        pool_size=pool_size,
    )


@dataclass(frozen=True)
class DispatchSettings:
    database_url: str
    keys: dict[str, str]
    provider_seconds: float
    poll: float
    wake: bool


def run_dispatcher(
    settings: DispatchSettings, container: Container, provider: FakeProvider, stop: threading.Event
) -> None:
    dispatcher = OutboxDispatcher(container.uow, {TARGET: provider}, SystemClock())
    wakeup = OutboxWakeup(settings.database_url) if settings.wake else None
    try:
        dispatcher.run(stop, settings.poll, wake=wakeup)
    finally:
        if wakeup is not None:
            wakeup.close()


def dispatcher_process(settings: DispatchSettings, ready: Any, stop: Any, results: Any) -> None:
    """One outbox worker process: its own container and provider; sends back what its provider saw."""
    container = make_container(settings.database_url, settings.keys, pool_size=2)
    provider = FakeProvider(settings.provider_seconds)
    local_stop = threading.Event()  # OutboxDispatcher.run takes a threading.Event; `stop` crosses processes

    def relay_stop() -> None:
        stop.wait()
        local_stop.set()

    threading.Thread(target=relay_stop, daemon=True).start()
    with container.engine.connect():
        pass  # connected before the clock starts
    ready.put(os.getpid())
    try:
        run_dispatcher(settings, container, provider, local_stop)
    finally:
        container.engine.dispose()
        results.put((dict(provider.effects), provider.arrived))


class Dispatchers:
    """`count` dispatchers against fake providers, as threads of this process or (`processes`) as
    processes of their own; after `stop()`, `effects` and `arrived` hold what every provider saw."""

    def __init__(self, settings: DispatchSettings, count: int, *, processes: bool) -> None:
        self.settings, self.count, self.processes = settings, count, processes
        self.effects: Counter[str] = Counter()
        self.arrived: dict[int, float] = {}
        self._stop_threads = threading.Event()
        self._threads: list[threading.Thread] = []
        self._container: Container | None = None
        self._provider = FakeProvider(settings.provider_seconds)
        context = mp.get_context("spawn")
        self._context = context
        self._stop_processes = context.Event()
        self._ready: Any = context.Queue()
        self._results: Any = context.Queue()
        self._children: list[Any] = []

    def __enter__(self) -> Dispatchers:
        if self.processes:
            self._children = [
                self._context.Process(
                    target=dispatcher_process,
                    args=(self.settings, self._ready, self._stop_processes, self._results),
                    name=f"outbox-worker-{i}",
                )
                for i in range(self.count)
            ]
            for child in self._children:
                child.start()
            started, deadline = 0, time.monotonic() + START_TIMEOUT
            while started < self.count:
                try:
                    self._ready.get(timeout=0.5)
                    started += 1
                except queue.Empty:
                    if time.monotonic() > deadline or any(c.exitcode is not None for c in self._children):
                        self.stop()
                        raise RuntimeError("an outbox worker process did not start") from None
        else:
            self._container = make_container(self.settings.database_url, self.settings.keys, pool_size=self.count + 2)
            self._threads = [
                threading.Thread(
                    target=run_dispatcher,
                    args=(self.settings, self._container, self._provider, self._stop_threads),
                    name=f"outbox-worker-{i}",
                )
                for i in range(self.count)
            ]
            for thread in self._threads:
                thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every dispatcher and gather what the providers saw (idempotent)."""
        self._stop_threads.set()
        for thread in self._threads:
            thread.join()
        self._threads = []
        if self._container is not None:
            self._container.engine.dispose()
            self._container = None
            self.effects, self.arrived = self._provider.effects, self._provider.arrived
        self._stop_processes.set()
        alive = [child for child in self._children if child.is_alive() or child.exitcode == 0]
        for _ in alive:
            try:
                effects, arrived = self._results.get(timeout=30)
            except queue.Empty:
                break
            self.effects.update(effects)
            self.arrived.update(arrived)
        for child in self._children:
            child.join(10)
            if child.is_alive():
                child.kill()
                child.join()
        self._children = []


def wait_drained(database_url: str, timeout: float) -> int:
    """Waits until no outbox row is pending (each dispatched and its outcome committed), at most
    `timeout` seconds; returns how many still are (0: drained)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM events.outbox WHERE status = 'pending'").fetchone()
            left = int(row[0]) if row else 0
            if left == 0 or time.monotonic() > deadline:
                return left
            time.sleep(0.01)


@contextmanager
def outbox_database(
    admin_url: str, provider_ms: float, poll: float, wake: bool
) -> Iterator[tuple[Container, DispatchSettings]]:
    """A fresh migrated database; yields a producer's container on it and the dispatchers' settings."""
    with fresh_database(admin_url, "hibachi_bench_outbox") as database_url:
        prepare_database(database_url, DEFAULT_BUSINESS_FILE)
        keys = fresh_keys("bench")
        producer = make_container(database_url, keys, pool_size=2)
        try:
            yield producer, DispatchSettings(database_url, keys, provider_ms / 1000, poll, wake)
        finally:
            producer.engine.dispose()


def warm_up(producer: Container, database_url: str) -> None:
    with producer.uow() as uow:
        uow.outbox.add_many([(TARGET, {"n": WARM_UP_FIRST_N - i}) for i in range(WARM_UP_MESSAGES)])
        uow.commit()
    wait_drained(database_url, timeout=60)


def drain(producer: Container, database_url: str, messages: int) -> float:
    """Commit `messages` rows at once (the idle dispatchers wake) and time until none is pending."""
    with producer.uow() as uow:
        uow.outbox.add_many([(TARGET, {"n": -i - 1}) for i in range(messages)])
        uow.commit()
    started = time.perf_counter()
    left = wait_drained(database_url, timeout=600)
    if left:
        raise RuntimeError(f"{left} of {messages} messages still pending after 600 s")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="dispatchers (default 2)")
    parser.add_argument("--processes", action="store_true", help="each dispatcher in a process of its own")
    parser.add_argument("--provider-ms", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=200.0, help="messages a second in the delay phase")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--poll", type=float, default=0.05, help="dispatcher poll interval when idle (s)")
    parser.add_argument("--no-wake", dest="wake", action="store_false", help="poll only: no LISTEN wake-up on new rows")
    args = parser.parse_args(argv)
    kind = "processes" if args.processes else "threads"

    with outbox_database(args.admin_url, args.provider_ms, args.poll, args.wake) as (producer, settings):
        database_url = settings.database_url
        with Dispatchers(settings, args.workers, processes=args.processes) as dispatchers:
            # 1. throughput: a backlog drained by the workers
            warm_up(producer, database_url)
            drained = drain(producer, database_url, args.messages)
            print(
                f"throughput: {args.messages} messages in {drained:.2f} s, {args.messages / drained:.1f} msg/s"
                f" with {args.workers} dispatcher {kind} ({args.provider_ms} ms a provider call)",
                flush=True,
            )

            # 2. delay: commit -> dispatch, with the dispatchers idle between messages
            committed: dict[int, float] = {}
            total = int(args.rate * args.duration)
            begin = time.perf_counter()
            for n in range(total):
                due = begin + n / args.rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                with producer.uow() as uow:
                    uow.outbox.add_many([(TARGET, {"n": n})])
                    uow.commit()
                committed[n] = time.time()
            undelivered = wait_drained(database_url, timeout=30)
        # the providers' counts are in once the dispatchers have stopped

    effects = dispatchers.effects
    once = sum(1 for count in effects.values() if count == 1)
    duplicates = sum(1 for count in effects.values() if count > 1)
    arrived = dispatchers.arrived
    backlog = sum(1 for n in arrived if -args.messages <= n < 0)
    delays = [(arrived[n] - committed[n]) * 1000 for n in committed if n in arrived]
    print(
        f"delay: {len(delays)}/{total} messages at {args.rate:.0f}/s, commit to provider call"
        f" p50 {percentile(delays, 0.50):.1f} p95 {percentile(delays, 0.95):.1f}"
        f" p99 {percentile(delays, 0.99):.1f} ms"
        f" ({'woken by NOTIFY, ' if args.wake else ''}poll {args.poll * 1000:.0f} ms when idle)",
        flush=True,
    )
    print(
        f"effects: {len(effects)} messages reached the provider (backlog {backlog}/{args.messages}, delay phase"
        f" {len(delays)}/{total}, warm-up {WARM_UP_MESSAGES}), {once} exactly once, {duplicates} more than once",
        flush=True,
    )
    given = " ".join(argv if argv is not None else sys.argv[1:])
    print(
        f"\n  command: python bench/outbox.py{' ' + given if given else ''}\n"
        f"  outbox: {args.messages / drained:.1f} msg/s drained by {args.workers} dispatcher {kind};"
        f" commit-to-dispatch p95 {percentile(delays, 0.95):.1f} ms at {args.rate:.0f}/s; duplicates {duplicates}"
    )
    expected = args.messages + total + WARM_UP_MESSAGES
    if undelivered or duplicates or once != expected:  # the figures mean nothing unless each took effect once
        print(f"  FAILED: {undelivered} still pending, {once}/{expected} took effect once, {duplicates} more than once")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
