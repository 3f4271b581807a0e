"""An offline Plaid: a small HTTP server speaking the subset of Plaid's API the adapter uses, so the
real `plaid-python` client and our adapter run unchanged against it (tests, and the demo when no
Plaid keys are set: `hibachi plaid fake`).

Served: `/transactions/sync` (opaque cursors, `count`-sized pages, `has_more`),
`/webhook_verification_key/get` (an ES256 JWK), `/sandbox/public_token/create` and
`/item/public_token/exchange`. Test knobs add credits and debits (pending, then posted), modify and
remove transactions, make one sync request fail with TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION,
and build or send a correctly signed webhook (or a tampered one).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

DEFAULT_PORT = 8765
log = logging.getLogger(__name__)


@dataclass
class FakeItem:
    item_id: str
    access_token: str
    webhook: str | None = None
    # The change log: ("added" | "modified", transaction) or ("removed", transaction id). A cursor
    # is a position in it.
    log: list[tuple[str, Any]] = field(default_factory=list)
    current: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakePlaid:
    def __init__(self, *, page_size: int | None = None) -> None:
        self.items: dict[str, FakeItem] = {}
        self.by_token: dict[str, FakeItem] = {}
        self.public_tokens: dict[str, FakeItem] = {}
        self.key = ECKey.generate_key("P-256", private=True)
        self.kid = "fake-" + secrets.token_hex(8)
        self.key_created = int(time.time())
        self.page_size = page_size  # caps every page below the client's `count` when set
        self.sync_requests: list[str | None] = []  # the cursor of every /transactions/sync call
        self._fail_at: int | None = None
        self._on_fail: Callable[[], None] | None = None
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._seq = 0

    # ------------------------------------------------------------------ server
    def start(self, port: int = 0) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = None
                status, answer = fake.handle(self.path, body, self.headers.get("PLAID-CLIENT-ID"))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="fake-plaid").start()
        return self.base_url

    def start_somewhere(self) -> str:
        """Start on DEFAULT_PORT (where the app looks for the fake by default), or any free port."""
        try:
            return self.start(DEFAULT_PORT)
        except OSError:
            return self.start(0)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, path: str, body: Any, client_id: str | None) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return _error(400, "INVALID_REQUEST", "INVALID_BODY", "body must be a JSON object")
        if not client_id and not path.startswith("/fake/"):
            return _error(400, "INVALID_REQUEST", "MISSING_FIELDS", "client_id is required")
        routes: dict[str, Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]] = {
            "/transactions/sync": self._sync,
            "/webhook_verification_key/get": self._key,
            "/sandbox/public_token/create": self._public_token,
            "/item/public_token/exchange": self._exchange,
            "/fake/credit": self._demo_credit,
        }
        route = routes.get(path)
        if route is None:
            return _error(404, "INVALID_REQUEST", "UNKNOWN_ROUTE", f"not served by the fake: {path}")
        with self._lock:
            return route(body)

    def _sync(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        item = self.by_token.get(str(body.get("access_token")))
        if item is None:
            return _error(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", "unknown access token")
        cursor = body.get("cursor") or None
        self.sync_requests.append(cursor)
        if self._fail_at is not None:
            self._fail_at -= 1
            if self._fail_at <= 0:
                self._fail_at = None
                if self._on_fail is not None:
                    self._on_fail()
                return _error(
                    400,
                    "TRANSACTIONS_ERROR",
                    "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
                    "Underlying transaction data changed since last page was fetched. Please restart pagination "
                    "from last update.",
                )
        start = 0
        if cursor:
            owner, _, position = str(cursor).partition(":")
            if owner != item.item_id or not position.isdigit() or int(position) > len(item.log):
                return _error(400, "INVALID_INPUT", "INVALID_FIELD", "cursor is not valid for this item")
            start = int(position)
        count = int(body.get("count") or 100)
        if self.page_size:
            count = min(count, self.page_size)
        changes = item.log[start : start + count]
        end = start + len(changes)
        return 200, {
            "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
            "accounts": [],
            "added": [t for kind, t in changes if kind == "added"],
            "modified": [t for kind, t in changes if kind == "modified"],
            "removed": [
                {"transaction_id": t, "account_id": "acc_fake_checking"} for kind, t in changes if kind == "removed"
            ],
            "next_cursor": f"{item.item_id}:{end}",
            "has_more": end < len(item.log),
            "request_id": _request_id(),
        }

    def _key(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("key_id") != self.kid:
            return _error(400, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID", "unknown key id")
        public = self.key.as_dict(private=False)
        jwk: dict[str, Any] = {"alg": "ES256", "crv": public["crv"], "kid": self.kid, "kty": "EC", "use": "sig"}
        jwk |= {"x": public["x"], "y": public["y"], "created_at": self.key_created, "expired_at": None}
        return 200, {"key": jwk, "request_id": _request_id()}

    def _public_token(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        options = body.get("options") or {}
        item = self.add_item(webhook=options.get("webhook"))
        token = "public-sandbox-" + secrets.token_hex(12)
        self.public_tokens[token] = item
        return 200, {"public_token": token, "request_id": _request_id()}

    def _exchange(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        item = self.public_tokens.pop(str(body.get("public_token")), None)
        if item is None:
            return _error(400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN", "unknown or used public token")
        return 200, {"access_token": item.access_token, "item_id": item.item_id, "request_id": _request_id()}

    def _demo_credit(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Demo knob over HTTP (not Plaid's API): a credit lands on the item (the only one when
        `item_id` is omitted) and a signed SYNC_UPDATES_AVAILABLE goes to its webhook."""
        item_id = body.get("item_id") or (next(iter(self.items)) if len(self.items) == 1 else None)
        if item_id not in self.items:
            return _error(400, "INVALID_INPUT", "UNKNOWN_ITEM", "name an existing item_id")
        try:
            amount = int(body["amount_cents"])
        except (KeyError, TypeError, ValueError):
            return _error(400, "INVALID_INPUT", "INVALID_FIELD", "amount_cents must be an integer")
        transaction_id = self.add_credit(
            str(item_id),
            amount,
            payer=body.get("payer"),
            memo=str(body.get("memo") or ""),
            pending=bool(body.get("pending")),
        )
        if self.items[str(item_id)].webhook:
            # Sent after this answer: verifying it makes the app call back here for the key.
            threading.Thread(target=self._deliver, args=(str(item_id),), daemon=True).start()
        return 200, {"transaction_id": transaction_id, "item_id": item_id}

    def _deliver(self, item_id: str) -> None:
        try:
            status = self.send_webhook(item_id)
        except httpx.HTTPError as error:
            log.warning("fake Plaid: webhook for %s not delivered: %s", item_id, error)
            return
        log.info("fake Plaid: webhook for %s answered %s", item_id, status)

    # ------------------------------------------------------------------ knobs
    def add_item(
        self, webhook: str | None = None, *, item_id: str | None = None, access_token: str | None = None
    ) -> FakeItem:
        """A new item (ids random unless given: `make run`'s demo item keeps its ids across runs)."""
        with self._lock:
            item = FakeItem(
                item_id or "item-" + secrets.token_hex(8),
                access_token or "access-sandbox-" + secrets.token_hex(12),
                webhook,
            )
            self.items[item.item_id] = item
            self.by_token[item.access_token] = item
            return item

    def _txn(
        self,
        amount_cents: int,
        *,
        payer: str | None,
        memo: str,
        on: date,
        pending: bool,
        pending_transaction_id: str | None = None,
    ) -> dict[str, Any]:
        self._seq += 1
        counterparties = []
        if payer:
            counterparties = [
                {"name": payer, "type": "payment_app", "website": None, "logo_url": None, "confidence_level": "HIGH"}
            ]
        return {
            "transaction_id": f"txn-{self._seq:05d}-{secrets.token_hex(4)}",
            "account_id": "acc_fake_checking",
            "amount": -amount_cents / 100,  # Plaid: money in is negative
            "iso_currency_code": "USD",
            "unofficial_currency_code": None,
            "date": on.isoformat(),
            "authorized_date": on.isoformat(),
            "authorized_datetime": None,
            "datetime": None,
            "pending": pending,
            "pending_transaction_id": pending_transaction_id,
            "name": memo,
            "merchant_name": None,
            "counterparties": counterparties,
            "payment_channel": "other",
            "transaction_code": None,
            "account_owner": None,
        }

    def add_credit(
        self,
        item_id: str,
        amount_cents: int,
        *,
        payer: str | None = None,
        memo: str = "",
        on: date | None = None,
        pending: bool = False,
    ) -> str:
        """Money in (stored by Plaid as a negative amount); its transaction id."""
        return self._add(item_id, amount_cents, payer=payer, memo=memo, on=on, pending=pending)

    def add_debit(self, item_id: str, amount_cents: int, *, memo: str = "CARD PURCHASE", on: date | None = None) -> str:
        return self._add(item_id, -amount_cents, payer=None, memo=memo, on=on, pending=False)

    def _add(self, item_id: str, amount_cents: int, **fields: Any) -> str:
        with self._lock:
            fields["on"] = fields.get("on") or date(2026, 12, 1)
            txn = self._txn(amount_cents, **fields)
            item = self.items[item_id]
            item.log.append(("added", txn))
            item.current[txn["transaction_id"]] = txn
            return str(txn["transaction_id"])

    def post(self, item_id: str, pending_id: str, *, on: date | None = None) -> str:
        """The pending transaction settles, as Plaid reports it: a new posted transaction naming the
        pending one (`pending_transaction_id`) is added and the pending one removed."""
        with self._lock:
            item = self.items[item_id]
            old = item.current.pop(pending_id)
            txn = self._txn(
                -round(old["amount"] * 100),
                payer=(old["counterparties"] or [{}])[0].get("name"),
                memo=old["name"],
                on=on or date.fromisoformat(old["date"]),
                pending=False,
                pending_transaction_id=pending_id,
            )
            item.log.append(("added", txn))
            item.log.append(("removed", pending_id))
            item.current[txn["transaction_id"]] = txn
            return str(txn["transaction_id"])

    def modify(
        self, item_id: str, transaction_id: str, *, amount_cents: int | None = None, memo: str | None = None
    ) -> None:
        with self._lock:
            item = self.items[item_id]
            txn = dict(item.current[transaction_id])
            if amount_cents is not None:
                txn["amount"] = -amount_cents / 100
            if memo is not None:
                txn["name"] = memo
            item.current[transaction_id] = txn
            item.log.append(("modified", txn))

    def remove(self, item_id: str, transaction_id: str) -> None:
        with self._lock:
            item = self.items[item_id]
            item.current.pop(transaction_id, None)
            item.log.append(("removed", transaction_id))

    def fail_with_mutation(self, on_request: int = 2, *, then: Callable[[], None] | None = None) -> None:
        """The `on_request`-th next /transactions/sync call fails with
        TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION (once); `then` runs just before (the mutation)."""
        with self._lock:
            self._fail_at = on_request
            self._on_fail = then

    # ------------------------------------------------------------------ webhooks
    def webhook_body(
        self, item_id: str, code: str = "SYNC_UPDATES_AVAILABLE", webhook_type: str = "TRANSACTIONS"
    ) -> bytes:
        payload = {
            "webhook_type": webhook_type,
            "webhook_code": code,
            "item_id": item_id,
            "initial_update_complete": True,
            "historical_update_complete": True,
            "environment": "sandbox",
        }
        return json.dumps(payload).encode()

    def sign(self, body: bytes, *, iat: float | None = None, key: ECKey | None = None, alg: str = "ES256") -> str:
        """A `Plaid-Verification` JWT for `body` (another key or an old `iat` for the refusal tests)."""
        claims = {
            "iat": int(time.time() if iat is None else iat),
            "request_body_sha256": hashlib.sha256(body).hexdigest(),
        }
        header = {"alg": alg, "kid": self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key or self.key)

    def signed_webhook(
        self, item_id: str, code: str = "SYNC_UPDATES_AVAILABLE", *, iat: float | None = None
    ) -> tuple[bytes, dict[str, str]]:
        body = self.webhook_body(item_id, code)
        return body, {"Plaid-Verification": self.sign(body, iat=iat), "Content-Type": "application/json"}

    def send_webhook(self, item_id: str, url: str | None = None, code: str = "SYNC_UPDATES_AVAILABLE") -> int:
        """Deliver a signed webhook to `url` (default the item's registered webhook); the status."""
        target = url or self.items[item_id].webhook
        if not target:
            raise ValueError(f"item {item_id} has no webhook URL")
        body, headers = self.signed_webhook(item_id, code)
        return httpx.post(target, content=body, headers=headers, timeout=10).status_code


def _request_id() -> str:
    return secrets.token_hex(8)


def _error(status: int, error_type: str, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "error_type": error_type,
        "error_code": code,
        "error_message": message,
        "display_message": None,
        "request_id": _request_id(),
    }


def serve(port: int = DEFAULT_PORT) -> None:
    """Run the fake in the foreground (`hibachi plaid fake`)."""
    fake = FakePlaid()
    url = fake.start(port)
    print(f"fake Plaid at {url} (Ctrl-C stops it); add a credit and send its webhook with:")
    print(f'  curl -X POST {url}/fake/credit -d \'{{"amount_cents": 25000, "payer": "Dana Lee", "memo": "HB-XXXX"}}\'')
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()
