"""Benchmark of the staff inbox over HTTP: the inbox list and the thread view with 10,000 threads and
100,000 messages (--threads, --messages-per-thread), one client, as a logged-in staff member.

    .venv/bin/python bench/inbox.py [--threads 10000] [--messages-per-thread 10] [--requests 300]

A fresh database (`hibachi_bench_inbox_<pid>_<random>`) on `--admin-url` (default
`$BENCH_DATABASE_URL`, else the 5432 service, else an embedded Postgres) is migrated and filled the way
the app would have filled it (encrypted customers, thread contacts and message bodies; the inbox read
model), in bulk with COPY. The real app is served in a separate process (`api.serve`, one worker) with
the same keys. Then one client asks, in turn, for the inbox page (`GET /admin`), its rows partial
with a filter (`GET /admin/inbox/rows?human=1`), a search by phone, and a random thread's page
(`GET /admin/threads/<id>`), and prints p50/p95/p99 of each. Target: p95 < 50 ms each.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import admin_server, prepare_database, serve
from db.embedded import drop_database, ensure_database
from db.engine import libpq_url
from db.identity import token_hash
from db.pii import BlindIndex, FieldCipher, decode_key, parse_keyring
from db.threads import BODY, CONTACT, MESSAGES, THREADS
from evals.results import percentile
from hibachi.business_file import DEFAULT_BUSINESS_FILE
from hibachi.processes import free_port, wait_until_healthy
from hibachi.settings import fresh_keys

TARGET_MS = 50.0
FIRST_NAMES = ["Dana", "Ana", "Sam", "Maya", "Leo", "Priya", "Kenji", "Rosa", "Omar", "Ivy"]
LAST_NAMES = ["Lee", "Ruiz", "Ortiz", "Chen", "Patel", "Kim", "Nguyen", "Diaz", "Stone", "Park"]
SAID = [
    "hi! do you do hibachi parties on dec 12?",
    "6pm, 12 adults and 3 kids",
    "2400 J St, Sacramento, CA 95816",
    "can I talk to someone about allergies?",
    "thanks, see you then",
]
REPLIED = [
    "What time works on Saturday, December 12? We start at 12pm, 3pm, 6pm or 9pm.",
    "What's the address of the party, with the ZIP code?",
    "Who should I put the booking under? (first and last name)",
    "Of course! I've asked someone from our team to take over.",
]


def seed(database_url: str, keys: dict[str, str], threads: int, per_thread: int) -> tuple[list[str], str, str]:
    """Customers, threads, messages and the inbox read model; a staff user and their session.
    Returns the thread ids, the session cookie and a phone to search for."""
    keyring = parse_keyring(keys["PII_KEYS"])
    cipher = FieldCipher(keyring, keys["PII_ACTIVE_KEY_ID"])
    blind = BlindIndex(decode_key(keys["BLIND_INDEX_KEY"], name="BLIND_INDEX_KEY"))
    rng = random.Random(7)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    thread_ids: list[str] = []
    phones: list[str] = []
    with psycopg.connect(libpq_url(database_url)) as conn:
        with conn.cursor().copy(
            "COPY core.customers (id, first_name_enc, last_name_enc, phone_enc, phone_bidx, first_name_bidx,"
            " last_name_bidx, full_name_bidx) FROM STDIN"
        ) as copy:
            customers = []
            for i in range(threads // 2):
                cid = str(uuid.uuid4())
                first, surname = rng.choice(FIRST_NAMES), f"{rng.choice(LAST_NAMES)}{i}"
                phone = f"+1916{2000000 + i:07d}"
                customers.append((cid, phone))
                copy.write_row(
                    (
                        cid,
                        cipher.encrypt(first, table="core.customers", column="first_name_enc", row_id=cid),
                        cipher.encrypt(surname, table="core.customers", column="last_name_enc", row_id=cid),
                        cipher.encrypt(phone, table="core.customers", column="phone_enc", row_id=cid),
                        blind.of("phone", phone),
                        blind.of("name", first.lower()),
                        blind.of("name", surname.lower()),
                        blind.of("name", f"{first} {surname}".lower()),
                    )
                )
        rows: list[tuple[str, str | None, str, str, bool]] = []
        for i in range(threads):
            tid = str(uuid.uuid4())
            thread_ids.append(tid)
            customer = customers[i] if i < len(customers) else None
            channel = "sms" if customer else "web"
            contact = customer[1] if customer else f"session-{tid}"
            if customer:
                phones.append(customer[1])
            human = rng.random() < 0.1
            rows.append((tid, customer[0] if customer else None, channel, contact, human))
        with conn.cursor().copy(
            "COPY core.message_threads (id, customer_id, channel, contact_bidx, contact_enc, mode, status, created_at)"
            " FROM STDIN"
        ) as copy:
            for tid, owner, channel, contact, human in rows:
                copy.write_row(
                    (
                        tid,
                        owner,
                        channel,
                        blind.of("phone" if channel == "sms" else f"{channel}-session", contact),
                        cipher.encrypt(contact, table=THREADS, column=CONTACT, row_id=tid),
                        "human" if human else "ai",
                        "open" if human else "pending",
                        start,
                    )
                )
        latest: dict[str, tuple[str, str, datetime]] = {}
        with conn.cursor().copy(
            "COPY core.messages (id, thread_id, direction, author, body_enc, created_at) FROM STDIN"
        ) as copy:
            for n, (tid, _, _, _, _) in enumerate(rows):
                at = start + timedelta(minutes=n)
                for k in range(per_thread):
                    mid = str(uuid.uuid4())
                    inbound = k % 2 == 0
                    body = rng.choice(SAID) if inbound else rng.choice(REPLIED)
                    author = "customer" if inbound else "ai"
                    at = at + timedelta(seconds=30)
                    copy.write_row(
                        (
                            mid,
                            tid,
                            "in" if inbound else "out",
                            author,
                            cipher.encrypt(body, table=MESSAGES, column=BODY, row_id=mid),
                            at,
                        )
                    )
                    latest[tid] = (mid, author, at)
        with conn.cursor().copy(
            "COPY read.inbox_threads (thread_id, customer_id, channel, mode, status, unread_count, last_message_at,"
            " waiting_since, handoff_reason, handoff_requested, last_message_id, last_author) FROM STDIN"
        ) as copy:
            for tid, owner, channel, _, human in rows:
                mid, author, at = latest[tid]
                alert = human and rng.random() < 0.1
                copy.write_row(
                    (
                        tid,
                        owner,
                        channel,
                        "human" if human else "ai",
                        "open" if human else "pending",
                        1 if author == "customer" else 0,
                        at,
                        at if human else None,
                        "customer_asked" if alert else None,
                        alert,
                        mid,
                        author,
                    )
                )
        user_id = str(uuid.uuid4())
        email = "bench.staff@example.com"
        conn.execute(
            "INSERT INTO identity.staff_users (id, email_enc, email_bidx, name_enc, role)"
            " VALUES (%s, %s, %s, %s, 'staff')",
            (
                user_id,
                cipher.encrypt(email, table="identity.staff_users", column="email_enc", row_id=user_id),
                blind.of("staff-email", email),
                cipher.encrypt("Bench Staff", table="identity.staff_users", column="name_enc", row_id=user_id),
            ),
        )
        cookie = uuid.uuid4().hex + uuid.uuid4().hex
        now = datetime.now(UTC)
        conn.execute(
            "INSERT INTO identity.staff_sessions (token_hash, user_id, csrf_token, mfa_passed, method, created_at,"
            " last_seen_at) VALUES (%s, %s, %s, true, 'password', %s, %s)",
            (token_hash(cookie), user_id, uuid.uuid4().hex, now, now),
        )
        conn.execute("ANALYZE")
    return thread_ids, cookie, rng.choice(phones)


def timed(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:200]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=10_000)
    parser.add_argument("--messages-per-thread", type=int, default=10)
    parser.add_argument("--requests", type=int, default=300, help="requests per page measured")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    admin_url = admin_server(args.admin_url)
    name = f"hibachi_bench_inbox_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    database_url = ensure_database(admin_url, name)
    process = None
    try:
        prepare_database(database_url, DEFAULT_BUSINESS_FILE)
        keys = fresh_keys("bench1")
        started = time.perf_counter()
        thread_ids, cookie, phone = seed(database_url, keys, args.threads, args.messages_per_thread)
        messages = args.threads * args.messages_per_thread
        print(f"seeded {args.threads:,} threads, {messages:,} messages in {time.perf_counter() - started:.1f} s")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = serve(database_url, str(DEFAULT_BUSINESS_FILE), port, 1, keys)
        wait_until_healthy(base, process)
        pages: dict[str, Callable[[], str]] = {
            "inbox page  GET /admin": lambda: "/admin",
            "inbox rows  GET /admin/inbox/rows?human=1": lambda: "/admin/inbox/rows?human=1",
            "search      GET /admin/inbox/rows?search=<phone>": lambda: f"/admin/inbox/rows?search={phone}",
            "thread view GET /admin/threads/<id>": lambda: f"/admin/threads/{random.choice(thread_ids)}",
        }
        failed = False
        # Secure cookies are sent over http to 127.0.0.1 by browsers; httpx needs the header set.
        headers = {"Cookie": f"hibachi_session={cookie}", "Accept": "text/html"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for label, url in pages.items():
                for _ in range(20):  # warm-up
                    timed(client, url())
                times = [timed(client, url()) for _ in range(args.requests)]
                p95 = percentile(times, 0.95)
                verdict = "ok" if p95 < TARGET_MS else "OVER TARGET"
                failed |= p95 >= TARGET_MS
                print(
                    f"{label:<50} p50 {percentile(times, 0.5):6.1f} ms  p95 {p95:6.1f} ms"
                    f"  p99 {percentile(times, 0.99):6.1f} ms  ({args.requests} requests;"
                    f" target p95 < {TARGET_MS:.0f}) {verdict}"
                )
        return 1 if failed else 0
    finally:
        if process is not None:
            process.terminate()
            process.wait(20)
        drop_database(admin_url, name)


if __name__ == "__main__":
    sys.exit(main())
