"""Plaid bank sync against the offline fake Plaid (the real plaid-python client and adapter run):
paging and the cursor, mutation during pagination, pending to posted, modified, removed, debits,
webhooks verified / refused / deduplicated, payer and memo encrypted at rest."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from sqlalchemy import select

from api.app import create_app
from db.tables import bank_items, bank_transactions, webhook_events
from hibachi.bootstrap import Container
from integrations.plaid.client import PlaidAdapter
from integrations.plaid.fake import FakePlaid
from services import bank_sync
from services.bank_sync import BankSync, link_item, sync_item


@pytest.fixture
def fake() -> Iterator[FakePlaid]:
    plaid = FakePlaid()
    plaid.start()
    yield plaid
    plaid.stop()


@pytest.fixture
def adapter(fake: FakePlaid) -> PlaidAdapter:
    return PlaidAdapter("client-test", "secret-test", fake.base_url, page_size=2)


@pytest.fixture
def wired(container: Container, adapter: PlaidAdapter) -> BankSync:
    return bank_sync.configure(container, adapter)


@pytest.fixture
def item_id(container: Container, adapter: PlaidAdapter) -> str:
    return link_item(container, adapter, adapter.sandbox_public_token(None))


def rows(container: Container) -> list[Any]:
    with container.engine.connect() as conn:
        return list(
            conn.execute(
                select(bank_transactions).order_by(bank_transactions.c.created_at, bank_transactions.c.provider_id)
            )
        )


def cursor_of(container: Container, item_id: str) -> str | None:
    with container.engine.connect() as conn:
        cursor: str | None = conn.execute(
            select(bank_items.c.cursor).where(bank_items.c.item_id == item_id)
        ).scalar_one()
        return cursor


def memo(container: Container, row: Any) -> str:
    return container.cipher.decrypt(
        row.memo_enc, table="integra.bank_transactions", column="memo_enc", row_id=str(row.id)
    )


def test_paging_saves_the_cursor_only_when_the_sync_completes(
    container: Container, fake: FakePlaid, adapter: PlaidAdapter, item_id: str
) -> None:
    ids = [fake.add_credit(item_id, 10000 + i, payer=f"Payer {i}", memo=f"HB-{i}") for i in range(5)]
    seen: list[str | None] = []

    class Watching:
        """The adapter, noting the saved cursor each time a page is fetched."""

        def __getattr__(self, name: str) -> Any:
            return getattr(adapter, name)

        def sync_page(self, access_token: str, cursor: str | None) -> Any:
            seen.append(cursor_of(container, item_id))
            return adapter.sync_page(access_token, cursor)

    outcome = sync_item(container, Watching(), item_id)
    assert outcome.pages == 3 and len(outcome.new_credit_ids) == 5
    assert seen == [None, None, None]  # nothing saved mid-paging
    assert fake.sync_requests == [None, f"{item_id}:2", f"{item_id}:4"]
    assert cursor_of(container, item_id) == f"{item_id}:5"
    assert sorted(r.provider_id for r in rows(container)) == sorted(ids)
    assert sorted(r.amount_cents for r in rows(container)) == [10000, 10001, 10002, 10003, 10004]
    # The next sync starts from the saved cursor and finds nothing new.
    assert sync_item(container, adapter, item_id).new_credit_ids == []
    assert fake.sync_requests[-1] == f"{item_id}:5"


def test_mutation_during_pagination_restarts_from_the_saved_cursor(
    container: Container, fake: FakePlaid, adapter: PlaidAdapter, item_id: str
) -> None:
    fake.add_credit(item_id, 5000, memo="first")
    sync_item(container, adapter, item_id)
    saved = cursor_of(container, item_id)
    for i in range(4):
        fake.add_credit(item_id, 6000 + i, memo=f"batch {i}")
    late: list[str] = []
    fake.fail_with_mutation(on_request=2, then=lambda: late.append(fake.add_credit(item_id, 7000, memo="late")))
    fake.sync_requests.clear()
    outcome = sync_item(container, adapter, item_id)
    assert outcome.attempts == 2
    # The failed page came after a first page; the restart went back to the cursor saved before.
    assert fake.sync_requests[0] == saved and fake.sync_requests[2] == saved
    amounts = sorted(r.amount_cents for r in rows(container))
    assert amounts == [5000, 6000, 6001, 6002, 6003, 7000]  # every credit once
    assert cursor_of(container, item_id) == f"{item_id}:6"


def test_two_syncs_of_one_item_racing_store_each_credit_once(
    container: Container, fake: FakePlaid, adapter: PlaidAdapter, item_id: str
) -> None:
    for i in range(3):
        fake.add_credit(item_id, 8000 + i, memo=f"race {i}")
    fetched, other_done = threading.Event(), threading.Event()

    class Slow:
        """The adapter; the first sync's first page waits until the other sync has committed."""

        def __getattr__(self, name: str) -> Any:
            return getattr(adapter, name)

        def sync_page(self, access_token: str, cursor: str | None) -> Any:
            page = adapter.sync_page(access_token, cursor)
            if not fetched.is_set():
                fetched.set()
                assert other_done.wait(10)
            return page

    outcomes: list[Any] = []
    slow = threading.Thread(target=lambda: outcomes.append(sync_item(container, Slow(), item_id)))
    slow.start()
    assert fetched.wait(10)
    fake.add_credit(item_id, 9000, memo="between")
    fast = sync_item(container, adapter, item_id)
    other_done.set()
    slow.join(10)
    assert len(fast.new_credit_ids) == 4 and fast.attempts == 1
    # The slow sync found the cursor moved under it, went again from the new one and found nothing.
    assert outcomes[0].attempts == 2 and outcomes[0].new_credit_ids == []
    assert sorted(r.amount_cents for r in rows(container)) == [8000, 8001, 8002, 9000]
    assert cursor_of(container, item_id) == f"{item_id}:4"


def test_pending_to_posted_replaces_the_pending_credit(
    container: Container, fake: FakePlaid, adapter: PlaidAdapter, item_id: str
) -> None:
    pending = fake.add_credit(item_id, 25000, payer="Dana Lee", memo="Zelle HB-7Q2K", pending=True)
    first = sync_item(container, adapter, item_id)
    [row] = rows(container)
    assert row.pending and row.provider_id == pending and first.new_credit_ids == [str(row.id)]
    posted = fake.post(item_id, pending, on=date(2026, 12, 3))
    second = sync_item(container, adapter, item_id)
    [after] = rows(container)
    assert second.new_credit_ids == []  # not a new credit: the same one, settled
    assert after.id == row.id and after.provider_id == posted and after.pending_id == pending
    assert not after.pending and after.removed_at is None and after.amount_cents == 25000
    assert after.posted_on == date(2026, 12, 3)
    assert memo(container, after) == "Zelle HB-7Q2K"


def test_pending_to_posted_in_one_sync_stores_one_posted_credit(
    container: Container, fake: FakePlaid, adapter: PlaidAdapter, item_id: str
) -> None:
    pending = fake.add_credit(item_id, 12000, memo="Venmo", pending=True)
    posted = fake.post(item_id, pending)
    sync_item(container, adapter, item_id)
    [row] = rows(container)
    assert row.provider_id == posted and not row.pending and row.removed_at is None


def test_modified_updates_and_removed_marks_removed(
    container: Container, fake: FakePlaid, adapter: PlaidAdapter, item_id: str
) -> None:
    keep = fake.add_credit(item_id, 30000, memo="deposit HB-1")
    gone = fake.add_credit(item_id, 4000, memo="oops")
    sync_item(container, adapter, item_id)
    fake.modify(item_id, keep, amount_cents=31000, memo="deposit HB-1 corrected")
    fake.remove(item_id, gone)
    sync_item(container, adapter, item_id)
    by_id = {r.provider_id: r for r in rows(container)}
    assert by_id[keep].amount_cents == 31000 and memo(container, by_id[keep]) == "deposit HB-1 corrected"
    assert by_id[keep].removed_at is None
    assert by_id[gone].removed_at is not None


def test_debits_are_ignored(container: Container, fake: FakePlaid, adapter: PlaidAdapter, item_id: str) -> None:
    fake.add_debit(item_id, 8000, memo="RESTAURANT DEPOT")
    credit = fake.add_credit(item_id, 9000, memo="HB-2")
    sync_item(container, adapter, item_id)
    assert [r.provider_id for r in rows(container)] == [credit]


def test_payer_and_memo_are_encrypted_at_rest(
    container: Container, fake: FakePlaid, adapter: PlaidAdapter, item_id: str
) -> None:
    fake.add_credit(item_id, 15000, payer="Priya Raman", memo="Zelle from Priya HB-9X")
    sync_item(container, adapter, item_id)
    [row] = rows(container)
    assert b"Priya" not in row.payer_enc and b"HB-9X" not in row.memo_enc
    payer = container.cipher.decrypt(
        row.payer_enc, table="integra.bank_transactions", column="payer_enc", row_id=str(row.id)
    )
    assert payer == "Priya Raman"
    with container.engine.connect() as conn:
        token_enc = conn.execute(select(bank_items.c.access_token_enc)).scalar_one()
    assert b"access-sandbox" not in token_enc


# ---------------------------------------------------------------- webhooks


@pytest.fixture
def client(container: Container, wired: BankSync) -> TestClient:
    return TestClient(create_app(container))


def post(client: TestClient, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/webhooks/plaid", content=body, headers=headers)


def test_a_verified_webhook_triggers_one_sync_and_a_repeat_none(
    container: Container, fake: FakePlaid, item_id: str, client: TestClient, wired: BankSync
) -> None:
    fake.add_credit(item_id, 20000, memo="HB-WEB")
    now = container.clock.now().timestamp()
    body, headers = fake.signed_webhook(item_id, iat=now)
    answer = post(client, body, headers)
    assert answer.status_code == 200 and answer.json() == {"received": True, "duplicate": False}
    assert wired.runner.wait_idle(10)
    assert [r.amount_cents for r in rows(container)] == [20000]
    runs = wired.runner.runs
    # The same delivery again (a replay or a duplicate): acknowledged, not synced again.
    repeat = post(client, body, headers)
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
    assert wired.runner.wait_idle(10) and wired.runner.runs == runs
    with container.engine.connect() as conn:
        assert conn.execute(select(webhook_events.c.event_type)).scalars().all() == [
            "TRANSACTIONS.SYNC_UPDATES_AVAILABLE"
        ]
    # A later notice has the same body (Plaid's SYNC_UPDATES_AVAILABLE carries no time): it is a
    # new update, told apart by its signed iat, and syncs.
    fake.add_credit(item_id, 21000, memo="HB-WEB-2")
    _, later = fake.signed_webhook(item_id, iat=now + 60)
    assert post(client, body, later).json()["duplicate"] is False
    assert wired.runner.wait_idle(10) and wired.runner.runs == runs + 1
    assert sorted(r.amount_cents for r in rows(container)) == [20000, 21000]
    with container.engine.connect() as conn:
        assert None not in conn.execute(select(webhook_events.c.processed_at)).scalars().all()


def test_a_delivery_whose_sync_failed_stays_unprocessed_until_one_succeeds(
    container: Container, fake: FakePlaid, item_id: str, client: TestClient, wired: BankSync
) -> None:
    fake.add_credit(item_id, 20000, memo="HB-LATE")
    body, headers = fake.signed_webhook(item_id, iat=container.clock.now().timestamp())
    real, failing = wired.provider, True

    class Down:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def sync_page(self, access_token: str, cursor: str | None) -> Any:
            if failing:
                raise ConnectionError("plaid is down")
            return real.sync_page(access_token, cursor)

    def processed() -> list[Any]:
        with container.engine.connect() as conn:
            return list(conn.execute(select(webhook_events.c.processed_at)).scalars())

    wired.provider = Down()
    assert post(client, body, headers).status_code == 200
    assert wired.runner.wait_idle(10) and rows(container) == [] and processed() == [None]
    failing = False
    wired.runner.request(item_id)  # the next sync (a later webhook or `hibachi plaid sync`)
    assert wired.runner.wait_idle(10) and len(rows(container)) == 1
    assert processed() != [None]


def test_other_webhook_codes_do_not_sync(
    container: Container, fake: FakePlaid, item_id: str, client: TestClient, wired: BankSync
) -> None:
    fake.add_credit(item_id, 1000)
    body = fake.webhook_body(item_id, code="DEFAULT_UPDATE")
    answer = post(client, body, {"Plaid-Verification": fake.sign(body, iat=container.clock.now().timestamp())})
    assert answer.status_code == 200
    assert wired.runner.wait_idle(10) and wired.runner.runs == 0 and rows(container) == []


@pytest.mark.parametrize("forgery", ["no_header", "garbage", "other_key", "expired", "future", "body_changed", "hs256"])
def test_unverified_webhooks_are_refused(
    container: Container, fake: FakePlaid, item_id: str, client: TestClient, wired: BankSync, forgery: str
) -> None:
    fake.add_credit(item_id, 1000)
    now = container.clock.now().timestamp()
    body = fake.webhook_body(item_id)
    headers = {"Plaid-Verification": fake.sign(body, iat=now)}
    if forgery == "no_header":
        headers = {}
    elif forgery == "garbage":
        headers["Plaid-Verification"] = "not.a.jwt"
    elif forgery == "other_key":
        headers["Plaid-Verification"] = fake.sign(body, iat=now, key=ECKey.generate_key("P-256"))
    elif forgery == "expired":
        headers["Plaid-Verification"] = fake.sign(body, iat=now - 6 * 60)
    elif forgery == "future":
        headers["Plaid-Verification"] = fake.sign(body, iat=now + 10 * 60)
    elif forgery == "body_changed":
        body = body.replace(b"SYNC_UPDATES_AVAILABLE", b"SYNC_UPDATES_AVAILABLE ")
    elif forgery == "hs256":
        from joserfc import jwt
        from joserfc.jwk import OctKey

        claims = {"iat": int(now), "request_body_sha256": "0" * 64}
        headers["Plaid-Verification"] = jwt.encode({"alg": "HS256", "kid": fake.kid}, claims, OctKey.generate_key(256))
    answer = post(client, body, headers)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_signature"
    assert wired.runner.wait_idle(10) and wired.runner.runs == 0 and rows(container) == []
    with container.engine.connect() as conn:
        assert conn.execute(select(webhook_events)).all() == []


def test_plaid_settings_pick_the_fake_the_env_or_the_base_url(settings_env: pytest.MonkeyPatch) -> None:
    from hibachi.settings import SettingsError, load_settings

    assert load_settings().plaid() == ("fake-client", "fake-secret", "http://127.0.0.1:8765")
    settings_env.setenv("PLAID_CLIENT_ID", "cid")
    with pytest.raises(SettingsError, match="PLAID_SECRET"):
        load_settings().plaid()
    settings_env.setenv("PLAID_SECRET", "sec")
    assert load_settings().plaid() == ("cid", "sec", "https://sandbox.plaid.com")
    settings_env.setenv("PLAID_BASE_URL", "http://127.0.0.1:9999/")
    assert load_settings().plaid() == ("cid", "sec", "http://127.0.0.1:9999")
