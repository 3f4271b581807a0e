"""Benchmark of scaling out on one Postgres: create-booking throughput with 1 and 2 API processes,
and the outbox's drain rate with 1 and 2 outbox worker processes, and the ratio of each to the first.

    .venv/bin/python bench/scale_out.py [--processes 1,2] [--duration 10] [--clients 16]
        [--messages 3000] [--provider-ms 2] [--admin-url URL] [--business FILE]

API: for each count N in --processes, a fresh database and the real app served by `api.serve
--workers N` (N processes, each its own SO_REUSEPORT socket); a short warm-up, then --clients
clients post bookings back to back for --duration seconds (bench/commands.py's capacity phase),
then ask for quotes (`GET /queries/quote`: authentication, validation and pricing, no write) for
as long. Each line says how busy the whole machine was: on a machine whose cores the server already
shares with Postgres and the load generator, a second process has no core to run on, and the
bookings cannot grow however many processes serve them; the quotes, which hardly touch Postgres,
show what a second process adds when there is a core for it.

Outbox: for each N, a fresh database and N outbox worker processes (bench/outbox.py --processes:
`OutboxDispatcher.run` in a process of its own, woken by NOTIFY) against fake providers that take
--provider-ms a call and count effects by idempotency key; --messages rows committed at once and
timed until none is pending, with a check that each took effect exactly once.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    DEFAULT_ADMIN_URL,
    DEFAULT_BUSINESS_FILE,
    LeanClient,
    PhaseResult,
    closed_loop,
    counts,
    run_http_phase,
    served_app,
)
from bench.outbox import WARM_UP_MESSAGES, Dispatchers, drain, outbox_database, warm_up

QUOTE = "/queries/quote?adults=12&kids=3&zip=95816&upgrades=lobster_tail:4"


def api_capacity(args: argparse.Namespace, processes: int) -> tuple[PhaseResult, PhaseResult]:
    """Bookings, then quotes, each for --duration seconds against `processes` API processes."""
    warmup = min(3.0, max(1.0, args.duration / 5))
    with served_app(args.admin_url, args.business, processes, prefix="hibachi_bench_scale") as app:
        print(app.describe(), flush=True)
        workload = app.workload()
        run_http_phase(app.pid, partial(closed_loop, app.base_url, args.clients, warmup, workload, "warm-up"))
        name = f"API bookings, {processes} processes"
        bookings = run_http_phase(
            app.pid, partial(closed_loop, app.base_url, args.clients, args.duration, workload, name)
        )
        print(f"{name}: {bookings.throughput()}; {bookings.cpu()}", flush=True)

        headers = {"Authorization": workload.authorization}

        async def ask_quote(client: LeanClient) -> tuple[int, Callable[[], str]]:
            status, response = await client.get(QUOTE, headers)
            return status, lambda: response.decode(errors="replace")

        quote = partial(closed_loop, app.base_url, args.clients, send=ask_quote, ok_status=200)
        run_http_phase(app.pid, partial(quote, warmup, workload, "warm-up"))
        name = f"API quotes, {processes} processes"
        quotes = run_http_phase(app.pid, partial(quote, args.duration, workload, name))
        print(f"{name}: {quotes.throughput(200)}; {quotes.cpu()}", flush=True)
    return bookings, quotes


def outbox_drain(args: argparse.Namespace, processes: int) -> tuple[float, int, int]:
    """Messages a second drained by `processes` worker processes; how many took effect once, and more."""
    with (
        outbox_database(args.admin_url, args.provider_ms, poll=0.05, wake=True) as (producer, settings),
        Dispatchers(settings, processes, processes=True) as dispatchers,
    ):
        warm_up(producer, settings.database_url)
        seconds = drain(producer, settings.database_url, args.messages)
    effects = dispatchers.effects.values()
    once, more = sum(1 for count in effects if count == 1), sum(1 for count in effects if count > 1)
    rate = args.messages / seconds
    print(
        f"outbox, {processes} worker processes: {args.messages} messages in {seconds:.2f} s, {rate:.1f} msg/s; "
        f"{once} took effect once, {more} more than once",
        flush=True,
    )
    return rate, once, more


def ratio(value: float, base: float) -> str:
    return f"x{value / base:.2f}" if base > 0 else "x?"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--processes", type=counts, default=[1, 2], help="process counts to compare (default 1,2)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each API run (default 10)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients (default 16)")
    parser.add_argument("--messages", type=int, default=3000, help="outbox backlog of each drain (default 3000)")
    parser.add_argument("--provider-ms", type=float, default=2.0, help="fake provider time a call (default 2)")
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--business", type=Path, default=DEFAULT_BUSINESS_FILE)
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.clients < 1 or args.messages < 1:
        parser.error("--duration must be positive, --clients and --messages at least 1")
    command = shlex.join(["python", "bench/scale_out.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"{os.cpu_count()} cores", flush=True)

    api = [(n, api_capacity(args, n)) for n in args.processes]
    outbox = [(n, outbox_drain(args, n)) for n in args.processes]

    print()
    for _, (bookings, quotes) in api:
        bookings.report_failures()
        quotes.report_failures(200)
    print(f"  command: {command}")
    (base_bookings, base_quotes), base_outbox = api[0][1], outbox[0][1][0]
    first = args.processes[0]
    for n, (bookings, quotes) in api:
        runs = (("bookings", bookings, 201, base_bookings), ("quotes", quotes, 200, base_quotes))
        for what, result, ok, base in runs:
            busy = result.machine_cpu / result.elapsed
            print(
                f"  API {what}, {n} processes ({args.clients} clients, {args.duration:g} s): "
                f"{result.throughput(ok)}; {ratio(result.rate(ok), base.rate(ok))} vs {first}; "
                f"machine {busy:.2f} of {os.cpu_count()} cores busy"
            )
    each_once = True
    for n, (rate, once, more) in outbox:
        expected = args.messages + WARM_UP_MESSAGES
        each_once = each_once and once == expected and more == 0
        check = f"{once}/{expected} took effect once, {more} more than once"
        print(
            f"  outbox, {n} worker processes ({args.messages} messages, {args.provider_ms:g} ms a call): "
            f"{rate:.1f} msg/s; {ratio(rate, base_outbox)} vs {first}; {check}"
        )
    answered = all(b.failures(201) == 0 and q.failures(200) == 0 for _, (b, q) in api)
    return 0 if each_once and answered else 1


if __name__ == "__main__":
    sys.exit(main())
