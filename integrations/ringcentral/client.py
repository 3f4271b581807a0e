"""The RingCentral API through the official SDK (`ringcentral`): JWT login, send an SMS, create and
renew a webhook subscription. SDK types and errors stay in this module: callers get dicts and
`RingCentralError`.

Two things the SDK does that we do not want, and what we do instead:
- its HTTP client (requests) has no timeout: `_TimeoutClient` gives every call one;
- its `ApiException` message carries the request's headers, Bearer token included: we never pass
  that message on (outbox rows keep their last error); our error has the status and the body only.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import requests
from ringcentral.http import Client
from ringcentral.http.api_exception import ApiException
from ringcentral.http.api_response import ApiResponse
from ringcentral.platform import Platform

SMS_PATH = "/restapi/v1.0/account/~/extension/~/sms"
SUBSCRIPTION_PATH = "/restapi/v1.0/subscription"
# Inbound texts to this extension, with their words (the plain message-store filter only says "changed").
INBOUND_SMS_FILTER = "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS"
SUBSCRIPTION_SECONDS = 7 * 24 * 3600  # RingCentral's longest for a WebHook subscription


@dataclass(frozen=True)
class RingCentralConfig:
    """`server_url`: https://platform.ringcentral.com, or the fake's base URL. `rate_per_second` and
    `burst`: the account's SMS rate limit (the token bucket in the adapter)."""

    client_id: str
    client_secret: str = field(repr=False)
    jwt: str = field(repr=False)
    server_url: str
    from_number: str
    verification_token: str = field(repr=False)
    rate_per_second: float = 1.0
    burst: int = 5
    timeout_seconds: float = 10.0
    fake: bool = False  # the offline fake, not RingCentral: said on `make run`


class RingCentralError(Exception):
    """A call RingCentral answered with an error (or did not answer: status 0)."""

    def __init__(self, status: int, detail: str, retry_after: float | None = None, *, login: bool = False) -> None:
        where = "RingCentral login" if login else "RingCentral"
        super().__init__(f"{where} HTTP {status}: {detail}" if status else f"{where} unreachable: {detail}")
        self.status = status
        self.retry_after = retry_after  # seconds, from a 429's Retry-After
        self.login = login

    @property
    def permanent(self) -> bool:
        """A 4xx other than 401 (a stale token, retried after a new login), 408 and 429: retrying
        the same request cannot help. A failed login never is: fixing the credentials lets the
        waiting texts go (they retry with backoff meanwhile)."""
        return not self.login and 400 <= self.status < 500 and self.status not in (401, 408, 429)


class _TimeoutClient(Client):  # type: ignore[misc]  # the SDK ships no type hints
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def load_response(self, request: Any) -> ApiResponse:
        with requests.Session() as session:
            return ApiResponse(request, session.send(request, timeout=self.timeout))


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from RingCentral; the caller's default applies


class RingCentralClient:
    """One SDK platform per process, logged in with the JWT on first use and again when the access
    token runs out or is refused (401). Thread-safe: calls share the token under a lock."""

    def __init__(self, config: RingCentralConfig) -> None:
        self.config = config
        self.platform = Platform(
            _TimeoutClient(config.timeout_seconds),
            config.client_id,
            config.client_secret,
            config.server_url.rstrip("/"),
            "hibachi-booking",
            "1.0",
        )
        self._lock = threading.Lock()

    def _login(self, *, again: bool = False) -> None:
        with self._lock:
            if again or not self.platform.auth().access_token_valid():
                try:
                    self._call(lambda: self.platform.login(jwt=self.config.jwt))
                except RingCentralError as error:
                    detail = str(error).split(": ", 1)[-1]
                    raise RingCentralError(error.status, detail, error.retry_after, login=True) from None

    def _call(self, call: Any) -> ApiResponse:
        try:
            return call()
        except ApiException as error:
            response = error.api_response().response() if error.api_response() else None
            if response is None:  # no answer: a connection error or a timeout
                cause = error.__cause__ or error.__context__
                raise RingCentralError(0, type(cause).__name__ if cause else "no response") from None
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise RingCentralError(response.status_code, response.text[:300], retry_after) from None

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        self._login()
        send = getattr(self.platform, method)
        try:
            response = self._call(lambda: send(path, body))
        except RingCentralError as error:
            if error.status != 401:
                raise
            self._login(again=True)  # the token was revoked or expired early: one new login, one retry
            response = self._call(lambda: send(path, body))
        data = response.json_dict()
        if not isinstance(data, dict):
            raise RingCentralError(response.response().status_code, "the answer is not a JSON object")
        return data

    def send_sms(self, to: str, text: str) -> dict[str, Any]:
        """Send one text from the business number; the answer is RingCentral's message record."""
        body = {"from": {"phoneNumber": self.config.from_number}, "to": [{"phoneNumber": to}], "text": text}
        return self._request("post", SMS_PATH, body)

    def create_subscription(self, address: str) -> dict[str, Any]:
        """A WebHook subscription for inbound texts; RingCentral first sends a Validation-Token request
        to `address`, which must echo it back."""
        body = {
            "eventFilters": [INBOUND_SMS_FILTER],
            "deliveryMode": {
                "transportType": "WebHook",
                "address": address,
                "verificationToken": self.config.verification_token,
            },
            "expiresIn": SUBSCRIPTION_SECONDS,
        }
        return self._request("post", SUBSCRIPTION_PATH, body)

    def renew_subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._request("post", f"{SUBSCRIPTION_PATH}/{subscription_id}/renew")
