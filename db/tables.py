"""Every table, by schema. Personal data lives only in `*_enc` columns (AES-256-GCM, see db.pii)
and is found through `*_bidx` blind indexes; nothing here holds it in plain text.

Schemas: core (the business's own records), events (event store, outbox, idempotency),
integra (what providers told us), read (projections the pages read), identity (staff, services),
audit (the tamper-evident, append-only audit log; see domain.audit and db.audit).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

SCHEMAS = ("core", "events", "integra", "read", "identity", "automation")
# Not in SCHEMAS: the audit log is append-only (a trigger refuses UPDATE, DELETE and TRUNCATE), so
# the tests' and evals' resets leave it alone.
AUDIT_SCHEMA = "audit"

NOW = text("now()")
UUID_DEFAULT = text("gen_random_uuid()")


def _id() -> Column[object]:
    return Column("id", UUID(as_uuid=False), primary_key=True, server_default=UUID_DEFAULT)


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW)


# ---------------------------------------------------------------- core
zones = Table(
    "zones",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", Text, nullable=False),
    Column("zip_prefixes", ARRAY(String(5)), nullable=False),
    Column("travel_fee_cents", Integer, nullable=False),
    schema="core",
)

chefs = Table(
    "chefs",
    metadata,
    _id(),
    Column("ordinal", Integer, nullable=False),
    Column("name", Text, nullable=False),  # staff, not customers: their names are not PII we protect
    Column("zones", ARRAY(String(16)), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    UniqueConstraint("name"),
    schema="core",
)

customers = Table(
    "customers",
    metadata,
    _id(),
    Column("first_name_enc", LargeBinary, nullable=False),
    Column("last_name_enc", LargeBinary, nullable=False),
    Column("email_enc", LargeBinary),
    Column("email_bidx", LargeBinary),
    Column("phone_enc", LargeBinary),
    Column("phone_bidx", LargeBinary),
    # Staff search a customer by name: keyed hashes of the normalised (lower-case, whitespace
    # collapsed) first, last and full name. Exact matches only: an encrypted name has no prefix.
    Column("first_name_bidx", LargeBinary),
    Column("last_name_bidx", LargeBinary),
    Column("full_name_bidx", LargeBinary),
    Column("consent_sms", Boolean, nullable=False, server_default=text("false")),
    Column("consent_email", Boolean, nullable=False, server_default=text("false")),
    Column("version", Integer, nullable=False, server_default=text("0")),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("erased_at", DateTime(timezone=True)),  # erased on request: no contact, names tombstoned
    CheckConstraint("erased_at IS NOT NULL OR email_bidx IS NOT NULL OR phone_bidx IS NOT NULL", name="has_contact"),
    schema="core",
)
Index("uq_customers_email_bidx", customers.c.email_bidx, unique=True)
Index("uq_customers_phone_bidx", customers.c.phone_bidx, unique=True)
Index("ix_customers_first_name_bidx", customers.c.first_name_bidx)
Index("ix_customers_last_name_bidx", customers.c.last_name_bidx)
Index("ix_customers_full_name_bidx", customers.c.full_name_bidx)

data_keys = Table(
    # Envelope encryption (db/envelope.py): a customer's or a thread's data key, wrapped by the master
    # key `master_key_id`; `wrapped` NULL once destroyed (the owner was erased).
    "data_keys",
    metadata,
    Column("owner_id", UUID(as_uuid=False), primary_key=True),
    Column("owner_kind", String(16), nullable=False),
    Column("wrapped", LargeBinary),
    Column("master_key_id", String(32), nullable=False),
    _created(),
    Column("destroyed_at", DateTime(timezone=True)),
    CheckConstraint("owner_kind IN ('customer', 'thread')", name="owner_kind_known"),
    schema="core",
)
Index("ix_data_keys_master_key_id", data_keys.c.master_key_id)  # rotation finds the keys left to re-wrap

consents = Table(
    # The consent ledger: every opt-in and opt-out, appended by services.consent.record_consent only.
    # The current state is the latest row (by seq) per channel; customers.consent_* caches it.
    "consents",
    metadata,
    _id(),
    Column("customer_id", UUID(as_uuid=False), ForeignKey("core.customers.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("source", String(32), nullable=False),
    Column("source_message_id", Text),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    # Ledger order: recorded_at can tie (one clock reading per command), seq never does.
    Column("seq", BigInteger, Identity(always=True), nullable=False),
    # The phone's blind index (sms rows): a STOP is found by number, the number is never stored here.
    Column("phone_bidx", LargeBinary),
    Column("text_enc", LargeBinary),  # what the customer said (AAD: core.consents.text_enc/<id>)
    Column("ip_enc", LargeBinary),  # web: the client address the consent came from (their data key)
    Column("page_enc", LargeBinary),  # web: the page the widget was on (their data key)
    schema="core",
)
Index("ix_consents_phone_bidx", consents.c.phone_bidx, consents.c.channel, consents.c.seq)
Index("ix_consents_customer_id", consents.c.customer_id, consents.c.channel, consents.c.seq)

sms_refusals = Table(
    # Every outbound text the SMS sender refused or held, with why, for staff (services.sms).
    "sms_refusals",
    metadata,
    _id(),
    Column("outbox_id", UUID(as_uuid=False)),
    Column("target", String(64), nullable=False),
    Column("thread_id", UUID(as_uuid=False)),
    Column("booking_id", UUID(as_uuid=False)),
    Column("reason", String(32), nullable=False),
    Column("held_until", DateTime(timezone=True)),  # quiet hours: when it goes instead
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("reason IN ('opted_out', 'no_consent', 'quiet_hours', 'no_phone')", name="reason_known"),
    schema="integra",
)
Index("ix_sms_refusals_thread_id", sms_refusals.c.thread_id)

bookings = Table(
    "bookings",
    metadata,
    _id(),
    Column("reference", String(16), nullable=False),
    Column("customer_id", UUID(as_uuid=False), ForeignKey("core.customers.id"), nullable=False),
    Column("chef_id", UUID(as_uuid=False), ForeignKey("core.chefs.id"), nullable=False),
    Column("event_date", Date, nullable=False),
    Column("slot", Time, nullable=False),
    Column("zone_id", String(16), ForeignKey("core.zones.id"), nullable=False),
    Column("zip", String(5), nullable=False),
    Column("address_enc", LargeBinary, nullable=False),
    Column("notes_enc", LargeBinary),
    Column("adults", Integer, nullable=False),
    Column("kids", Integer, nullable=False),
    Column("food_cents", Integer, nullable=False),
    Column("upgrades_cents", Integer, nullable=False),
    Column("travel_fee_cents", Integer, nullable=False),
    Column("total_due_cents", Integer, nullable=False),
    Column("deposit_due_cents", Integer, nullable=False),
    Column("deposit_paid_cents", Integer, nullable=False, server_default=text("0")),
    Column("status", String(24), nullable=False),
    Column("source", String(16), nullable=False),
    Column("reschedule_count", Integer, nullable=False, server_default=text("0")),
    Column("version", Integer, nullable=False),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    UniqueConstraint("reference"),
    CheckConstraint("adults >= 0 AND kids >= 0", name="party_not_negative"),
    CheckConstraint("status IN ('deposit_pending', 'deposit_paid', 'cancelled', 'completed')", name="status_known"),
    schema="core",
)
# A backstop under the chef-day lock: one chef can never hold two active events at the same start.
Index(
    "uq_bookings_chef_start_active",
    bookings.c.chef_id,
    bookings.c.event_date,
    bookings.c.slot,
    unique=True,
    postgresql_where=text("status IN ('deposit_pending', 'deposit_paid')"),
)
Index("ix_bookings_event_date", bookings.c.event_date)
Index("ix_bookings_customer_id", bookings.c.customer_id)

booking_upgrades = Table(
    "booking_upgrades",
    metadata,
    Column("booking_id", UUID(as_uuid=False), ForeignKey("core.bookings.id", ondelete="CASCADE"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("guests", Integer, nullable=False),
    Column("unit_cents", Integer, nullable=False),
    PrimaryKeyConstraint("booking_id", "code"),
    CheckConstraint("guests > 0", name="guests_positive"),
    schema="core",
)

message_threads = Table(
    "message_threads",
    metadata,
    _id(),
    Column("customer_id", UUID(as_uuid=False), ForeignKey("core.customers.id")),
    Column("channel", String(8), nullable=False),
    Column("contact_bidx", LargeBinary),  # phone (sms) or web session, blind-indexed
    Column("contact_enc", LargeBinary),  # the same, encrypted: whom an SMS reply goes to
    Column("mode", String(8), nullable=False, server_default=text("'ai'")),
    # pending: the agent has it; open: staff are needed or have it (handoff, takeover); snoozed
    # until `snoozed_until`; resolved. A customer message reopens a snoozed or resolved thread.
    Column("status", String(16), nullable=False, server_default=text("'pending'")),
    Column("handoff_reason", String(32)),  # why the thread is in human mode
    Column("version", Integer, nullable=False, server_default=text("0")),  # the thread's events so far
    _created(),
    Column("assignee_id", UUID(as_uuid=False), ForeignKey("identity.staff_users.id")),
    Column("snoozed_until", DateTime(timezone=True)),
    CheckConstraint("channel IN ('sms', 'web')", name="channel_known"),
    CheckConstraint("mode IN ('ai', 'human')", name="mode_known"),
    CheckConstraint("status IN ('open', 'pending', 'snoozed', 'resolved')", name="status_known"),
    schema="core",
)
# One thread per channel identity: two first messages from one phone or session meet here.
Index("uq_message_threads_channel_contact", message_threads.c.channel, message_threads.c.contact_bidx, unique=True)

messages = Table(
    "messages",
    metadata,
    _id(),
    Column("thread_id", UUID(as_uuid=False), ForeignKey("core.message_threads.id"), nullable=False),
    Column("direction", String(8), nullable=False),  # in | out
    Column("author", String(16), nullable=False),  # customer | ai | staff | system
    Column("body_enc", LargeBinary, nullable=False),
    Column("provider", String(32)),
    Column("provider_message_id", Text),
    # Store order: transcripts and turns follow it (created_at is the transaction's start, ties).
    Column("seq", BigInteger, Identity(always=True), nullable=False),
    Column("in_reply_to", UUID(as_uuid=False), ForeignKey("core.messages.id")),  # out: the message answered
    Column("handled_at", DateTime(timezone=True)),  # in: when its turn ran (or staff mode took it)
    _created(),
    # out: the staff user who wrote it (a staff message, or one staff sent "as AI")
    Column("staff_id", UUID(as_uuid=False), ForeignKey("identity.staff_users.id")),
    UniqueConstraint("provider", "provider_message_id", name="uq_messages_provider_message"),
    schema="core",
)
Index("ix_messages_thread_created", messages.c.thread_id, messages.c.created_at)
Index("ix_messages_thread_seq", messages.c.thread_id, messages.c.seq)

thread_notes = Table(
    # Staff's private notes on a thread: never sent, body encrypted (AAD: table, column, note id).
    "thread_notes",
    metadata,
    _id(),
    Column("thread_id", UUID(as_uuid=False), ForeignKey("core.message_threads.id"), nullable=False),
    Column("author_id", UUID(as_uuid=False), ForeignKey("identity.staff_users.id"), nullable=False),
    Column("body_enc", LargeBinary, nullable=False),
    _created(),
    schema="core",
)
Index("ix_thread_notes_thread_created", thread_notes.c.thread_id, thread_notes.c.created_at)

# ---------------------------------------------------------------- events
domain_events = Table(
    "domain_events",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=False), nullable=False, server_default=UUID_DEFAULT),
    Column("aggregate_type", String(32), nullable=False),
    Column("aggregate_id", UUID(as_uuid=False), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    # The writing transaction's id: a projector reading by position can skip rows whose
    # transaction commits late, so catch-up readers order and filter by visibility instead.
    Column("txid", BigInteger, nullable=False, server_default=text("(pg_current_xact_id()::text)::bigint")),
    UniqueConstraint("aggregate_id", "version", name="uq_domain_events_aggregate_version"),
    UniqueConstraint("event_id"),
    schema="events",
)

outbox = Table(
    "outbox",
    metadata,
    _id(),
    Column("target", String(64), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("aggregate_id", UUID(as_uuid=False)),
    Column("status", String(16), nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False),
    Column("available_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("last_error", Text),
    Column("result", JSONB),
    _created(),
    Column("dispatched_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('pending', 'done', 'dead')", name="status_known"),
    schema="events",
)
Index(
    "ix_outbox_due",
    outbox.c.available_at,
    postgresql_where=text("status = 'pending'"),
)
# Dead letters, by when they died: the staff deliveries page and the inbox's count of them.
Index("ix_outbox_dead", outbox.c.available_at, postgresql_where=text("status = 'dead'"))

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("command", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("response_status", Integer, nullable=False),
    Column("response_body", JSONB, nullable=False),
    _created(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("command", "key"),
    schema="events",
)

# ---------------------------------------------------------------- integra
payment_events = Table(
    "payment_events",
    metadata,
    _id(),
    Column("provider", String(16), nullable=False),
    Column("provider_id", String(255), nullable=False),
    Column("booking_id", UUID(as_uuid=False), ForeignKey("core.bookings.id")),
    Column("kind", String(32), nullable=False),  # deposit | refund | bank_credit | ...
    Column("amount_cents", Integer, nullable=False),
    Column("currency", String(3), nullable=False, server_default=text("'USD'")),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    _created(),
    UniqueConstraint("provider", "provider_id", name="uq_payment_events_provider_id"),
    schema="integra",
)

payment_links = Table(
    # Hosted checkout sessions (Stripe) for a booking's deposit: the link the customer pays through.
    "payment_links",
    metadata,
    _id(),
    Column("booking_id", UUID(as_uuid=False), ForeignKey("core.bookings.id"), nullable=False),
    Column("provider", String(16), nullable=False),
    Column("provider_id", String(255), nullable=False),  # the checkout session id
    Column("url", Text, nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("status", String(16), nullable=False, server_default=text("'open'")),  # open | paid | expired
    Column("expires_at", DateTime(timezone=True)),
    Column("outbox_id", UUID(as_uuid=False)),  # the outbox row that made it (its idempotency key)
    _created(),
    UniqueConstraint("provider", "provider_id", name="uq_payment_links_provider_id"),
    schema="integra",
)
Index("ix_payment_links_booking", payment_links.c.booking_id)

webhook_events = Table(
    # Every provider webhook event seen, by the provider's event id: a repeat is acknowledged, not redone.
    "webhook_events",
    metadata,
    Column("provider", String(16), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("processed_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("provider", "event_id"),
    schema="integra",
)

sms_deliveries = Table(
    # Texts a provider accepted, by outbox row: the provider's message id is written before the row is
    # marked done (a retry finds it and does not send again) and the latest delivery status it reported.
    "sms_deliveries",
    metadata,
    Column("outbox_id", UUID(as_uuid=False), primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("provider_message_id", String(64), nullable=False),
    Column("thread_id", UUID(as_uuid=False)),
    Column("message_id", UUID(as_uuid=False)),
    Column("status", String(32), nullable=False),  # the provider's word: Queued, Sent, Delivered, DeliveryFailed...
    Column("error_code", String(64)),
    Column("sent_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("status_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    UniqueConstraint("provider", "provider_message_id", name="uq_sms_deliveries_provider_message_id"),
    schema="integra",
)

webhook_subscriptions = Table(
    # A provider's webhook subscription we renew (RingCentral's expire): one per provider.
    "webhook_subscriptions",
    metadata,
    Column("provider", String(16), primary_key=True),
    Column("subscription_id", String(64), nullable=False),
    Column("address", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    schema="integra",
)

bank_items = Table(
    # A linked bank connection (a Plaid item): its access token (encrypted) and the sync cursor.
    "bank_items",
    metadata,
    Column("item_id", String(255), primary_key=True),
    Column("provider", String(16), nullable=False, server_default=text("'plaid'")),
    Column("access_token_enc", LargeBinary, nullable=False),
    Column("cursor", Text),
    Column("synced_at", DateTime(timezone=True)),
    _created(),
    schema="integra",
)

bank_transactions = Table(
    # Bank transactions as the provider reports them (credits are what matter); the payer's name and
    # the memo are personal: encrypted.
    "bank_transactions",
    metadata,
    _id(),
    Column("provider", String(16), nullable=False),
    Column("provider_id", String(255), nullable=False),  # the transaction id
    Column("item_id", String(255)),
    Column("account_id", String(255)),
    Column("amount_cents", Integer, nullable=False),  # positive: money in
    Column("posted_on", Date, nullable=False),
    Column("pending", Boolean, nullable=False, server_default=text("false")),
    Column("pending_id", String(255)),  # a posted transaction's pending predecessor
    Column("payer_enc", LargeBinary),
    Column("memo_enc", LargeBinary),
    Column("removed_at", DateTime(timezone=True)),
    Column(
        "match_status", String(16), nullable=False, server_default=text("'unmatched'")
    ),  # unmatched | matched | ignored
    Column("booking_id", UUID(as_uuid=False), ForeignKey("core.bookings.id")),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    UniqueConstraint("provider", "provider_id", name="uq_bank_transactions_provider_id"),
    schema="integra",
)
Index("ix_bank_transactions_match", bank_transactions.c.match_status, bank_transactions.c.posted_on)

match_suggestions = Table(
    # The matcher's ranked candidates for a bank credit it did not match on its own.
    "match_suggestions",
    metadata,
    Column("transaction_id", UUID(as_uuid=False), ForeignKey("integra.bank_transactions.id"), nullable=False),
    Column("booking_id", UUID(as_uuid=False), ForeignKey("core.bookings.id"), nullable=False),
    Column("score", Integer, nullable=False),  # 0..1000
    Column("rank", Integer, nullable=False),
    Column("evidence", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column(
        "status", String(16), nullable=False, server_default=text("'suggested'")
    ),  # suggested | confirmed | rejected
    _created(),
    PrimaryKeyConstraint("transaction_id", "booking_id"),
    schema="integra",
)

payer_aliases = Table(
    # Learnt from confirmed matches: this payer name (blind index of its normal form) pays for this customer.
    "payer_aliases",
    metadata,
    Column("payer_bidx", LargeBinary, nullable=False),
    Column("customer_id", UUID(as_uuid=False), ForeignKey("core.customers.id"), nullable=False),
    Column("confirmed", Integer, nullable=False, server_default=text("1")),
    _created(),
    PrimaryKeyConstraint("payer_bidx", "customer_id"),
    schema="integra",
)

calendar_busy = Table(
    # A chef's busy time from their own Google calendar (filled by sync; the events the system made
    # for bookings are left out). Availability subtracts these.
    "calendar_busy",
    metadata,
    Column("calendar_id", String(255), nullable=False),
    Column("event_id", String(1024), nullable=False),
    Column("chef_id", UUID(as_uuid=False), ForeignKey("core.chefs.id"), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("calendar_id", "event_id"),
    schema="integra",
)
Index("ix_calendar_busy_chef_starts", calendar_busy.c.chef_id, calendar_busy.c.starts_at)

calendar_sync = Table(
    # Per chef calendar: the syncToken of the last incremental sync (NULL: the next sync is a full one).
    "calendar_sync",
    metadata,
    Column("calendar_id", String(255), primary_key=True),
    Column("chef_id", UUID(as_uuid=False), ForeignKey("core.chefs.id"), nullable=False),
    Column("sync_token", Text),
    Column("synced_at", DateTime(timezone=True)),
    schema="integra",
)

calendar_channels = Table(
    # events.watch push channels: a push is accepted only for a known channel id with its token.
    "calendar_channels",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("calendar_id", String(255), nullable=False),
    Column("token_hash", LargeBinary, nullable=False),  # SHA-256 of the channel token
    Column("resource_id", String(255), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    _created(),
    schema="integra",
)
Index("ix_calendar_channels_calendar_id", calendar_channels.c.calendar_id)

# ---------------------------------------------------------------- read (projections)
inbox_threads = Table(
    "inbox_threads",
    metadata,
    Column("thread_id", UUID(as_uuid=False), primary_key=True),
    Column("customer_id", UUID(as_uuid=False)),
    Column("channel", String(8), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("assignee_id", UUID(as_uuid=False)),
    Column("unread_count", Integer, nullable=False, server_default=text("0")),
    Column("last_message_at", DateTime(timezone=True)),
    Column("waiting_since", DateTime(timezone=True)),
    Column("handoff_reason", String(32)),
    # The agent asked for a person and no staff has answered, taken or resolved it yet: the alert.
    Column("handoff_requested", Boolean, nullable=False, server_default=text("false")),
    Column("snoozed_until", DateTime(timezone=True)),
    Column("last_message_id", UUID(as_uuid=False)),
    Column("last_author", String(16)),
    schema="read",
)
# The inbox's order (alerts first, then the longest waiting, then the latest), read by index.
Index(
    "ix_inbox_threads_order",
    inbox_threads.c.handoff_requested.desc(),
    inbox_threads.c.waiting_since.asc().nulls_last(),
    inbox_threads.c.last_message_at.desc().nulls_last(),
)
Index("ix_inbox_threads_status", inbox_threads.c.status)
Index("ix_inbox_threads_assignee_id", inbox_threads.c.assignee_id)
Index("ix_inbox_threads_customer_id", inbox_threads.c.customer_id)

schedule_board = Table(
    "schedule_board",
    metadata,
    Column("booking_id", UUID(as_uuid=False), primary_key=True),
    Column("reference", String(16), nullable=False),
    Column("chef_id", UUID(as_uuid=False), nullable=False),
    Column("chef_name", Text, nullable=False),
    Column("event_date", Date, nullable=False),
    Column("slot", Time, nullable=False),
    Column("zone_id", String(16), nullable=False),
    Column("guests", Integer, nullable=False),
    Column("status", String(24), nullable=False),
    Column("total_due_cents", Integer, nullable=False),
    Column("deposit_due_cents", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    schema="read",
)
Index("ix_schedule_board_date", schedule_board.c.event_date, schedule_board.c.slot)

payments_feed = Table(
    "payments_feed",
    metadata,
    _id(),
    Column("booking_id", UUID(as_uuid=False)),
    Column("reference", String(16)),
    Column("kind", String(32), nullable=False),  # deposit_due | deposit_paid | refund_due | refunded ...
    Column("amount_cents", Integer, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    schema="read",
)
Index("ix_payments_feed_occurred", payments_feed.c.occurred_at)

customer_360 = Table(
    "customer_360",
    metadata,
    Column("customer_id", UUID(as_uuid=False), primary_key=True),
    Column("bookings_count", Integer, nullable=False, server_default=text("0")),
    Column("active_bookings", Integer, nullable=False, server_default=text("0")),
    Column("cancelled_bookings", Integer, nullable=False, server_default=text("0")),
    Column("lifetime_value_cents", BigInteger, nullable=False, server_default=text("0")),
    Column("next_event_date", Date),
    Column("last_booking_at", DateTime(timezone=True)),
    Column("consent_sms", Boolean, nullable=False, server_default=text("false")),
    Column("consent_email", Boolean, nullable=False, server_default=text("false")),
    schema="read",
)

# ---------------------------------------------------------------- identity
staff_users = Table(
    # People who log in (owner, admin, staff, chef). Email encrypted, found by its blind index.
    "staff_users",
    metadata,
    _id(),
    Column("email_enc", LargeBinary, nullable=False),
    Column("email_bidx", LargeBinary, nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text),  # argon2id; NULL: single sign-on only
    Column("active", Boolean, nullable=False, server_default=text("true")),
    _created(),
    Column("name_enc", LargeBinary),
    Column("chef_id", UUID(as_uuid=False), ForeignKey("core.chefs.id")),  # a chef's own schedule
    Column("mfa_secret_enc", LargeBinary),  # TOTP secret, encrypted; set when enrolment is confirmed
    Column("mfa_enrolled_at", DateTime(timezone=True)),
    Column("failed_logins", Integer, nullable=False, server_default=text("0")),  # since the last success
    Column("locked_until", DateTime(timezone=True)),
    Column("version", Integer, nullable=False, server_default=text("0")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    # MFA enrolment in progress: the TOTP secret (encrypted) waits here, bound to the session that
    # asked for it, until a code from it is confirmed.
    Column("mfa_pending_enc", LargeBinary),
    Column("mfa_pending_session_id", UUID(as_uuid=False)),
    Column("mfa_last_step", BigInteger),  # the last TOTP time step accepted: a code works once
    # An owner's or admin's one-time enrolment code (keyed hash), so a password alone cannot enrol.
    Column("mfa_enrol_code_hash", LargeBinary),
    Column("mfa_enrol_code_expires_at", DateTime(timezone=True)),
    UniqueConstraint("email_bidx"),
    CheckConstraint("role IN ('owner', 'admin', 'staff', 'chef', 'ai_service')", name="role_known"),
    schema="identity",
)

staff_sessions = Table(
    # Server-side sessions: the cookie holds a random token, this table its SHA-256 only.
    "staff_sessions",
    metadata,
    _id(),
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("user_id", UUID(as_uuid=False), ForeignKey("identity.staff_users.id"), nullable=False),
    Column("csrf_token", Text, nullable=False),  # the synchronizer token every state-changing form carries
    Column("mfa_passed", Boolean, nullable=False, server_default=text("false")),
    Column("method", String(16), nullable=False),  # password | oidc
    _created(),
    Column("last_seen_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("ended_at", DateTime(timezone=True)),
    Column("ended_reason", String(32)),
    schema="identity",
)
Index("ix_staff_sessions_user", staff_sessions.c.user_id)

recovery_codes = Table(
    # One-time MFA recovery codes, hashed (HMAC with the blind-index key); used_at set on use.
    "recovery_codes",
    metadata,
    Column("user_id", UUID(as_uuid=False), ForeignKey("identity.staff_users.id"), nullable=False),
    Column("code_hash", LargeBinary, nullable=False),
    _created(),
    Column("used_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("user_id", "code_hash"),
    schema="identity",
)

login_attempts = Table(
    # Every password login attempt, for throttling per account and per IP (old rows are purged).
    "login_attempts",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("email_bidx", LargeBinary),
    Column("ip", String(64), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
    schema="identity",
)
Index("ix_login_attempts_email_at", login_attempts.c.email_bidx, login_attempts.c.at)
Index("ix_login_attempts_ip_at", login_attempts.c.ip, login_attempts.c.at)

service_clients = Table(
    # OAuth clients of the client-credentials grant (the agent process, integrations, scripts).
    "service_clients",
    metadata,
    _id(),
    Column("name", String(64), nullable=False, unique=True),
    Column("secret_hash", Text, nullable=False),  # argon2id of the client secret
    Column("role", String(16), nullable=False, server_default=text("'ai_service'")),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    _created(),
    schema="identity",
)

oidc_requests = Table(
    # A single sign-on in flight: state (hashed), nonce and PKCE verifier, used once, for 10 minutes.
    "oidc_requests",
    metadata,
    Column("state_hash", LargeBinary, primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("nonce", Text, nullable=False),
    Column("code_verifier_enc", LargeBinary, nullable=False),
    Column("return_to", Text),
    _created(),
    Column("used_at", DateTime(timezone=True)),
    schema="identity",
)

auth_events = Table(
    # The identity audit trail: logins, failures, lockouts, MFA changes, role changes, tokens issued.
    # Append-only; the privacy issue's tamper-evident audit log takes these over.
    "auth_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("kind", String(40), nullable=False),
    Column("user_id", UUID(as_uuid=False)),  # whom it is about (a staff user), if anyone
    Column("actor", Text),  # who did it: a user id, service:NAME, cli, or system
    Column("ip", String(64)),
    Column("detail", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    schema="identity",
)
Index("ix_auth_events_user_at", auth_events.c.user_id, auth_events.c.at)

audit_entries = Table(
    # The audit log: one hash-chained entry per command, admin action, authentication event, export
    # and erasure. Append-only (triggers of migration 0008); no personal data (domain.audit).
    "entries",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),  # 1, 2, 3, ...: the chain order
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),  # user:<uuid>, service:<client>, agent:<thread>, system, cli
    Column("action", String(100), nullable=False),  # a command's class name, auth.<kind>, admin.<action>, ...
    Column("subject", String(200)),  # an id or a booking reference, never a name, phone or email
    Column("detail", JSONB, nullable=False),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    schema=AUDIT_SCHEMA,
)

audit_pending = Table(
    # An entry waiting for its transaction's commit, when a deferred trigger chains it into
    # audit.entries and deletes it (so no other transaction ever sees a row here).
    "pending",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", String(200)),
    Column("detail", JSONB, nullable=False),
    Column("canonical_prefix", LargeBinary, nullable=False),  # the canonical encoding before the position
    Column("canonical_suffix", LargeBinary, nullable=False),  # and after it
    schema=AUDIT_SCHEMA,
)


# ---------------------------------------------------------------- automation (journeys)
journey_runs = Table(
    # One run of a journey for a booking (automation/runner.py): the step it is on and when it is due.
    "journey_runs",
    metadata,
    _id(),
    Column("journey", String(64), nullable=False),
    Column("booking_id", UUID(as_uuid=False)),  # a booking's journey, or
    Column("thread_id", UUID(as_uuid=False)),  # a conversation's (a quote follow-up)
    Column("step_index", Integer, nullable=False, server_default=text("0")),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, server_default=text("'active'")),
    Column("outcome", Text),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("status IN ('active', 'finished', 'exited', 'stopped', 'failed')", name="status_known"),
    CheckConstraint("(booking_id IS NULL) <> (thread_id IS NULL)", name="booking_or_thread"),
    UniqueConstraint("journey", "booking_id", name="uq_journey_runs_journey_booking"),
    UniqueConstraint("journey", "thread_id", name="uq_journey_runs_journey_thread"),
    schema="automation",
)
Index("ix_journey_runs_due", journey_runs.c.status, journey_runs.c.due_at)
Index("ix_journey_runs_booking_id", journey_runs.c.booking_id)

journey_steps = Table(
    # Every step a run took; (run, step) is the step's idempotency key: a retried step finds its row.
    "journey_steps",
    metadata,
    Column("run_id", UUID(as_uuid=False), ForeignKey("automation.journey_runs.id"), nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("outcome", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("run_id", "step_index"),
    schema="automation",
)

staff_tasks = Table(
    # Something a journey asks staff to do (a call, a check), shown with the booking.
    "staff_tasks",
    metadata,
    _id(),
    Column("booking_id", UUID(as_uuid=False), nullable=False),
    Column("run_id", UUID(as_uuid=False)),
    Column("text", Text, nullable=False),
    _created(),
    Column("done_at", DateTime(timezone=True)),
    schema="automation",
)
