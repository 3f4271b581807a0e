"""Benchmark of `POST /commands/create-booking`: the real app, served by `api.serve` (one uvicorn
process per core) in its own processes, on a real Postgres, in a database created for the run and
dropped at the end.

Phases (see bench/README.md):
  warm-up   a short closed loop, not reported;
  capacity  N concurrent clients (default 16) posting bookings back to back for --duration seconds;
  direct    the "floor": N threads writing every row the command writes, in the same statements,
            straight through psycopg (idempotency key, customer, booking, upgrades, events, read
            models, outbox; one transaction per booking), without the reads, locks, HTTP or Python;
  latency   an open loop at a fixed offered rate (--rate), latency from each request's scheduled time.

    .venv/bin/python bench/commands.py [--duration 20] [--rate 100] [--clients 16] [--workers N]
        [--admin-url URL] [--business FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime as dt
import itertools
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import psutil
import psycopg
from psycopg.types.json import Jsonb

from db.embedded import drop_database, ensure_database, start_embedded
from db.engine import libpq_url
from db.pii import decode_key
from domain.access import permissions_of
from domain.audit import canonical_parts
from domain.clock import SystemClock
from hibachi import processes
from hibachi.business_file import load_business
from hibachi.processes import free_port, wait_until_healthy
from hibachi.settings import fresh_keys
from services.tokens import TokenIssuer

HERE = Path(__file__).resolve().parent
DEFAULT_BUSINESS_FILE = HERE / "business-bench.yaml"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ENDPOINT = "/commands/create-booking"

CAPACITY_RATIO_TARGET = 0.33
LATENCY_P95_TARGET_MS = 15.0

# Bookings are spread over DAYS dates, DAY_STRIDE days apart from one request to the next (7 is
# coprime with 1000, so every date is visited once per sweep), and the slot moves on each sweep:
# concurrent requests never lock the same chef-days and no date fills up (1 booking a date per
# 1000 requests, against 200 chefs x 2 events a date).
DAYS = 1000
DAY_STRIDE = 7
FIRST_DAY_OFFSET = 3  # min_days_ahead is 2; one more day keeps clear of the midnight edge
SLOTS = ("12:00", "15:00", "18:00", "21:00")
ADDRESSES = (  # one per zone: A (no travel fee), B, C
    ("2400 J St, Sacramento, CA 95816", "95816"),
    ("100 Vernon St, Roseville, CA 95678", "95678"),
    ("500 Castro St, Mountain View, CA 94041", "94041"),
)

# The direct floor's bookings go far past the app's window, so they never meet its availability reads.
DIRECT_FIRST_DAY = dt.date(2200, 1, 1)
DIRECT_KEY_ID = b"bench1"


# ------------------------------------------------------------------------------ results


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[rank]


@dataclass
class PhaseResult:
    name: str
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, every request (any status)
    statuses: Counter[int] = field(default_factory=Counter)  # 0 = transport error
    samples: list[str] = field(default_factory=list)  # first few failures, for the report
    client_cpu: float = math.nan  # CPU seconds the load generator (this process) spent
    server_cpu: float = math.nan  # CPU seconds the server process spent
    extra: dict[str, float] = field(default_factory=dict)

    def record(self, latency: float, status: int, ok_status: int, detail: Callable[[], str]) -> None:
        self.latencies.append(latency)
        self.statuses[status] += 1
        if status != ok_status and len(self.samples) < 3:
            self.samples.append(f"{status}: {detail()[:300]}")

    def ok(self, ok_status: int) -> int:
        return self.statuses[ok_status]

    def failures(self, ok_status: int) -> int:
        return sum(count for status, count in self.statuses.items() if status != ok_status)

    def rate(self, ok_status: int) -> float:
        return self.ok(ok_status) / self.elapsed if self.elapsed > 0 else math.nan

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    def pcts(self) -> str:
        return f"p50 {self.ms(50):.1f} p95 {self.ms(95):.1f} p99 {self.ms(99):.1f} ms"

    def cpu(self) -> str:
        if math.isnan(self.server_cpu) or self.elapsed <= 0:
            return f"load generator {self.client_cpu / self.elapsed:.2f} cores"
        per_request = self.server_cpu / len(self.latencies) * 1000 if self.latencies else math.nan
        return (
            f"server process {self.server_cpu / self.elapsed:.2f} cores ({per_request:.1f} ms CPU a request), "
            f"load generator {self.client_cpu / self.elapsed:.2f} cores"
        )


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live children, e.g. uvicorn's workers."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
        return sum(sum(proc.cpu_times()[:2]) for proc in tree)
    except psutil.Error:
        return math.nan


# ------------------------------------------------------------------------------ workload


class Workload:
    """Unique, valid create-booking requests: new customer (email and phone) and key every time."""

    def __init__(self, first_day: dt.date, token: str) -> None:
        self.first_day = first_day
        self.counter = itertools.count()
        self.authorization = f"Bearer {token}"  # a service's access token, as the agent process sends

    def next_request(self) -> tuple[dict[str, str], dict[str, Any]]:
        i = next(self.counter)
        day = self.first_day + dt.timedelta(days=(i * DAY_STRIDE) % DAYS)
        slot = SLOTS[(i // DAYS) % len(SLOTS)]
        address, _ = ADDRESSES[i % len(ADDRESSES)]
        adults, kids = 8 + i % 20, i % 4
        body: dict[str, Any] = {
            "source": "web",
            "customer": {
                "first_name": "Bench",
                "last_name": f"Customer {i}",
                "email": f"bench.customer.{i}@example.com",
                "phone": f"+1916{i % 10_000_000:07d}",
                "consent_sms": False,
            },
            "booking": {
                "date": day.isoformat(),
                "slot": slot,
                "address": address,
                "party": {"adults": adults, "kids": kids},
                "upgrades": {} if i % 3 == 0 else {"lobster_tail": 1 + i % 4},
                "notes": "Back yard, gate code 1234" if i % 2 else None,
            },
        }
        return {"Idempotency-Key": str(uuid.uuid4()), "Authorization": self.authorization}, body


class LeanClient:
    """A minimal HTTP/1.1 keep-alive client for the load generator. It shares the two cores with the
    server under test, and httpx spent several times more CPU per request than this."""

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        parsed = urlsplit(base_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.timeout = timeout
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post_json(self, path: str, body: Any, headers: dict[str, str]) -> tuple[int, bytes]:
        payload = json.dumps(body).encode()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n{head}\r\n"
        ).encode() + payload
        while self.idle:
            # A kept-alive connection the server closed while idle (uvicorn: after 5 s) fails before any
            # byte of the response: send again on another one (the Idempotency-Key makes that safe).
            reader, writer = self.idle.pop()
            try:
                return await self._exchange(reader, writer, request)
            except (asyncio.IncompleteReadError, ConnectionError) as error:
                if isinstance(error, asyncio.IncompleteReadError) and error.partial:
                    raise
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return await self._exchange(reader, writer, request)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> tuple[int, bytes]:
        try:
            writer.write(request)
            status, response = await asyncio.wait_for(self._read_response(reader), self.timeout)
        except BaseException:
            writer.close()
            raise
        self.idle.append((reader, writer))
        return status, response

    @staticmethod
    async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
        return status, await reader.readexactly(length)

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def post_booking(client: LeanClient, workload: Workload) -> tuple[int, Callable[[], str]]:
    headers, body = workload.next_request()
    try:
        status, response = await client.post_json(ENDPOINT, body, headers)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
        message = f"{type(error).__name__}: {error}"
        return 0, lambda: message
    return status, lambda: response.decode(errors="replace")


# ------------------------------------------------------------------------------ phases over HTTP


async def closed_loop(base_url: str, clients: int, duration: float, workload: Workload, name: str) -> PhaseResult:
    """`clients` clients, each sending its next request as soon as the previous one answered."""
    result = PhaseResult(name)
    client = LeanClient(base_url)
    start = time.perf_counter()
    deadline = start + duration

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            status, detail = await post_booking(client, workload)
            result.record(time.perf_counter() - sent, status, 201, detail)

    await asyncio.gather(*(one_client() for _ in range(clients)))
    result.elapsed = time.perf_counter() - start
    await client.close()
    return result


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


def run_http_phase(server_pid: int, phase: Callable[[], Awaitable[PhaseResult]]) -> PhaseResult:
    client_cpu, server_cpu = time.process_time(), process_cpu_seconds(server_pid)

    async def go() -> PhaseResult:
        return await phase()

    result = asyncio.run(go())
    result.client_cpu = time.process_time() - client_cpu
    result.server_cpu = process_cpu_seconds(server_pid) - server_cpu
    return result


# ------------------------------------------------------------------------------ the direct floor


def fake_ciphertext(plaintext: str) -> bytes:
    """Random bytes the size of db.pii's ciphertext of `plaintext` (header, nonce, tag)."""
    return os.urandom(2 + len(DIRECT_KEY_ID) + 12 + len(plaintext.encode()) + 16)


def direct_floor(database_url: str, threads: int, duration: float, chef_ids: list[uuid.UUID]) -> PhaseResult:
    """The rows the command writes, straight through psycopg, one transaction each (the floor)."""
    result = PhaseResult("direct")
    counter = itertools.count()
    lock = threading.Lock()
    per_day = len(chef_ids) * len(SLOTS)
    slots = [dt.time.fromisoformat(s) for s in SLOTS]
    ready = threading.Barrier(threads + 1)
    deadline = 0.0

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
            " (%s, %s, %s, 8)",
            (
                "payments.create_deposit_link",
                Jsonb(message | {"amount_cents": 10000}),
                booking_id,
                "notify.booking_confirmation",
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
        with psycopg.connect(libpq_url(database_url)) as conn:
            ready.wait()
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
    ready.wait()  # every thread connected: start the clock
    cpu = time.process_time()
    start = time.perf_counter()
    deadline = start + duration
    for thread in workers:
        thread.join()
    result.elapsed = time.perf_counter() - start
    result.client_cpu = time.process_time() - cpu
    return result


# ------------------------------------------------------------------------------ setup and the server


def serve(
    database_url: str, business_file: str, port: int, workers: int, keys: dict[str, str]
) -> subprocess.Popen[bytes]:
    """The server: the app as `hibachi run` serves it with WEB_WORKERS processes, minus the access log."""
    env = os.environ | {
        "DATABASE_URL": database_url,
        "BUSINESS_FILE": business_file,
        **keys,
    }
    command = [
        sys.executable, "-m", "api.serve", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=HERE.parent)


def answers(url: str) -> bool:
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def admin_server(requested: str) -> str:
    """The requested server, or an embedded Postgres in a temporary directory if nothing answers."""
    if answers(requested):
        return requested
    print(f"no Postgres answers at {requested}; starting an embedded one", flush=True)
    data_dir = Path(tempfile.mkdtemp(prefix="hibachi-bench-pg-"))
    # Registered first so it runs last (atexit is LIFO), after the embedded server has stopped.
    atexit.register(shutil.rmtree, data_dir, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return start_embedded(data_dir)


def prepare_database(database_url: str, business_file: Path) -> list[uuid.UUID]:
    """Migrate, load the business file; returns the chef ids (for the direct floor)."""
    processes.prepare_database(database_url, business_file)
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute("SELECT id FROM core.chefs WHERE active ORDER BY ordinal").fetchall()
    return [uuid.UUID(str(row[0])) for row in rows]


def count_app_bookings(database_url: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM core.bookings WHERE reference NOT LIKE 'DF-%'").fetchone()
    return int(row[0]) if row else 0


# ------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measured phase (default 20)")
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop offered load, req/s (default 100)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients / direct threads (default 16)")
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
    if args.duration <= 0 or args.rate <= 0 or args.clients < 1:
        parser.error("--duration and --rate must be positive, --clients at least 1")
    return args


def verdict(passed: bool) -> str:
    return "met" if passed else "MISSED"


def report_failures(result: PhaseResult) -> None:
    if result.failures(201):
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(result.statuses.items()))
        print(f"  {result.name}: statuses {statuses}")
        for sample in result.samples:
            print(f"    e.g. {sample}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", *(sys.argv if argv is None else ["bench/commands.py", *argv])])
    duration, clients, rate = args.duration, args.clients, args.rate
    warmup = min(3.0, max(1.0, duration / 5))

    admin_url = admin_server(args.admin_url)
    db_name = f"hibachi_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    database_url = ensure_database(admin_url, db_name)
    process: subprocess.Popen[bytes] | None = None
    try:
        chef_ids = prepare_database(database_url, args.business)
        business = load_business(args.business)
        today = dt.datetime.now(ZoneInfo(business.timezone)).date()
        if business.calendar.max_days_ahead < FIRST_DAY_OFFSET + DAYS:
            raise SystemExit(f"{args.business}: max_days_ahead must be at least {FIRST_DAY_OFFSET + DAYS}")
        keys = fresh_keys("bench1")
        issuer = TokenIssuer(decode_key(keys["TOKEN_SIGNING_KEY"], name="TOKEN_SIGNING_KEY"), SystemClock())
        token = issuer.issue("bench", permissions_of("ai_service"), ttl=6 * 3600).token
        workload = Workload(today + dt.timedelta(days=FIRST_DAY_OFFSET), token)

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        process = serve(database_url, str(args.business), port, args.workers, keys)
        wait_until_healthy(base_url, process)
        server_pid = process.pid or 0
        print(
            f"server: {base_url} (pid {server_pid}, {args.workers} workers), database {db_name}, "
            f"{len(chef_ids)} chefs, {os.cpu_count()} cores",
            flush=True,
        )

        run_http_phase(server_pid, lambda: closed_loop(base_url, clients, warmup, workload, "warm-up"))
        print(f"warm-up: {warmup:.0f} s done", flush=True)

        ours = run_http_phase(server_pid, lambda: closed_loop(base_url, clients, duration, workload, "capacity"))
        print(
            f"capacity: {ours.rate(201):.1f} req/s, {ours.pcts()}, {ours.ok(201)} created, "
            f"non-201 {ours.failures(201)}; {ours.cpu()}",
            flush=True,
        )

        direct = direct_floor(database_url, clients, duration, chef_ids)
        print(
            f"direct psycopg: {direct.rate(201):.1f} req/s, {direct.pcts()}, failed {direct.failures(201)}; "
            f"{direct.cpu()}",
            flush=True,
        )

        latency = run_http_phase(server_pid, lambda: open_loop(base_url, rate, duration, workload, "latency"))
        print(
            f"latency: {latency.pcts()}, achieved {latency.rate(201):.1f} req/s, non-201 {latency.failures(201)}, "
            f"client send lag p99 {latency.extra['send_lag_p99_ms']:.1f} ms; {latency.cpu()}",
            flush=True,
        )

        if latency.rate(201) < 0.95 * rate:
            print(
                f"note: the server did not keep up with the offered {rate:g} req/s (capacity above: "
                f"{ours.rate(201):.1f} req/s); the open-loop latencies are mostly time queued behind earlier requests",
                flush=True,
            )
        created = ours.ok(201) + latency.ok(201)
        stored = count_app_bookings(database_url)
        print(f"check: {stored} app bookings in the database (warm-up included); {created} measured 201s")
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        drop_database(admin_url, db_name)

    ratio = ours.rate(201) / direct.rate(201) if direct.rate(201) > 0 else math.nan
    ratio_text = f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.3f}"
    p95 = latency.ms(95)
    secs = f"{duration:g} s"
    print()
    for phase in (ours, direct, latency):
        report_failures(phase)
    print(f"  command: {command}")
    print(
        f"  capacity ({clients} clients, {secs}): {ours.rate(201):.1f} req/s, {ours.pcts()}, "
        f"non-201 {ours.failures(201)}; direct psycopg: {direct.rate(201):.1f} req/s; "
        f"ratio {ratio_text} (target >= {CAPACITY_RATIO_TARGET}: {verdict(ratio >= CAPACITY_RATIO_TARGET)})"
    )
    print(
        f"  latency (open loop {rate:g} req/s, {secs}): {latency.pcts()}, achieved {latency.rate(201):.1f} req/s, "
        f"non-201 {latency.failures(201)} (target p95 < {LATENCY_P95_TARGET_MS:g} ms: "
        f"{verdict(p95 < LATENCY_P95_TARGET_MS)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
