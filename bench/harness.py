"""What the HTTP benchmarks share (bench/commands.py, bench/projections.py, bench/scale_out.py): a
fresh database migrated and loaded with the bench business, the real app served by `api.serve` in
its own processes, the create-booking workload, a lean keep-alive HTTP client, a closed loop of
clients, percentiles and CPU accounting. Every database made here is dropped and every server
process stopped on the way out, even after a failure or Ctrl-C.
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
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import psutil
import psycopg

from db.embedded import drop_database, ensure_database, start_embedded
from db.engine import libpq_url
from db.pii import decode_key
from domain.access import permissions_of
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

# Bookings are spread over DAYS dates, DAY_STRIDE days apart from one request to the next (7 is
# coprime with 1000, so every date is visited once per sweep), and the slot moves on each sweep:
# concurrent requests never lock the same chef-days and no date fills up (1 booking a date per
# 1000 requests, against 20 chefs x 2 events a date).
DAYS = 1000
DAY_STRIDE = 7
FIRST_DAY_OFFSET = 3  # min_days_ahead is 2; one more day keeps clear of the midnight edge
SLOTS = ("12:00", "15:00", "18:00", "21:00")
ADDRESSES = (  # one per zone: A (no travel fee), B, C
    ("2400 J St, Sacramento, CA 95816", "95816"),
    ("100 Vernon St, Roseville, CA 95678", "95678"),
    ("500 Castro St, Mountain View, CA 94041", "94041"),
)


# ------------------------------------------------------------------------------ results


def counts(text: str) -> list[int]:
    """`16,64` -> [16, 64] (an argparse type: clients, processes, ... one run each)."""
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not numbers or min(numbers) < 1:
        raise argparse.ArgumentTypeError("each count must be at least 1")
    return numbers


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
    machine_cpu: float = math.nan  # CPU seconds every process on the machine spent (Postgres too)
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

    def throughput(self, ok_status: int = 201) -> str:
        return f"{self.rate(ok_status):.1f} req/s, {self.pcts()}, non-{ok_status} {self.failures(ok_status)}"

    def report_failures(self, ok_status: int = 201) -> None:
        """The statuses and the first few failures, when there were any."""
        if self.failures(ok_status):
            statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
            print(f"  {self.name}: statuses {statuses}")
            for sample in self.samples:
                print(f"    e.g. {sample}")

    def cpu(self) -> str:
        if math.isnan(self.server_cpu) or self.elapsed <= 0:
            return f"load generator {self.client_cpu / self.elapsed:.2f} cores"
        per_request = self.server_cpu / len(self.latencies) * 1000 if self.latencies else math.nan
        machine = "" if math.isnan(self.machine_cpu) else f", machine {self.machine_cpu / self.elapsed:.2f} cores busy"
        return (
            f"server process {self.server_cpu / self.elapsed:.2f} cores ({per_request:.1f} ms CPU a request), "
            f"load generator {self.client_cpu / self.elapsed:.2f} cores{machine}"
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
        return await self._send(request)

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return await self._send(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}\r\n".encode())

    async def _send(self, request: bytes) -> tuple[int, bytes]:
        while self.idle:
            # A kept-alive connection the server closed while idle (uvicorn: after 5 s) fails before any
            # byte of the response: send again on another one (a GET, or a POST's Idempotency-Key,
            # makes that safe).
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


Send = Callable[[LeanClient], Awaitable[tuple[int, Callable[[], str]]]]


async def closed_loop(
    base_url: str,
    clients: int,
    duration: float,
    workload: Workload,
    name: str,
    *,
    send: Send | None = None,
    ok_status: int = 201,
) -> PhaseResult:
    """`clients` clients, each sending its next request as soon as the previous one answered: the
    workload's bookings, or whatever `send` sends (answered `ok_status` when it went well)."""
    result = PhaseResult(name)
    client = LeanClient(base_url)
    start = time.perf_counter()
    deadline = start + duration

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            status, detail = await (send(client) if send else post_booking(client, workload))
            result.record(time.perf_counter() - sent, status, ok_status, detail)

    await asyncio.gather(*(one_client() for _ in range(clients)))
    result.elapsed = time.perf_counter() - start
    await client.close()
    return result


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores, everything but idle and I/O wait)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def run_http_phase(server_pid: int, phase: Callable[[], Awaitable[PhaseResult]]) -> PhaseResult:
    client_cpu, server_cpu = time.process_time(), process_cpu_seconds(server_pid)
    machine_cpu = machine_cpu_seconds()

    async def go() -> PhaseResult:
        return await phase()

    result = asyncio.run(go())
    result.client_cpu = time.process_time() - client_cpu
    result.server_cpu = process_cpu_seconds(server_pid) - server_cpu
    result.machine_cpu = machine_cpu_seconds() - machine_cpu
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


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (api.serve stops its workers), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def connection_headroom(database_url: str) -> int:
    """How many more connections the Postgres server takes now (max_connections less those open)."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        ).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def fresh_database(requested_admin_url: str, prefix: str) -> Iterator[str]:
    """A new, empty database `<prefix>_<pid>_<random>` on the admin server (or an embedded Postgres
    when nothing answers there); yields its URL and drops it at the end."""
    admin_url = admin_server(requested_admin_url)
    db_name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    database_url = ensure_database(admin_url, db_name)
    try:
        yield database_url
    finally:
        drop_database(admin_url, db_name)


@dataclass
class ServedApp:
    """The app under test: where it answers, its database, and what a client needs to call it."""

    base_url: str
    database_url: str
    process: subprocess.Popen[bytes]
    workers: int
    chef_ids: list[uuid.UUID]
    token: str  # an ai_service access token, as the agent process sends
    first_day: dt.date  # the first bookable date the workload uses

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def workload(self) -> Workload:
        return Workload(self.first_day, self.token)

    def describe(self) -> str:
        name = self.database_url.rsplit("/", 1)[-1]
        return (
            f"server: {self.base_url} (pid {self.pid}, {self.workers} workers), database {name}, "
            f"{len(self.chef_ids)} chefs, {os.cpu_count()} cores"
        )


@contextmanager
def served_app(admin_url: str, business_file: Path, workers: int, prefix: str = "hibachi_bench") -> Iterator[ServedApp]:
    """A fresh database with the business loaded, and the real app serving it with `workers`
    processes on a free loopback port; stops the server and drops the database at the end."""
    business = load_business(business_file)
    if business.calendar.max_days_ahead < FIRST_DAY_OFFSET + DAYS:
        raise SystemExit(f"{business_file}: max_days_ahead must be at least {FIRST_DAY_OFFSET + DAYS}")
    with fresh_database(admin_url, prefix) as database_url:
        chef_ids = prepare_database(database_url, business_file)
        keys = fresh_keys("bench1")
        issuer = TokenIssuer(decode_key(keys["TOKEN_SIGNING_KEY"], name="TOKEN_SIGNING_KEY"), SystemClock())
        token = issuer.issue("bench", permissions_of("ai_service"), ttl=6 * 3600).token
        today = dt.datetime.now(ZoneInfo(business.timezone)).date()
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        process = serve(database_url, str(business_file), port, workers, keys)
        try:
            wait_until_healthy(base_url, process)
            yield ServedApp(
                base_url, database_url, process, workers, chef_ids, token, today + dt.timedelta(days=FIRST_DAY_OFFSET)
            )
        finally:
            stop_server(process)
