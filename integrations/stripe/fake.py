"""An offline Stripe: a small HTTP server speaking the subset of the API the adapter uses, a hosted
"checkout page" a person can pay on, and webhooks signed exactly as Stripe signs them.

Used by the tests and by `make run` when STRIPE_API_KEY is unset: the real adapter (the SDK) talks
to it over HTTP through its base URL, so nothing in our code knows it is not Stripe.

    POST /v1/checkout/sessions          create (honours Idempotency-Key: same key, same session;
                                        the same key with other parameters is refused, as Stripe does)
    GET  /v1/checkout/sessions/{id}     retrieve
    POST /v1/refunds                    refund a paid session's payment intent (sends charge.refunded)
    GET  /pay/{id}                      the checkout page, with a Pay button
    POST /pay/{id}                      "pay": the session completes, checkout.session.completed is sent

`server(faults=...)` puts `integrations.faults.Faults` in front of the API (5xx, hung answers).

Webhooks go to `webhook_url` (the app's /webhooks/stripe) signed with the webhook secret:
`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from integrations.faults import Faults, FaultyApi
from integrations.loopback import LoopbackServer

FAKE_API_KEY = "sk_test_offline_fake"
MIN_CHARGE_CENTS = 50  # Stripe's minimum charge in USD
_KEY = re.compile(r"\[([^\]]*)\]")


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `payload`, as Stripe computes it."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def parse_form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=v`) into nested dicts and lists."""
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body.decode(), keep_blank_values=True):
        head = raw_key.split("[", 1)[0]
        path = [head, *_KEY.findall(raw_key[len(head) :])]
        node: Any = root
        for part, following in itertools.pairwise(path):
            child: Any = [] if following.isdigit() else {}
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(child)
                node = node[index]
            else:
                node = node.setdefault(part, child)
        last = path[-1]
        if isinstance(node, list):
            node.append(value)
        else:
            node[last] = value
    return root


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": "invalid_request_error", "message": message}}, status_code=status)


class FakeStripe:
    """The fake's state; `app` serves it, `server()` runs it on loopback in a thread."""

    def __init__(
        self,
        webhook_secret: str,
        webhook_url: str = "",
        deliver: Callable[[str, bytes, dict[str, str]], int] | None = None,
    ) -> None:
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.deliver = deliver  # posts (url, body, headers), returns the status (tests: into the TestClient)
        self.base_url = ""
        self.sessions: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}  # by payment intent
        # (path, idempotency key) -> (parameters, status, reply)
        self.replies: dict[tuple[str, str], tuple[dict[str, Any], int, dict[str, Any]]] = {}
        self.effects: Counter[str] = Counter()  # objects actually created, by kind
        self.effects_by_key: Counter[str] = Counter()  # objects actually created, by idempotency key
        self.replayed: Counter[str] = Counter()  # answers repeated from the store, by idempotency key
        self.sent: list[dict[str, Any]] = []  # webhook events sent (with the app's answer)
        self.lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/v1/checkout/sessions", self._create_session, methods=["POST"]),
                Route("/v1/checkout/sessions/{id}", self._get_session, methods=["GET"]),
                Route("/v1/refunds", self._create_refund, methods=["POST"]),
                Route("/pay/{id}", self._page, methods=["GET"]),
                Route("/pay/{id}", self._pay, methods=["POST"]),
            ]
        )

    # ------------------------------------------------------------------ the API
    async def _idempotent(self, request: Request, create: Any) -> Response:
        if not request.headers.get("authorization", "").startswith("Bearer sk_"):
            return _error(401, "Invalid API Key provided")
        params = parse_form(await request.body())
        key = request.headers.get("idempotency-key")
        with self.lock:
            if key and (request.url.path, key) in self.replies:
                first, status, body = self.replies[(request.url.path, key)]
                if params != first:
                    return JSONResponse(
                        {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used with the same"
                                f" parameters they were first used with. Try using a key other than '{key}'"
                                " if you meant to execute a different request.",
                            }
                        },
                        status_code=400,
                    )
                self.replayed[key] += 1
                return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"})
            status, body = create(params)
            if key:
                self.replies[(request.url.path, key)] = (params, status, body)
                if status == 200:
                    self.effects_by_key[key] += 1
        return JSONResponse(body, status_code=status)

    async def _create_session(self, request: Request) -> Response:
        return await self._idempotent(request, self._new_session)

    def _new_session(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            (item,) = params["line_items"]
            amount = int(item["price_data"]["unit_amount"]) * int(item.get("quantity", 1))
            currency = item["price_data"]["currency"]
        except (KeyError, ValueError, TypeError):
            return 400, {"error": {"type": "invalid_request_error", "message": "line_items: one priced item"}}
        if amount < MIN_CHARGE_CENTS:
            message = "The Checkout Session's total amount due must add up to at least $0.50 usd"
            return 400, {"error": {"type": "invalid_request_error", "code": "amount_too_small", "message": message}}
        session_id = "cs_test_" + secrets.token_hex(12)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params.get("mode", "payment"),
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "expires_at": int(params.get("expires_at") or time.time() + 86400),
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "payment_intent": None,
            "url": f"{self.base_url}/pay/{session_id}",
            "livemode": False,
            "line_items_description": item["price_data"].get("product_data", {}).get("name", ""),
        }
        self.sessions[session_id] = session
        self.effects["checkout.session"] += 1
        return 200, session

    async def _get_session(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["id"])
        return JSONResponse(session) if session else _error(404, "No such checkout.session")

    async def _create_refund(self, request: Request) -> Response:
        response = await self._idempotent(request, self._new_refund)
        if response.status_code == 200 and response.headers.get("Idempotent-Replayed") != "true":
            refund = json.loads(bytes(response.body))
            charge = self.charges[refund["payment_intent"]]
            self.send("charge.refunded", dict(charge))
        return response

    def _new_refund(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        charge = self.charges.get(str(params.get("payment_intent")))
        if charge is None:
            return 400, {"error": {"type": "invalid_request_error", "message": "No such payment_intent"}}
        amount = int(params.get("amount") or charge["amount"] - charge["amount_refunded"])
        if amount <= 0 or charge["amount_refunded"] + amount > charge["amount"]:
            return 400, {"error": {"type": "invalid_request_error", "message": "Refund exceeds the charge"}}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self.effects["refund"] += 1
        refund = {
            "id": "re_" + secrets.token_hex(12),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "status": "succeeded",
            "metadata": params.get("metadata", {}),
        }
        return 200, refund

    # ------------------------------------------------------------------ the hosted checkout page
    async def _page(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["id"])
        if session is None:
            return HTMLResponse("<h1>No such checkout</h1>", status_code=404)
        what = html.escape(str(session["line_items_description"]))
        amount = f"${session['amount_total'] / 100:,.2f}"
        if session["status"] != "open":
            body = f"<p>This checkout is {html.escape(session['status'])}.</p>"
        else:
            body = (
                f'<form method="post"><p>{what}: <strong>{amount}</strong></p>'
                '<p>(Offline fake Stripe: no card is asked for.)</p><button type="submit">Pay</button></form>'
            )
        return HTMLResponse(f"<!doctype html><title>Checkout</title><h1>Checkout</h1>{body}")

    async def _pay(self, request: Request) -> Response:
        session_id = request.path_params["id"]
        if session_id not in self.sessions:
            return HTMLResponse("<h1>No such checkout</h1>", status_code=404)
        session = self.pay(session_id)
        back = html.escape(str(session.get("success_url") or ""))
        return HTMLResponse(f'<!doctype html><title>Paid</title><h1>Paid</h1><p><a href="{back}">Back to the shop</a>')

    # ------------------------------------------------------------------ what a person (or a test) does
    def pay(self, session_id: str) -> dict[str, Any]:
        """The customer pays: the session completes and checkout.session.completed is sent."""
        with self.lock:
            session = self.sessions[session_id]
            if session["status"] != "open":
                return session
            intent = "pi_test_" + secrets.token_hex(12)
            session.update(status="complete", payment_status="paid", payment_intent=intent)
            self.charges[intent] = {
                "id": "ch_test_" + secrets.token_hex(12),
                "object": "charge",
                "amount": session["amount_total"],
                "amount_refunded": 0,
                "refunded": False,
                "payment_intent": intent,
                "metadata": session["metadata"],
            }
        self.send("checkout.session.completed", dict(session))
        return session

    def expire(self, session_id: str) -> dict[str, Any]:
        """The session runs out unpaid (Stripe does this at expires_at; here, when asked)."""
        with self.lock:
            session = self.sessions[session_id]
            if session["status"] == "open":
                session["status"] = "expired"
        self.send("checkout.session.expired", dict(session))
        return session

    def event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": "2025-01-01",
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": obj},
        }

    def send(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        return self.deliver_event(self.event(event_type, obj))

    def deliver_event(self, event: dict[str, Any], *, timestamp: int | None = None) -> dict[str, Any]:
        """Post a signed event to the webhook URL (again, for a replay); returns the record of it."""
        payload = json.dumps(event).encode()
        signature = sign(payload, self.webhook_secret, timestamp)
        headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
        record: dict[str, Any] = {"event": event, "status": None}
        if self.webhook_url:
            try:
                if self.deliver is not None:
                    record["status"] = self.deliver(self.webhook_url, payload, headers)
                else:
                    record["status"] = httpx.post(
                        self.webhook_url, content=payload, headers=headers, timeout=10
                    ).status_code
            except httpx.HTTPError as error:  # the app is down: Stripe would retry later
                record["status"] = type(error).__name__
        self.sent.append(record)
        return record

    # ------------------------------------------------------------------ serving
    def server(self, host: str = "127.0.0.1", port: int = 0, *, faults: Faults | None = None) -> LoopbackServer:
        """Serve on loopback; `faults` (tests) make the API calls fail or hang as configured."""
        app = FaultyApi(self.app, faults, prefix="/v1/") if faults is not None else self.app
        served = LoopbackServer(app, host, port)
        self.base_url = served.base_url
        return served
