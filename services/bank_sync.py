"""Bank sync: pull an item's transactions from Plaid's `/transactions/sync` and store its credits.

- All pages of one sync are fetched first, from the cursor saved by the last completed sync; their
  changes and the new cursor are then written in one unit of work. A crash mid-paging leaves the
  saved cursor untouched, so the next sync fetches the same changes again.
- `TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION` discards the pages fetched so far and restarts
  from that saved cursor (Plaid's documented recovery).
- Two syncs of one item may race (a webhook and `hibachi plaid sync`): the writer locks the item
  row and, if its cursor moved since this sync started, discards its pages and syncs again.
- Only credits (money in) are stored: they are the payments to match. A credit's row in
  `integra.bank_transactions` *is* its payment event (unique per provider id); no
  `integra.payment_events` row is written for it, because those are payments tied to a booking,
  which the matcher records once it knows the booking.
- Pending to posted: Plaid reports a settled transaction under a new id naming its pending
  predecessor (`pending_transaction_id`) and removes the pending one. The pending row is updated in
  place (new provider id, `pending` false, `pending_id` the old id): one credit, its row id stable
  for the matcher, never a second one.
- A webhook's sync runs on a background thread (`SyncRunner`): the response does not wait, and
  requests for an item already syncing coalesce into one more run after it. The delivery's row in
  `integra.webhook_events` gets `processed_at` once a sync that covers it completes: a delivery
  still without one names an update not yet pulled (its sync failed; the next one retries it).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db.tables import bank_items, bank_transactions, webhook_events
from integrations.plaid.client import BankProvider, BankTxn, MutationDuringPagination, PlaidAdapter, SyncPage
from integrations.plaid.webhooks import VerifiedWebhook, verify_webhook
from services.matching import on_new_credits

if TYPE_CHECKING:
    from hibachi.bootstrap import Container

log = logging.getLogger(__name__)

PROVIDER = "plaid"
ITEMS = "integra.bank_items"
TXNS = "integra.bank_transactions"
MAX_ATTEMPTS = 5  # restarts after mutation during pagination, or after losing a race with another sync


class UnknownItem(LookupError):
    pass


class SyncFailed(RuntimeError):
    pass


@dataclass
class SyncOutcome:
    item_id: str
    pages: int = 0
    attempts: int = 0
    stored: int = 0  # credits inserted, updated, posted or removed by this sync
    new_credit_ids: list[str] = field(default_factory=list)  # bank_transactions ids of credits first seen


def link_item(container: Container, provider: BankProvider, public_token: str) -> str:
    """Exchange a Link public token and store the item (access token encrypted); the item id."""
    item_id, access_token = provider.exchange_public_token(public_token)
    store_item(container, item_id, access_token)
    return item_id


def store_item(container: Container, item_id: str, access_token: str) -> None:
    """Store an item whose access token we hold; an item stored before starts its history again
    (cursor cleared): `make run`'s fake Plaid keeps its demo item's ids but not its transactions."""
    sealed = container.cipher.encrypt(access_token, table=ITEMS, column="access_token_enc", row_id=item_id)
    with container.uow() as uow:
        uow.conn.execute(
            pg_insert(bank_items)
            .values(item_id=item_id, provider=PROVIDER, access_token_enc=sealed)
            .on_conflict_do_update(
                index_elements=[bank_items.c.item_id], set_={"access_token_enc": sealed, "cursor": None}
            )
        )
        uow.commit()


def item_ids(container: Container) -> list[str]:
    with container.uow() as uow:
        return list(uow.conn.execute(select(bank_items.c.item_id).order_by(bank_items.c.created_at)).scalars())


def _fetch_all(provider: BankProvider, access_token: str, cursor: str | None) -> list[SyncPage]:
    pages: list[SyncPage] = []
    while True:
        page = provider.sync_page(access_token, cursor)
        pages.append(page)
        cursor = page.next_cursor
        if not page.has_more:
            return pages


def sync_item(container: Container, provider: BankProvider, item_id: str) -> SyncOutcome:
    """Bring the item up to date (see the module docstring); new credits go to the matcher's hook."""
    outcome = SyncOutcome(item_id)
    while outcome.attempts < MAX_ATTEMPTS:
        outcome.attempts += 1
        with container.uow() as uow:
            row = uow.conn.execute(select(bank_items).where(bank_items.c.item_id == item_id)).one_or_none()
        if row is None:
            raise UnknownItem(item_id)
        token = container.cipher.decrypt(row.access_token_enc, table=ITEMS, column="access_token_enc", row_id=item_id)
        start: str | None = row.cursor
        try:
            pages = _fetch_all(provider, token, start)
        except MutationDuringPagination:
            log.info("plaid item %s changed while paging: restarting from the saved cursor", item_id)
            continue
        with container.uow() as uow:
            current = uow.conn.execute(
                select(bank_items.c.cursor).where(bank_items.c.item_id == item_id).with_for_update()
            ).scalar_one()
            if current != start:
                continue  # another sync stored these changes first: go again from its cursor
            store = _Store(uow.conn, container, item_id)
            for page in pages:
                store.apply(page)
            uow.conn.execute(
                update(bank_items)
                .where(bank_items.c.item_id == item_id)
                .values(cursor=pages[-1].next_cursor, synced_at=container.clock.now())
            )
            uow.commit()
        outcome.pages = len(pages)
        outcome.stored = store.changed
        outcome.new_credit_ids = store.new_ids
        _announce(container, outcome.new_credit_ids)
        return outcome
    raise SyncFailed(f"plaid item {item_id}: no consistent sync after {MAX_ATTEMPTS} attempts")


def _announce(container: Container, transaction_ids: list[str]) -> None:
    """Hand new credits to the matcher."""
    if not transaction_ids:
        return
    try:
        on_new_credits(container, transaction_ids)
    except Exception:  # the credits are stored; matching can be rerun, the sync must not fail for it
        log.exception("matching new bank credits failed")


class _Store:
    """Applies one sync's pages to integra.bank_transactions on the unit of work's connection."""

    def __init__(self, conn: Connection, container: Container, item_id: str) -> None:
        self.conn = conn
        self.container = container
        self.item_id = item_id
        self.now = container.clock.now()
        self.changed = 0
        self.new_ids: list[str] = []

    def apply(self, page: SyncPage) -> None:
        for txn in [*page.added, *page.modified]:
            self.upsert(txn)
        for transaction_id in page.removed:
            self.remove(transaction_id)

    def _row(self, provider_id: str) -> Any:
        return self.conn.execute(
            select(bank_transactions.c.id, bank_transactions.c.removed_at)
            .where(bank_transactions.c.provider == PROVIDER, bank_transactions.c.provider_id == provider_id)
            .with_for_update()
        ).one_or_none()

    def _sealed(self, row_id: str, txn: BankTxn) -> dict[str, bytes | None]:
        def seal(column: str, value: str | None) -> bytes | None:
            if not value:
                return None
            return self.container.cipher.encrypt(value, table=TXNS, column=column, row_id=row_id)

        return {"payer_enc": seal("payer_enc", txn.payer), "memo_enc": seal("memo_enc", txn.memo)}

    def _values(self, row_id: str, txn: BankTxn) -> dict[str, Any]:
        return {
            "provider_id": txn.transaction_id,
            "item_id": self.item_id,
            "account_id": txn.account_id,
            "amount_cents": txn.amount_cents,
            "posted_on": txn.posted_on,
            "pending": txn.pending,
            "removed_at": None,
            "updated_at": self.now,
            **self._sealed(row_id, txn),
        }

    def upsert(self, txn: BankTxn) -> None:
        is_credit = txn.amount_cents > 0 and txn.currency in (None, "USD")
        row = self._row(txn.transaction_id)
        if row is None and txn.pending_transaction_id:
            row = self._row(txn.pending_transaction_id)
            if row is not None and is_credit:
                # Pending to posted: the same credit, now settled, under its new id.
                values = self._values(row.id, txn) | {"pending_id": txn.pending_transaction_id}
                self.conn.execute(update(bank_transactions).where(bank_transactions.c.id == row.id).values(**values))
                self.changed += 1
                return
        if not is_credit:
            # Debits are not payments. A credit later reported as a debit is no longer one.
            if row is not None and row.removed_at is None:
                self.remove(txn.transaction_id)
            return
        if row is not None:
            self.conn.execute(
                update(bank_transactions).where(bank_transactions.c.id == row.id).values(**self._values(row.id, txn))
            )
            self.changed += 1
            return
        row_id = str(uuid.uuid4())  # made here: the ciphertexts' AAD binds them to it
        values = self._values(row_id, txn) | {"id": row_id, "provider": PROVIDER}
        if txn.pending_transaction_id:
            values["pending_id"] = txn.pending_transaction_id
        self.conn.execute(insert(bank_transactions).values(**values))
        self.changed += 1
        self.new_ids.append(row_id)

    def remove(self, transaction_id: str) -> None:
        result = self.conn.execute(
            update(bank_transactions)
            .where(
                bank_transactions.c.provider == PROVIDER,
                bank_transactions.c.provider_id == transaction_id,
                bank_transactions.c.removed_at.is_(None),
            )
            .values(removed_at=self.now, updated_at=self.now)
        )
        self.changed += result.rowcount


class SyncRunner:
    """Runs item syncs on background threads, one at a time per item; a request for an item already
    syncing makes one more run after the current one (its changes may have come after our fetch).
    A request may carry the webhook delivery that asked for it: `done` gets the deliveries a
    successful run covered (a failed run leaves them for the next one)."""

    def __init__(
        self, work: Callable[[str], object], done: Callable[[list[str]], object] = lambda deliveries: None
    ) -> None:
        self.work = work
        self.done = done
        self._cond = threading.Condition()
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._deliveries: dict[str, list[str]] = {}
        self.runs = 0

    def request(self, item_id: str, delivery: str | None = None) -> None:
        with self._cond:
            if delivery is not None:
                self._deliveries.setdefault(item_id, []).append(delivery)
            if item_id in self._running:
                self._again.add(item_id)
                return
            self._running.add(item_id)
        threading.Thread(target=self._run, args=(item_id,), daemon=True, name=f"plaid-sync-{item_id}").start()

    def _run(self, item_id: str) -> None:
        while True:
            with self._cond:
                covered = self._deliveries.pop(item_id, [])
            try:
                self.work(item_id)
                if covered:
                    self.done(covered)
            except Exception:
                log.exception("plaid sync of item %s failed", item_id)
                with self._cond:
                    self._deliveries[item_id] = covered + self._deliveries.get(item_id, [])
            with self._cond:
                self.runs += 1
                if item_id in self._again:
                    self._again.discard(item_id)
                    continue
                self._running.discard(item_id)
                self._cond.notify_all()
                return

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._running, timeout)


class BankSync:
    """One process's Plaid wiring for a container: the adapter, webhook verification, the runner."""

    def __init__(self, container: Container, provider: BankProvider) -> None:
        self.container = container
        self.provider = provider
        self.runner = SyncRunner(self.sync, self.processed)

    def sync(self, item_id: str) -> SyncOutcome:
        return sync_item(self.container, self.provider, item_id)

    def processed(self, event_ids: list[str]) -> None:
        """The webhook deliveries a completed sync covered (integra.webhook_events.processed_at)."""
        with self.container.uow() as uow:
            uow.conn.execute(
                update(webhook_events)
                .where(webhook_events.c.provider == PROVIDER, webhook_events.c.event_id.in_(event_ids))
                .values(processed_at=self.container.clock.now())
            )
            uow.commit()

    def verify(self, raw: bytes, header: str | None) -> VerifiedWebhook:
        return verify_webhook(raw, header, self.provider.webhook_key, self.container.clock.now().timestamp())


_wired: dict[int, tuple[Container, BankSync]] = {}
_wired_lock = threading.Lock()


def configure(container: Container, provider: BankProvider) -> BankSync:
    """Wire `provider` for `container` (tests: an adapter pointed at the fake)."""
    wired = BankSync(container, provider)
    with _wired_lock:
        _wired[id(container)] = (container, wired)
    return wired


def bank_sync_of(container: Container) -> BankSync:
    """The container's Plaid wiring; on first use, from the PLAID_* settings."""
    with _wired_lock:
        entry = _wired.get(id(container))
        if entry is not None and entry[0] is container:
            return entry[1]
    from hibachi.settings import load_settings

    return configure(container, adapter_from_settings(load_settings()))


def adapter_from_settings(settings: Any) -> PlaidAdapter:
    client_id, secret, host = settings.plaid()
    return PlaidAdapter(client_id, secret, host)
