"""Benchmark of the read model's delay: from a command's response to the moment the change shows on
the schedule board (`read.schedule_board`, what staff and chefs see), measured from the outside.

    .venv/bin/python bench/projections.py [--duration 10] [--clients 4] [--workers N] [--timeout 5]
        [--admin-url URL] [--business FILE]

The real app serves a fresh database in its own processes (bench/harness.py, as bench/commands.py).
Each of --clients clients books, reschedules and cancels bookings over HTTP, one command at a time,
for --duration seconds. After each response, the client's reader (its own autocommit connection to
Postgres, not the app's) reads the booking's schedule board row again and again until it shows the
command's change (the row, the new date and slot, the status `cancelled`), or --timeout passes.
Reported per command and over all: p50/p95/p99 of (visible - response received) and (visible -
command sent), how many were visible at the first read, and how many never showed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shlex
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    DAYS,
    DEFAULT_ADMIN_URL,
    DEFAULT_BUSINESS_FILE,
    ENDPOINT,
    LeanClient,
    ServedApp,
    Workload,
    percentile,
    served_app,
)
from db.engine import libpq_url

KINDS = ("create", "reschedule", "cancel")
READ_ROW = "SELECT event_date, slot, status FROM read.schedule_board WHERE booking_id = %s"


@dataclass
class Sample:
    """One command: when it was sent, answered, and first seen on the read model (perf_counter s)."""

    kind: str
    sent: float
    received: float
    visible: float | None = None  # None: not seen within the timeout
    reads: int = 0


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    read_times: list[float] = field(default_factory=list)  # seconds, every read of the read model
    failures: dict[str, int] = field(default_factory=dict)  # "kind status" -> count
    failure_samples: list[str] = field(default_factory=list)

    def fail(self, kind: str, status: int, body: bytes) -> None:
        key = f"{kind} {status}"
        self.failures[key] = self.failures.get(key, 0) + 1
        if len(self.failure_samples) < 3:
            self.failure_samples.append(f"{key}: {body[:300].decode(errors='replace')}")


Expected = tuple[dt.date, dt.time, str | None]  # the row's date and slot, and its status (None: any)


async def watch(
    reader: psycopg.AsyncConnection[Any], booking_id: str, expected: Expected, sample: Sample, run: Run, timeout: float
) -> None:
    """Read the booking's schedule board row until it shows `expected` (or `timeout` passes); the
    change counts as visible when the read that saw it returned."""
    deadline = sample.received + timeout
    date, slot, status = expected
    while True:
        started = time.perf_counter()
        row = await (await reader.execute(READ_ROW, (booking_id,))).fetchone()
        done = time.perf_counter()
        run.read_times.append(done - started)
        sample.reads += 1
        if row is not None and row[0] == date and row[1] == slot and status in (None, row[2]):
            sample.visible = done
            return
        if done > deadline:
            return
        await asyncio.sleep(0)  # let the other clients run between reads


def moved_day(first_day: dt.date, day: dt.date) -> dt.date:
    """Half the booking range away from `day`, inside it: another date, free enough to move to."""
    return first_day + dt.timedelta(days=((day - first_day).days + DAYS // 2) % DAYS)


async def one_client(app: ServedApp, workload: Workload, deadline: float, timeout: float, run: Run) -> None:
    client = LeanClient(app.base_url)
    reader = await psycopg.AsyncConnection.connect(libpq_url(app.database_url), autocommit=True)

    async def send(kind: str, path: str, body: dict[str, Any], ok: int) -> tuple[Sample, dict[str, Any]] | None:
        headers = {"Idempotency-Key": str(uuid.uuid4()), "Authorization": workload.authorization}
        sent = time.perf_counter()
        try:
            status, response = await client.post_json(path, body, headers)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
            status, response = 0, f"{type(error).__name__}: {error}".encode()
        received = time.perf_counter()
        if status != ok:
            run.fail(kind, status, response)
            return None
        sample = Sample(kind, sent, received)
        run.samples.append(sample)
        return sample, json.loads(response)

    try:
        while time.perf_counter() < deadline:
            _, body = workload.next_request()
            created = await send("create", ENDPOINT, body, 201)
            if created is None:
                continue
            sample, booking = created
            booking_id, reference = booking["booking_id"], booking["reference"]
            day, slot = dt.date.fromisoformat(booking["date"]), dt.time.fromisoformat(booking["slot"])
            await watch(reader, booking_id, (day, slot, None), sample, run, timeout)

            day = moved_day(workload.first_day, day)
            move = {"reference": reference, "date": day.isoformat(), "slot": booking["slot"]}
            moved = await send("reschedule", "/commands/reschedule-booking", move, 200)
            if moved is None:
                continue
            await watch(reader, booking_id, (day, slot, None), moved[0], run, timeout)

            cancel = {"reference": reference, "reason": "bench"}
            cancelled = await send("cancel", "/commands/cancel-booking", cancel, 200)
            if cancelled is not None:
                await watch(reader, booking_id, (day, slot, "cancelled"), cancelled[0], run, timeout)
    finally:
        await reader.close()
        await client.close()


def measure(app: ServedApp, clients: int, duration: float, timeout: float) -> Run:
    run = Run()
    workload = app.workload()

    async def go() -> None:
        deadline = time.perf_counter() + duration
        await asyncio.gather(*(one_client(app, workload, deadline, timeout, run) for _ in range(clients)))

    asyncio.run(go())
    return run


def pcts(values: list[float]) -> str:
    return " ".join(f"p{q} {percentile(values, q) * 1000:.2f}" for q in (50, 95, 99)) + " ms"


def summary(samples: list[Sample]) -> str:
    seen = [s for s in samples if s.visible is not None]
    after_response = [s.visible - s.received for s in seen if s.visible is not None]
    after_sent = [s.visible - s.sent for s in seen if s.visible is not None]
    first = sum(1 for s in seen if s.reads == 1)
    return (
        f"{len(samples)} commands, visible at the first read {first}/{len(samples)}, never {len(samples) - len(seen)};"
        f" visible - response {pcts(after_response)}; visible - sent {pcts(after_sent)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of commands (default 10)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients, each with its reader (default 4)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="API processes, as WEB_WORKERS (default: the cores)"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a change to show (default 5)")
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--business", type=Path, default=DEFAULT_BUSINESS_FILE)
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.timeout <= 0 or args.clients < 1:
        parser.error("--duration and --timeout must be positive, --clients at least 1")
    command = shlex.join(["python", "bench/projections.py", *(sys.argv[1:] if argv is None else argv)])

    with served_app(args.admin_url, args.business, args.workers, prefix="hibachi_bench_projections") as app:
        print(app.describe(), flush=True)
        measure(app, args.clients, min(2.0, args.duration), args.timeout)  # warm-up, not reported
        run = measure(app, args.clients, args.duration, args.timeout)

    for kind in KINDS:
        print(f"{kind}: {summary([s for s in run.samples if s.kind == kind])}")
    print(f"reads of the read model: {len(run.read_times)}, each {pcts(run.read_times)}")
    print()
    if run.failures:
        print(f"  failed commands: {', '.join(f'{key}: {count}' for key, count in sorted(run.failures.items()))}")
        for sample in run.failure_samples:
            print(f"    e.g. {sample}")
    print(f"  command: {command}")
    print(f"  projections ({args.clients} clients, {args.duration:g} s): {summary(run.samples)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
