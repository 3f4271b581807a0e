"""Benchmark of `POST /commands/create-booking`: the real app, served by `api.serve` (one uvicorn
process per core) in its own processes, on a real Postgres, in a database created for the run and
dropped at the end.

Phases (see bench/README.md):
  warm-up   a short closed loop, not reported;
  then for each count N in --clients (default 16,64):
  capacity  N concurrent clients posting bookings back to back for --duration seconds;
  direct    the "floor": N threads writing every row the command writes, in the same statements,
            straight through psycopg (idempotency key, customer, booking, upgrades, events, read
            models, outbox; one transaction per booking), without the reads, locks, HTTP or Python;
  and last:
  latency   an open loop at a fixed offered rate (--rate), latency from each request's scheduled time.

    .venv/bin/python bench/commands.py [--duration 20] [--rate 100] [--clients 16,64] [--workers N]
        [--admin-url URL] [--business FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import math
import os
import shlex
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    ADDRESSES,
    DEFAULT_ADMIN_URL,
    DEFAULT_BUSINESS_FILE,
    SLOTS,
    LeanClient,
    PhaseResult,
    Workload,
    closed_loop,
    connection_headroom,
    counts,
    percentile,
    post_booking,
    run_http_phase,
    served_app,
)
from db.engine import libpq_url
from domain.audit import canonical_parts

CAPACITY_RATIO_TARGET = 0.33
LATENCY_P95_TARGET_MS = 15.0

# The direct floor's bookings go far past the app's window, so they never meet its availability reads.
DIRECT_FIRST_DAY = dt.date(2200, 1, 1)
DIRECT_KEY_ID = b"bench1"


async def open_loop(base_url: str, rate: float, duration: float, workload: Workload, name: str) -> PhaseResult:
    """Request i is sent at t0 + i/rate whether or not earlier ones answered; its latency counts
    from that scheduled time, so time spent queued (client or server side) is included."""
    result = PhaseResult(name)
    total = max(1, round(rate * duration))
    send_lag: list[float] = []
    last_done = 0.0
    client = LeanClient(base_url)

    async def one(scheduled: float) -> None:
        nonlocal last_done
        send_lag.append(time.perf_counter() - scheduled)
        status, detail = await post_booking(client, workload)
        done = time.perf_counter()
        last_done = max(last_done, done)
        result.record(done - scheduled, status, 201, detail)

    tasks: list[asyncio.Task[None]] = []
    t0 = time.perf_counter() + 0.05
    for i in range(total):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    await client.close()
    result.elapsed = last_done - t0
    result.extra["send_lag_p99_ms"] = percentile(send_lag, 99) * 1000
    return result


# ------------------------------------------------------------------------------ the direct floor


def fake_ciphertext(plaintext: str) -> bytes:
    """Random bytes the size of db.pii's ciphertext of `plaintext` (header, nonce, tag)."""
    return os.urandom(2 + len(DIRECT_KEY_ID) + 12 + len(plaintext.encode()) + 16)


def direct_floor(
    database_url: str, threads: int, duration: float, chef_ids: list[uuid.UUID], counter: Iterator[int]
) -> PhaseResult:
    """The rows the command writes, straight through psycopg, one transaction each (the floor).
    `counter` numbers the bookings; it carries on from one run of the floor to the next."""
    result = PhaseResult(f"direct ({threads} threads)")
    lock = threading.Lock()
    per_day = len(chef_ids) * len(SLOTS)
    slots = [dt.time.fromisoformat(s) for s in SLOTS]
    connect_errors: list[str] = []
    start = deadline = 0.0

    def start_clock() -> None:  # run once every thread has connected, before any is released
        nonlocal start, deadline
        start = time.perf_counter()
        deadline = start + duration

    ready = threading.Barrier(threads + 1, action=start_clock)

    def one(conn: psycopg.Connection[Any], n: int) -> None:
        # Every row the create-booking command writes for a new customer (see services.handlers and
        # db.projections), in the same statements, without the reads, locks, HTTP or Python around them.
        customer_id, booking_id = uuid.uuid4(), uuid.uuid4()
        email, phone = f"direct.customer.{n}@example.com", f"+1530{n % 10_000_000:07d}"
        reference = f"DF-{n:08d}"
        key = str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC)
        conn.execute(
            "INSERT INTO events.idempotency_keys (command, key, request_hash, response_status, response_body,"
            " expires_at) VALUES ('create-booking', %s, %s, 0, '{}', %s) ON CONFLICT DO NOTHING RETURNING key",
            (key, os.urandom(32).hex(), now + dt.timedelta(hours=24)),
        )
        conn.execute(
            "INSERT INTO core.customers (id, first_name_enc, last_name_enc, email_enc, email_bidx,"
            " phone_enc, phone_bidx, consent_sms, version) VALUES (%s, %s, %s, %s, %s, %s, %s, false, 1)"
            " ON CONFLICT DO NOTHING RETURNING id",
            (
                customer_id,
                fake_ciphertext("Direct"),
                fake_ciphertext(f"Customer {n}"),
                fake_ciphertext(email),
                os.urandom(32),
                fake_ciphertext(phone),
                os.urandom(32),
            ),
        )
        conn.execute(  # the customer's data key (db/envelope.py), wrapped by the master key
            "INSERT INTO core.data_keys (owner_id, owner_kind, wrapped, master_key_id) VALUES (%s, 'customer', %s, %s)"
            " ON CONFLICT (owner_id) DO NOTHING RETURNING owner_id",
            (customer_id, fake_ciphertext("k" * 32), DIRECT_KEY_ID),
        )
        chef_id = chef_ids[n % len(chef_ids)]
        day = DIRECT_FIRST_DAY + dt.timedelta(days=n // per_day)
        slot = slots[(n // len(chef_ids)) % len(slots)]
        upgrades = {} if n % 3 == 0 else {"lobster_tail": 1 + n % 4}
        conn.execute(
            "INSERT INTO core.bookings (id, reference, customer_id, chef_id, event_date, slot, zone_id, zip,"
            " address_enc, notes_enc, adults, kids, food_cents, upgrades_cents, travel_fee_cents, total_due_cents,"
            " deposit_due_cents, status, source, version)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                booking_id,
                reference,
                customer_id,
                chef_id,
                day,
                slot,
                "A",
                "95816",
                fake_ciphertext(ADDRESSES[0][0]),
                fake_ciphertext("Back yard, gate code 1234") if n % 2 else None,
                12,
                3,
                81000,
                0,
                0,
                81000,
                10000,
                "deposit_pending",
                "web",
                1,
            ),
        )
        if upgrades:
            conn.execute(
                "INSERT INTO core.booking_upgrades (booking_id, code, guests, unit_cents) VALUES (%s, %s, %s, %s)",
                (booking_id, "lobster_tail", upgrades["lobster_tail"], 1500),
            )
        payload = {
            "booking_id": str(booking_id),
            "reference": reference,
            "customer_id": str(customer_id),
            "chef_id": str(chef_id),
            "date": day.isoformat(),
            "slot": slot.strftime("%H:%M"),
            "zone_id": "A",
            "adults": 12,
            "kids": 3,
            "upgrades": upgrades,
            "total_due_cents": 81000,
            "deposit_due_cents": 10000,
            "source": "web",
        }
        insert_event = (
            "INSERT INTO events.domain_events (aggregate_type, aggregate_id, version, event_type, payload,"
            " metadata, occurred_at) VALUES (%s, %s, %s, %s, %s, '{}', %s)"
        )
        conn.execute(
            "INSERT INTO read.schedule_board (booking_id, reference, chef_id, chef_name, event_date, slot, zone_id,"
            " guests, status, total_due_cents, deposit_due_cents, updated_at) VALUES (%s, %s, %s,"
            " (SELECT name FROM core.chefs WHERE id = %s), %s, %s, 'A', 15, 'deposit_pending', 81000, 10000, %s)",
            (booking_id, reference, chef_id, chef_id, day, slot, now),
        )
        conn.execute(
            "INSERT INTO read.payments_feed (booking_id, reference, kind, amount_cents, occurred_at)"
            " VALUES (%s, %s, 'deposit_due', 10000, %s)",
            (booking_id, reference, now),
        )
        conn.execute(
            "INSERT INTO read.customer_360 (customer_id, bookings_count, active_bookings, lifetime_value_cents,"
            " next_event_date, last_booking_at) VALUES (%s, 1, 1, 81000, %s, %s) ON CONFLICT (customer_id) DO UPDATE"
            " SET bookings_count = read.customer_360.bookings_count + 1",
            (customer_id, day, now),
        )
        lead = {"customer_id": str(customer_id), "source": "web"}
        conn.cursor().executemany(  # the command writes all its events in one statement at commit
            insert_event,
            [
                ("booking", booking_id, 1, "BookingCreated", Jsonb(payload), now),
                ("customer", customer_id, 1, "LeadCreated", Jsonb(lead), now),
            ],
        )
        conn.execute("INSERT INTO read.customer_360 (customer_id) VALUES (%s) ON CONFLICT DO NOTHING", (customer_id,))
        message = {"booking_id": str(booking_id), "reference": reference}
        conn.execute(
            "INSERT INTO events.outbox (target, payload, aggregate_id, max_attempts) VALUES (%s, %s, %s, 8),"
            " (%s, %s, %s, 8), (%s, %s, %s, 8)",
            (
                "payments.create_deposit_link",
                Jsonb(message | {"amount_cents": 10000, "requested_at": now.isoformat()}),
                booking_id,
                "notify.booking_confirmation",
                Jsonb(message),
                booking_id,
                "calendar.booking_event",
                Jsonb(message),
                booking_id,
            ),
        )
        conn.execute("SELECT pg_notify('hibachi_outbox', '')")  # wakes idle dispatchers at commit, as the app does
        conn.execute(
            "UPDATE events.idempotency_keys SET response_status = 201, response_body = %s"
            " WHERE command = 'create-booking' AND key = %s",
            (Jsonb(payload), key),
        )
        # The command's audit entry (db/audit.py): its row, chained by the trigger at commit.
        detail = {"reference": reference, "fields": ["booking", "source"]}
        prefix, suffix = canonical_parts(now, "service:bench", "CreateBooking", reference, detail)
        conn.execute(
            "INSERT INTO audit.pending (at, actor, action, subject, detail, canonical_prefix, canonical_suffix)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (now, "service:bench", "CreateBooking", reference, Jsonb(detail), prefix, suffix),
        )
        conn.commit()

    def worker() -> None:
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        samples: list[str] = []
        try:
            conn = psycopg.connect(libpq_url(database_url))
        except psycopg.Error as error:  # e.g. too many clients: stop every thread, say why
            connect_errors.append(f"{type(error).__name__}: {error}")
            ready.abort()
            return
        with conn:
            try:
                ready.wait()
            except threading.BrokenBarrierError:
                return
            while time.perf_counter() < deadline:
                n = next(counter)
                sent = time.perf_counter()
                try:
                    one(conn, n)
                    statuses[201] += 1
                except psycopg.Error as error:
                    conn.rollback()
                    statuses[500] += 1
                    if len(samples) < 3:
                        samples.append(f"{type(error).__name__}: {error}")
                latencies.append(time.perf_counter() - sent)
        with lock:
            result.latencies.extend(latencies)
            result.statuses.update(statuses)
            result.samples.extend(samples[: max(0, 3 - len(result.samples))])

    workers = [threading.Thread(target=worker, name=f"direct-{i}") for i in range(threads)]
    for thread in workers:
        thread.start()
    try:
        ready.wait()  # every thread connected: the clock starts
    except threading.BrokenBarrierError:
        for thread in workers:
            thread.join()
        raise RuntimeError(f"the direct floor could not open {threads} connections: {connect_errors[:1]}") from None
    cpu = time.process_time()
    for thread in workers:
        thread.join()
    result.elapsed = time.perf_counter() - start
    result.client_cpu = time.process_time() - cpu
    return result


# ------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measured phase (default 20)")
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop offered load, req/s (default 100)")
    parser.add_argument(
        "--clients",
        type=counts,
        default=[16, 64],
        help="concurrent clients, and direct floor threads, of each capacity run, e.g. 16,64 (the default)",
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="API processes, as WEB_WORKERS (default: the cores)"
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_ADMIN_URL),
        help="a Postgres server to create the bench database on (default $BENCH_DATABASE_URL or %(default)s); "
        "an embedded Postgres is started when nothing answers there",
    )
    parser.add_argument(
        "--business", type=Path, default=DEFAULT_BUSINESS_FILE, help="business file (default bench/business-bench.yaml)"
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.rate <= 0:
        parser.error("--duration and --rate must be positive")
    return args


def verdict(passed: bool) -> str:
    return "met" if passed else "MISSED"


def count_app_bookings(database_url: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM core.bookings WHERE reference NOT LIKE 'DF-%'").fetchone()
    return int(row[0]) if row else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", *(sys.argv if argv is None else ["bench/commands.py", *argv])])
    duration, rate = args.duration, args.rate
    warmup = min(3.0, max(1.0, duration / 5))
    runs: list[tuple[int, PhaseResult, PhaseResult]] = []  # (clients, the app, the direct floor)

    with served_app(args.admin_url, args.business, args.workers) as app:
        print(app.describe(), flush=True)
        workload = app.workload()
        floor_counter = itertools.count()
        run_http_phase(app.pid, lambda: closed_loop(app.base_url, args.clients[0], warmup, workload, "warm-up"))
        print(f"warm-up: {warmup:.0f} s done", flush=True)

        for clients in args.clients:
            name = f"capacity ({clients} clients)"
            ours = run_http_phase(app.pid, partial(closed_loop, app.base_url, clients, duration, workload, name))
            print(f"capacity, {clients} clients: {ours.throughput()}, {ours.ok(201)} created; {ours.cpu()}", flush=True)
            headroom = connection_headroom(app.database_url)
            if headroom < clients:  # the floor needs one connection a thread
                print(f"note: Postgres takes {headroom} more connections now; the floor's {clients} threads may fail")
            direct = direct_floor(app.database_url, clients, duration, app.chef_ids, floor_counter)
            print(
                f"direct psycopg, {clients} threads: {direct.rate(201):.1f} req/s, {direct.pcts()}, "
                f"failed {direct.failures(201)}; {direct.cpu()}",
                flush=True,
            )
            runs.append((clients, ours, direct))

        latency = run_http_phase(app.pid, lambda: open_loop(app.base_url, rate, duration, workload, "latency"))
        print(
            f"latency: {latency.pcts()}, achieved {latency.rate(201):.1f} req/s, non-201 {latency.failures(201)}, "
            f"client send lag p99 {latency.extra['send_lag_p99_ms']:.1f} ms; {latency.cpu()}",
            flush=True,
        )
        best = max(ours.rate(201) for _, ours, _ in runs)
        if latency.rate(201) < 0.95 * rate:
            print(
                f"note: the server did not keep up with the offered {rate:g} req/s (capacity above: up to "
                f"{best:.1f} req/s); the open-loop latencies are mostly time queued behind earlier requests",
                flush=True,
            )
        created = sum(ours.ok(201) for _, ours, _ in runs) + latency.ok(201)
        stored = count_app_bookings(app.database_url)
        print(f"check: {stored} app bookings in the database (warm-up included); {created} measured 201s")

    p95 = latency.ms(95)
    secs = f"{duration:g} s"
    print()
    for _, ours, direct in runs:
        ours.report_failures()
        direct.report_failures()
    latency.report_failures()
    print(f"  command: {command}")
    for clients, ours, direct in runs:
        ratio = ours.rate(201) / direct.rate(201) if direct.rate(201) > 0 else math.nan
        ratio_text = f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.3f}"
        print(
            f"  capacity ({clients} clients, {secs}): {ours.throughput()}; direct psycopg ({clients} threads): "
            f"{direct.rate(201):.1f} req/s; ratio {ratio_text} "
            f"(target >= {CAPACITY_RATIO_TARGET}: {verdict(ratio >= CAPACITY_RATIO_TARGET)})"
        )
    print(
        f"  latency (open loop {rate:g} req/s, {secs}): {latency.pcts()}, achieved {latency.rate(201):.1f} req/s, "
        f"non-201 {latency.failures(201)} (target p95 < {LATENCY_P95_TARGET_MS:g} ms: "
        f"{verdict(p95 < LATENCY_P95_TARGET_MS)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
