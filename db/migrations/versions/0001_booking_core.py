"""booking core: schemas core, events, integra, read, identity and their tables

Revision ID: 0001
Revises:
Create Date: 2026-11-25 22:09:08.768300

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported: a migration must not change when the code does.
SCHEMAS = ("core", "events", "integra", "read", "identity")


def upgrade() -> None:
    """Upgrade schema."""
    for schema in SCHEMAS:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    op.create_table(
        "chefs",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("zones", postgresql.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chefs")),
        sa.UniqueConstraint("name", name=op.f("uq_chefs_name")),
        schema="core",
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("first_name_enc", sa.LargeBinary(), nullable=False),
        sa.Column("last_name_enc", sa.LargeBinary(), nullable=False),
        sa.Column("email_enc", sa.LargeBinary(), nullable=True),
        sa.Column("email_bidx", sa.LargeBinary(), nullable=True),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_bidx", sa.LargeBinary(), nullable=True),
        sa.Column("consent_sms", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("consent_email", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("email_bidx IS NOT NULL OR phone_bidx IS NOT NULL", name=op.f("ck_customers_has_contact")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        schema="core",
    )
    op.create_index("uq_customers_email_bidx", "customers", ["email_bidx"], unique=True, schema="core")
    op.create_index("uq_customers_phone_bidx", "customers", ["phone_bidx"], unique=True, schema="core")
    op.create_table(
        "zones",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("zip_prefixes", postgresql.ARRAY(sa.String(length=5)), nullable=False),
        sa.Column("travel_fee_cents", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zones")),
        schema="core",
    )
    op.create_table(
        "domain_events",
        sa.Column("position", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("aggregate_type", sa.String(length=32), nullable=False),
        sa.Column("aggregate_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_domain_events")),
        sa.UniqueConstraint("aggregate_id", "version", name="uq_domain_events_aggregate_version"),
        sa.UniqueConstraint("event_id", name=op.f("uq_domain_events_event_id")),
        schema="events",
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("command", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("command", "key", name=op.f("pk_idempotency_keys")),
        schema="events",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("aggregate_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'done', 'dead')", name=op.f("ck_outbox_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema="events",
    )
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["available_at"],
        unique=False,
        schema="events",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "staff_users",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email_enc", sa.LargeBinary(), nullable=False),
        sa.Column("email_bidx", sa.LargeBinary(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'staff', 'chef', 'ai_service')",
            name=op.f("ck_staff_users_role_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("email_bidx", name=op.f("uq_staff_users_email_bidx")),
        schema="identity",
    )
    op.create_table(
        "customer_360",
        sa.Column("customer_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("bookings_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("active_bookings", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("cancelled_bookings", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lifetime_value_cents", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_event_date", sa.Date(), nullable=True),
        sa.Column("last_booking_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_sms", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("consent_email", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_360")),
        schema="read",
    )
    op.create_table(
        "inbox_threads",
        sa.Column("thread_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("customer_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("unread_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("thread_id", name=op.f("pk_inbox_threads")),
        schema="read",
    )
    op.create_table(
        "payments_feed",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("booking_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("reference", sa.String(length=16), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_feed")),
        schema="read",
    )
    op.create_index("ix_payments_feed_occurred", "payments_feed", ["occurred_at"], unique=False, schema="read")
    op.create_table(
        "schedule_board",
        sa.Column("booking_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("chef_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("chef_name", sa.Text(), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("slot", sa.Time(), nullable=False),
        sa.Column("zone_id", sa.String(length=16), nullable=False),
        sa.Column("guests", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("total_due_cents", sa.Integer(), nullable=False),
        sa.Column("deposit_due_cents", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_schedule_board")),
        schema="read",
    )
    op.create_index("ix_schedule_board_date", "schedule_board", ["event_date", "slot"], unique=False, schema="read")
    op.create_table(
        "bookings",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("chef_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("slot", sa.Time(), nullable=False),
        sa.Column("zone_id", sa.String(length=16), nullable=False),
        sa.Column("zip", sa.String(length=5), nullable=False),
        sa.Column("address_enc", sa.LargeBinary(), nullable=False),
        sa.Column("notes_enc", sa.LargeBinary(), nullable=True),
        sa.Column("adults", sa.Integer(), nullable=False),
        sa.Column("kids", sa.Integer(), nullable=False),
        sa.Column("food_cents", sa.Integer(), nullable=False),
        sa.Column("upgrades_cents", sa.Integer(), nullable=False),
        sa.Column("travel_fee_cents", sa.Integer(), nullable=False),
        sa.Column("total_due_cents", sa.Integer(), nullable=False),
        sa.Column("deposit_due_cents", sa.Integer(), nullable=False),
        sa.Column("deposit_paid_cents", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reschedule_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('deposit_pending', 'deposit_paid', 'cancelled', 'completed')",
            name=op.f("ck_bookings_status_known"),
        ),
        sa.CheckConstraint("adults >= 0 AND kids >= 0", name=op.f("ck_bookings_party_not_negative")),
        sa.ForeignKeyConstraint(["chef_id"], ["core.chefs.id"], name=op.f("fk_bookings_chef_id_chefs")),
        sa.ForeignKeyConstraint(["customer_id"], ["core.customers.id"], name=op.f("fk_bookings_customer_id_customers")),
        sa.ForeignKeyConstraint(["zone_id"], ["core.zones.id"], name=op.f("fk_bookings_zone_id_zones")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("reference", name=op.f("uq_bookings_reference")),
        schema="core",
    )
    op.create_index("ix_bookings_customer_id", "bookings", ["customer_id"], unique=False, schema="core")
    op.create_index("ix_bookings_event_date", "bookings", ["event_date"], unique=False, schema="core")
    op.create_index(
        "uq_bookings_chef_start_active",
        "bookings",
        ["chef_id", "event_date", "slot"],
        unique=True,
        schema="core",
        postgresql_where=sa.text("status IN ('deposit_pending', 'deposit_paid')"),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("customer_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_message_id", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["core.customers.id"], name=op.f("fk_consents_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
        schema="core",
    )
    op.create_table(
        "message_threads",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("customer_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("contact_bidx", sa.LargeBinary(), nullable=True),
        sa.Column("mode", sa.String(length=8), server_default=sa.text("'ai'"), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'open'"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("channel IN ('sms', 'web')", name=op.f("ck_message_threads_channel_known")),
        sa.CheckConstraint("mode IN ('ai', 'human')", name=op.f("ck_message_threads_mode_known")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["core.customers.id"], name=op.f("fk_message_threads_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_threads")),
        schema="core",
    )
    op.create_table(
        "booking_upgrades",
        sa.Column("booking_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("guests", sa.Integer(), nullable=False),
        sa.Column("unit_cents", sa.Integer(), nullable=False),
        sa.CheckConstraint("guests > 0", name=op.f("ck_booking_upgrades_guests_positive")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["core.bookings.id"],
            name=op.f("fk_booking_upgrades_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("booking_id", "code", name=op.f("pk_booking_upgrades")),
        schema="core",
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("thread_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("body_enc", sa.LargeBinary(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("provider_message_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["core.message_threads.id"], name=op.f("fk_messages_thread_id_message_threads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("provider", "provider_message_id", name="uq_messages_provider_message"),
        schema="core",
    )
    op.create_index("ix_messages_thread_created", "messages", ["thread_id", "created_at"], unique=False, schema="core")
    op.create_table(
        "payment_events",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=255), nullable=False),
        sa.Column("booking_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default=sa.text("'USD'"), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["core.bookings.id"], name=op.f("fk_payment_events_booking_id_bookings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        sa.UniqueConstraint("provider", "provider_id", name="uq_payment_events_provider_id"),
        schema="integra",
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("payment_events", schema="integra")
    op.drop_index("ix_messages_thread_created", table_name="messages", schema="core")
    op.drop_table("messages", schema="core")
    op.drop_table("booking_upgrades", schema="core")
    op.drop_table("message_threads", schema="core")
    op.drop_table("consents", schema="core")
    op.drop_index(
        "uq_bookings_chef_start_active",
        table_name="bookings",
        schema="core",
        postgresql_where=sa.text("status IN ('deposit_pending', 'deposit_paid')"),
    )
    op.drop_index("ix_bookings_event_date", table_name="bookings", schema="core")
    op.drop_index("ix_bookings_customer_id", table_name="bookings", schema="core")
    op.drop_table("bookings", schema="core")
    op.drop_index("ix_schedule_board_date", table_name="schedule_board", schema="read")
    op.drop_table("schedule_board", schema="read")
    op.drop_index("ix_payments_feed_occurred", table_name="payments_feed", schema="read")
    op.drop_table("payments_feed", schema="read")
    op.drop_table("inbox_threads", schema="read")
    op.drop_table("customer_360", schema="read")
    op.drop_table("staff_users", schema="identity")
    op.drop_index("ix_outbox_due", table_name="outbox", schema="events", postgresql_where=sa.text("status = 'pending'"))
    op.drop_table("outbox", schema="events")
    op.drop_table("idempotency_keys", schema="events")
    op.drop_table("domain_events", schema="events")
    op.drop_table("zones", schema="core")
    op.drop_index("uq_customers_phone_bidx", table_name="customers", schema="core")
    op.drop_index("uq_customers_email_bidx", table_name="customers", schema="core")
    op.drop_table("customers", schema="core")
    op.drop_table("chefs", schema="core")
    for schema in reversed(SCHEMAS):
        op.execute(f"DROP SCHEMA IF EXISTS {schema}")
