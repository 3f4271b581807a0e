"""An offline RingCentral: a small HTTP server speaking the subset of the API the adapter uses, so the
official SDK and our adapter run unchanged against it (tests, and `make run` with no
RINGCENTRAL_CLIENT_ID).

    POST /restapi/oauth/token                                  JWT grant (Basic client id:secret)
    POST /restapi/v1.0/account/~/extension/~/sms               send: a message id; counted in `sent`
    POST /restapi/v1.0/subscription                            create a WebHook subscription (validates
                                                               the address with a Validation-Token first)
    POST /restapi/v1.0/subscription/{id}/renew                 renew it
    POST /fake/text {"from": "+1...", "text": "..."}           a customer texts the business: the
                                                               inbound-SMS event goes to the webhook
    GET  /fake/sent                                            the texts the business sent, newest last

Test knobs: `fail_next(status, retry_after)` makes the next send fail; `text(...)` and
`report(message_id, status)` post events; `sent` lists what was sent.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations.faults import Faults, FaultyApi
from integrations.loopback import LoopbackServer

FAKE_CLIENT_ID = "fake-client-id"
FAKE_CLIENT_SECRET = "fake-client-secret"
FAKE_JWT = "fake.jwt.assertion"
BUSINESS_NUMBER = "+19165550100"
DEFAULT_PORT = 8766  # `make run` puts the fake here when it is free (`hibachi ringcentral text` looks here)
SMS_PATH = "/restapi/v1.0/account/~/extension/~/sms"  # sending a text
SMS_FILTER = "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS"


class Answer(Protocol):
    """The app's answer to a post: an httpx response (or the TestClient's)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


# (url, body, headers) -> the app's answer; tests post into a TestClient, the demo over HTTP.
Deliver = Callable[[str, bytes, dict[str, str]], Answer]


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errorCode": code, "message": message}, status_code=status, headers=headers)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeRingCentral:
    """The fake's state; `app` serves it, `server()` runs it on loopback in a thread."""

    def __init__(
        self,
        *,
        client_id: str = FAKE_CLIENT_ID,
        client_secret: str = FAKE_CLIENT_SECRET,
        jwt: str = FAKE_JWT,
        business_number: str = BUSINESS_NUMBER,
        deliver: Deliver | None = None,
    ) -> None:
        self.client_id, self.client_secret, self.jwt = client_id, client_secret, jwt
        self.business_number = business_number
        self.deliver = deliver
        self.tokens: set[str] = set()
        self.logins = 0
        self.sent: list[dict[str, Any]] = []  # every message the API accepted
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []  # webhook events posted, with the app's status
        self._failures: list[tuple[int, float | None]] = []
        self._ids = itertools.count(int(time.time()) * 1000)
        self.lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/restapi/oauth/token", self._token, methods=["POST"]),
                Route(SMS_PATH, self._sms, methods=["POST"]),
                Route("/restapi/v1.0/subscription", self._subscribe, methods=["POST"]),
                Route("/restapi/v1.0/subscription/{id}/renew", self._renew, methods=["POST"]),
                Route("/fake/text", self._fake_text, methods=["POST"]),
                Route("/fake/sent", self._fake_sent, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------ the API
    async def _token(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return _error(401, "OAU-123", "Invalid client")
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or form.get("assertion") != self.jwt:
            return _error(400, "OAU-251", "Invalid JWT")
        token = "fake-access-" + secrets.token_hex(8)
        with self.lock:
            self.tokens.add(token)
            self.logins += 1
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": 3600,
                "refresh_token": "fake-refresh-" + secrets.token_hex(8),
                "refresh_token_expires_in": 604800,
                "scope": "SMS ReadMessages SubscriptionWebhook",
                "owner_id": "1",
            }
        )

    def _authorized(self, request: Request) -> bool:
        kind, _, token = request.headers.get("authorization", "").partition(" ")
        return kind.lower() == "bearer" and token in self.tokens

    async def _sms(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, "TokenInvalid", "Access token is invalid")
        with self.lock:
            if self._failures:
                status, retry_after = self._failures.pop(0)
                headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
                return _error(status, "CMN-301" if status == 429 else "CMN-500", "fake failure", headers)
        try:
            body = json.loads(await request.body())
            to = [{"phoneNumber": str(t["phoneNumber"])} for t in body["to"]]
            sender, text = str(body["from"]["phoneNumber"]), str(body["text"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "CMN-101", "from, to and text are required")
        message = {
            "id": str(next(self._ids)),
            "uri": "",
            "type": "SMS",
            "direction": "Outbound",
            "from": {"phoneNumber": sender},
            "to": to,
            "subject": text,
            "messageStatus": "Queued",
            "creationTime": _now(),
            "lastModifiedTime": _now(),
        }
        with self.lock:
            self.sent.append(message)
        return JSONResponse(message)

    async def _subscribe(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, "TokenInvalid", "Access token is invalid")
        body = json.loads(await request.body())
        mode = body.get("deliveryMode") or {}
        address = str(mode.get("address") or "")
        # RingCentral checks the address first: it must echo the Validation-Token header back.
        probe = secrets.token_hex(16)
        answer = self._post(address, b"", {"Validation-Token": probe})
        if answer.status_code != 200 or answer.headers.get("validation-token") != probe:
            return _error(400, "SUB-522", "WebHook responds with incorrect HTTP status or no Validation-Token")
        subscription: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": "Active",
            "eventFilters": list(body.get("eventFilters") or []),
            "deliveryMode": {"transportType": "WebHook", "address": address},
            "verificationToken": str(mode.get("verificationToken") or ""),
        }
        with self.lock:
            self.subscriptions[subscription["id"]] = subscription
        return JSONResponse(self._expiring(subscription, int(body.get("expiresIn") or 604800)))

    async def _renew(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, "TokenInvalid", "Access token is invalid")
        subscription = self.subscriptions.get(request.path_params["id"])
        if subscription is None:
            return _error(404, "SUB-505", "Subscription not found")
        return JSONResponse(self._expiring(subscription, 604800))

    def _expiring(self, subscription: dict[str, Any], seconds: int) -> dict[str, Any]:
        expires = datetime.now(UTC) + timedelta(seconds=seconds)
        subscription.update(expiresIn=seconds, expirationTime=expires.isoformat().replace("+00:00", "Z"))
        return {k: v for k, v in subscription.items() if k != "verificationToken"}

    async def _fake_text(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            phone, words = str(body["from"]), str(body["text"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'send {"from": "+1...", "text": "..."}'}, status_code=400)
        record = self.text(phone, words)
        return JSONResponse({"message_id": record["event"]["body"]["id"], "status": record["status"]})

    async def _fake_sent(self, request: Request) -> Response:
        with self.lock:
            texts = [{"id": m["id"], "to": m["to"][0]["phoneNumber"], "text": m["subject"]} for m in self.sent]
        return JSONResponse(texts)

    # ------------------------------------------------------------------ what a customer (or a test) does
    def fail_next(self, status: int, retry_after: float | None = None) -> None:
        """The next send is answered with `status` (429 with Retry-After: the account's rate limit)."""
        with self.lock:
            self._failures.append((status, retry_after))

    def text(self, phone: str, words: str, *, message_id: str | None = None) -> dict[str, Any]:
        """A customer texts the business: the instant inbound-SMS event goes to every subscription
        (again, with `message_id` of an earlier one: a redelivery)."""
        body = {
            "id": message_id or str(next(self._ids)),
            "to": [{"phoneNumber": self.business_number}],
            "from": {"phoneNumber": phone},
            "type": "SMS",
            "creationTime": _now(),
            "lastModifiedTime": _now(),
            "readStatus": "Unread",
            "priority": "Normal",
            "attachments": [{"id": "1", "type": "Text", "contentType": "text/plain"}],
            "direction": "Inbound",
            "availability": "Alive",
            "subject": words,
            "messageStatus": "Received",
        }
        return self.send_event(SMS_FILTER, body)

    def report(self, message_id: str, status: str, error_code: str | None = None) -> dict[str, Any]:
        """An outbound text's status changes (Delivered, DeliveryFailed, ...)."""
        sent = next(m for m in self.sent if m["id"] == message_id)
        body = dict(sent, messageStatus=status, lastModifiedTime=_now())
        if error_code:
            body["smsDeliveryErrorCode"] = error_code
        return self.send_event("/restapi/v1.0/account/~/extension/~/message-store", body)

    def send_event(self, event_filter: str, body: dict[str, Any]) -> dict[str, Any]:
        records = []
        for subscription in list(self.subscriptions.values()):  # the fake: every event to every one
            event = {
                "uuid": str(uuid.uuid4()),
                "event": event_filter,
                "timestamp": _now(),
                "subscriptionId": subscription["id"],
                "ownerId": "1",
                "body": body,
            }
            headers = {"Content-Type": "application/json", "Verification-Token": subscription["verificationToken"]}
            try:
                status: int | str = self._post(
                    subscription["deliveryMode"]["address"], json.dumps(event).encode(), headers
                ).status_code
            except httpx.HTTPError as error:  # the app is down: RingCentral would retry later
                status = type(error).__name__
            records.append({"event": event, "status": status})
        self.events.extend(records)
        return records[-1] if records else {"event": {"body": body}, "status": None}

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        if self.deliver is not None:
            return self.deliver(url, body, headers)
        return httpx.post(url, content=body, headers=headers, timeout=30)

    # ------------------------------------------------------------------ serving
    def server(self, host: str = "127.0.0.1", port: int = 0, *, faults: Faults | None = None) -> LoopbackServer:
        """Serve on loopback; `faults` (tests) make the SMS sends fail or hang as configured."""
        app = FaultyApi(self.app, faults, prefix=SMS_PATH) if faults is not None else self.app
        return LoopbackServer(app, host, port)

    def server_somewhere(self, host: str = "127.0.0.1") -> LoopbackServer:
        """On DEFAULT_PORT when it is free, else any free port."""
        try:
            return self.server(host, DEFAULT_PORT)
        except OSError:
            return self.server(host, 0)
