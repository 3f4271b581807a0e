"""The Plaid adapter: the official `plaid-python` client behind a small interface.

Plaid's own types stay in this module: callers get `BankTxn` and `SyncPage`. Plaid reports money
moving *out* of an account as a positive amount and money coming *in* as a negative one; here
`amount_cents` is positive for money in, as `integra.bank_transactions` stores it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

import plaid
from plaid.api import plaid_api
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import SandboxPublicTokenCreateRequestOptions
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

MUTATION_DURING_PAGINATION = "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
HOSTS = {"sandbox": "https://sandbox.plaid.com", "production": "https://production.plaid.com"}
SANDBOX_INSTITUTION = "ins_109508"  # Plaid's sandbox "First Platypus Bank"


class PlaidError(Exception):
    """Plaid answered with an error (its `error_code` kept), or could not be reached."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class MutationDuringPagination(PlaidError):
    """The item's transactions changed while we paged: the whole sync must restart from the cursor
    it started with (Plaid's documented recovery)."""


@dataclass(frozen=True)
class BankTxn:
    transaction_id: str
    account_id: str
    amount_cents: int  # positive: money in
    posted_on: date
    pending: bool
    pending_transaction_id: str | None
    payer: str | None
    memo: str | None
    currency: str | None


@dataclass(frozen=True)
class SyncPage:
    added: list[BankTxn]
    modified: list[BankTxn]
    removed: list[str]
    next_cursor: str
    has_more: bool


class BankProvider(Protocol):
    def sync_page(self, access_token: str, cursor: str | None) -> SyncPage: ...

    def webhook_key(self, key_id: str) -> dict[str, Any]: ...

    def exchange_public_token(self, public_token: str) -> tuple[str, str]: ...

    def sandbox_public_token(self, webhook_url: str | None) -> str: ...


def cents_in(amount: float) -> int:
    """Plaid's amount (positive = out) as cents with money in positive; exact for 2-decimal values."""
    return -int((Decimal(str(amount)) * 100).to_integral_value())


def _txn(model: Any) -> BankTxn:
    data = model.to_dict()
    counterparties = data.get("counterparties") or []
    payer = next((c.get("name") for c in counterparties if c.get("name")), None) or data.get("merchant_name")
    return BankTxn(
        transaction_id=str(data["transaction_id"]),
        account_id=str(data["account_id"]),
        amount_cents=cents_in(float(data["amount"])),
        posted_on=data["date"],
        pending=bool(data["pending"]),
        pending_transaction_id=data.get("pending_transaction_id"),
        payer=payer,
        memo=data.get("original_description") or data.get("name"),
        currency=data.get("iso_currency_code"),
    )


def _error(error: plaid.ApiException) -> PlaidError:
    try:
        body = json.loads(error.body or "{}")
    except (TypeError, ValueError):
        body = {}
    code = str(body.get("error_code") or f"HTTP_{error.status}")
    message = str(body.get("error_message") or error.reason or "")
    return (MutationDuringPagination if code == MUTATION_DURING_PAGINATION else PlaidError)(code, message)


class PlaidAdapter:
    """`host` is Plaid's environment URL, or the fake's base URL offline."""

    def __init__(self, client_id: str, secret: str, host: str, *, page_size: int = 250) -> None:
        configuration = plaid.Configuration(host=host, api_key={"clientId": client_id, "secret": secret})
        self.api = plaid_api.PlaidApi(plaid.ApiClient(configuration))
        self.page_size = page_size
        self._keys: dict[str, dict[str, Any]] = {}
        self._keys_lock = threading.Lock()

    def sync_page(self, access_token: str, cursor: str | None) -> SyncPage:
        request = TransactionsSyncRequest(access_token=access_token, count=self.page_size)
        if cursor:
            request.cursor = cursor
        try:
            response = self.api.transactions_sync(request)
        except plaid.ApiException as error:
            raise _error(error) from None
        return SyncPage(
            added=[_txn(t) for t in response.added],
            modified=[_txn(t) for t in response.modified],
            removed=[str(r.transaction_id) for r in response.removed],
            next_cursor=str(response.next_cursor),
            has_more=bool(response.has_more),
        )

    def webhook_key(self, key_id: str) -> dict[str, Any]:
        """The JWK Plaid signs webhooks with, by key id; cached (keys rotate by new ids)."""
        with self._keys_lock:
            cached = self._keys.get(key_id)
        if cached is not None:
            return cached
        try:
            response = self.api.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id=key_id))
        except plaid.ApiException as error:
            raise _error(error) from None
        key: dict[str, Any] = response.key.to_dict()
        with self._keys_lock:
            self._keys[key_id] = key
        return key

    def exchange_public_token(self, public_token: str) -> tuple[str, str]:
        """(item_id, access_token) for a Link public token."""
        try:
            response = self.api.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=public_token))
        except plaid.ApiException as error:
            raise _error(error) from None
        return str(response.item_id), str(response.access_token)

    def sandbox_public_token(self, webhook_url: str | None) -> str:
        """A public token for a sandbox test item (no Link UI): sandbox and the fake only."""
        request = SandboxPublicTokenCreateRequest(
            institution_id=SANDBOX_INSTITUTION, initial_products=[Products("transactions")]
        )
        if webhook_url:
            request.options = SandboxPublicTokenCreateRequestOptions(webhook=webhook_url)
        try:
            response = self.api.sandbox_public_token_create(request)
        except plaid.ApiException as error:
            raise _error(error) from None
        return str(response.public_token)
