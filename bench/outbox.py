"""Benchmark of the outbox: how fast it drains to a provider, and how long a message waits between
the commit that wrote it and its dispatch.

    .venv/bin/python bench/outbox.py [--messages 5000] [--workers 2] [--provider-ms 2]
                                     [--rate 200] [--duration 10] [--poll 0.05]

A fresh database on `--admin-url` (default `$BENCH_DATABASE_URL`, else the 5432 service, else an
embedded Postgres) is migrated. The provider is a fake target that takes `--provider-ms` per call
and counts effects by the outbox row's id (its idempotency key), as a real provider would.

1. Throughput: `--messages` rows are queued at once, then `--workers` dispatchers (threads, each
   claiming with `FOR UPDATE SKIP LOCKED`, as separate worker processes would) drain them: messages
   per second, and a check that every message took effect exactly once.
2. Delay: a producer commits `--rate` messages a second for `--duration` seconds, one per
   transaction, while the idle dispatchers wait for the NOTIFY of new rows (`--no-wake`: poll every
   `--poll` seconds only): p50/p95/p99 of the time from the producer's commit to the provider's call.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.commands import admin_server, prepare_database
from db.embedded import drop_database, ensure_database
from db.outbox import OutboxMessage
from domain.clock import SystemClock
from evals.results import percentile
from hibachi.bootstrap import bootstrap
from hibachi.business_file import DEFAULT_BUSINESS_FILE, load_business
from hibachi.settings import fresh_keys
from services.outbox_dispatcher import OutboxDispatcher, OutboxWakeup

TARGET = "bench.provider"


class FakeProvider:
    """Takes `seconds` per call; counts each idempotency key's effects; notes when each message came."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.effects: Counter[str] = Counter()
        self.arrived: dict[int, float] = {}
        self.lock = threading.Lock()

    def __call__(self, message: OutboxMessage) -> dict[str, Any]:
        time.sleep(self.seconds)
        with self.lock:
            self.effects[message.id] += 1
            self.arrived[int(message.payload["n"])] = time.time()
        return {"ok": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--admin-url", default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--provider-ms", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=200.0, help="messages a second in the delay phase")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--poll", type=float, default=0.05, help="dispatcher poll interval when idle (s)")
    parser.add_argument("--no-wake", dest="wake", action="store_false", help="poll only: no LISTEN wake-up on new rows")
    args = parser.parse_args(argv)

    admin = admin_server(args.admin_url)
    name = f"hibachi_bench_outbox_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    database_url = ensure_database(admin, name)
    keys = fresh_keys("bench")
    from db.pii import BlindIndex, FieldCipher, decode_key, parse_keyring

    try:
        prepare_database(database_url, DEFAULT_BUSINESS_FILE)
        container = bootstrap(
            database_url=database_url,
            business=load_business(DEFAULT_BUSINESS_FILE),
            cipher=FieldCipher(parse_keyring(keys["PII_KEYS"]), keys["PII_ACTIVE_KEY_ID"]),
            blind=BlindIndex(decode_key(keys["BLIND_INDEX_KEY"], name="BLIND_INDEX_KEY")),
            pool_size=args.workers + 4,
        )
        provider = FakeProvider(args.provider_ms / 1000)
        dispatchers = [OutboxDispatcher(container.uow, {TARGET: provider}, SystemClock()) for _ in range(args.workers)]

        # 1. throughput: a backlog drained by the workers
        with container.uow() as uow:
            uow.outbox.add_many([(TARGET, {"n": -i - 1}) for i in range(args.messages)])
            uow.commit()
        started = time.perf_counter()
        threads = [threading.Thread(target=d.dispatch_due, args=(args.messages,)) for d in dispatchers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        drained = time.perf_counter() - started
        once = sum(1 for count in provider.effects.values() if count == 1)
        print(
            f"throughput: {args.messages} messages in {drained:.2f} s, {args.messages / drained:.1f} msg/s"
            f" with {args.workers} workers ({args.provider_ms} ms a provider call);"
            f" taken effect once: {once}/{len(provider.effects)}",
            flush=True,
        )

        # 2. delay: commit -> dispatch, with the dispatchers polling
        stop = threading.Event()
        wakeups = [OutboxWakeup(database_url) if args.wake else None for _ in dispatchers]
        pollers = [
            threading.Thread(target=d.run, args=(stop, args.poll), kwargs={"wake": w}, daemon=True)
            for d, w in zip(dispatchers, wakeups, strict=True)
        ]
        for poller in pollers:
            poller.start()
        committed: dict[int, float] = {}
        total = int(args.rate * args.duration)
        begin = time.perf_counter()
        for n in range(total):
            due = begin + n / args.rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            with container.uow() as uow:
                uow.outbox.add_many([(TARGET, {"n": n})])
                uow.commit()
            committed[n] = time.time()
        deadline = time.time() + 30
        while time.time() < deadline and not all(n in provider.arrived for n in committed):
            time.sleep(0.05)
        stop.set()
        delays = [(provider.arrived[n] - committed[n]) * 1000 for n in committed if n in provider.arrived]
        print(
            f"delay: {len(delays)}/{total} messages at {args.rate:.0f}/s, commit to provider call"
            f" p50 {percentile(delays, 0.50):.1f} p95 {percentile(delays, 0.95):.1f}"
            f" p99 {percentile(delays, 0.99):.1f} ms"
            f" ({'woken by NOTIFY, ' if args.wake else ''}poll {args.poll * 1000:.0f} ms when idle)",
            flush=True,
        )
        duplicates = sum(1 for count in provider.effects.values() if count > 1)
        given = " ".join(argv if argv is not None else sys.argv[1:])
        print(
            f"\n  command: python bench/outbox.py{' ' + given if given else ''}\n"
            f"  outbox: {args.messages / drained:.1f} msg/s drained by {args.workers} workers;"
            f" commit-to-dispatch p95 {percentile(delays, 0.95):.1f} ms at {args.rate:.0f}/s; duplicates {duplicates}"
        )
        container.engine.dispose()
    finally:
        drop_database(admin, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
