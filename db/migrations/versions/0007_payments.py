"""payments

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 02:10:00

Payments: hosted checkout links per booking, webhook events seen (dedupe by the provider's event
id), linked bank items with their sync cursor, bank transactions (payer and memo encrypted), the
matcher's suggestions and the payer aliases it learns from confirmed matches.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_items",
        sa.Column("item_id", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=16), server_default=sa.text("'plaid'"), nullable=False),
        sa.Column("access_token_enc", sa.LargeBinary(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_bank_items")),
        schema="integra",
    )
    op.create_table(
        "webhook_events",
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("provider", "event_id", name=op.f("pk_webhook_events")),
        schema="integra",
    )
    op.create_table(
        "payer_aliases",
        sa.Column("payer_bidx", sa.LargeBinary(), nullable=False),
        sa.Column("customer_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("confirmed", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["core.customers.id"], name=op.f("fk_payer_aliases_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("payer_bidx", "customer_id", name=op.f("pk_payer_aliases")),
        schema="integra",
    )
    op.create_table(
        "bank_transactions",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=255), nullable=False),
        sa.Column("item_id", sa.String(length=255), nullable=True),
        sa.Column("account_id", sa.String(length=255), nullable=True),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("posted_on", sa.Date(), nullable=False),
        sa.Column("pending", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("pending_id", sa.String(length=255), nullable=True),
        sa.Column("payer_enc", sa.LargeBinary(), nullable=True),
        sa.Column("memo_enc", sa.LargeBinary(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("match_status", sa.String(length=16), server_default=sa.text("'unmatched'"), nullable=False),
        sa.Column("booking_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["core.bookings.id"], name=op.f("fk_bank_transactions_booking_id_bookings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_transactions")),
        sa.UniqueConstraint("provider", "provider_id", name="uq_bank_transactions_provider_id"),
        schema="integra",
    )
    op.create_index(
        "ix_bank_transactions_match", "bank_transactions", ["match_status", "posted_on"], unique=False, schema="integra"
    )
    op.create_table(
        "payment_links",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("booking_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'open'"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outbox_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["core.bookings.id"], name=op.f("fk_payment_links_booking_id_bookings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_links")),
        sa.UniqueConstraint("provider", "provider_id", name="uq_payment_links_provider_id"),
        schema="integra",
    )
    op.create_index("ix_payment_links_booking", "payment_links", ["booking_id"], unique=False, schema="integra")
    op.create_table(
        "match_suggestions",
        sa.Column("transaction_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("booking_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column(
            "evidence", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'suggested'"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["core.bookings.id"], name=op.f("fk_match_suggestions_booking_id_bookings")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["integra.bank_transactions.id"],
            name=op.f("fk_match_suggestions_transaction_id_bank_transactions"),
        ),
        sa.PrimaryKeyConstraint("transaction_id", "booking_id", name=op.f("pk_match_suggestions")),
        schema="integra",
    )


def downgrade() -> None:
    op.drop_table("match_suggestions", schema="integra")
    op.drop_index("ix_payment_links_booking", table_name="payment_links", schema="integra")
    op.drop_table("payment_links", schema="integra")
    op.drop_index("ix_bank_transactions_match", table_name="bank_transactions", schema="integra")
    op.drop_table("bank_transactions", schema="integra")
    op.drop_table("payer_aliases", schema="integra")
    op.drop_table("webhook_events", schema="integra")
    op.drop_table("bank_items", schema="integra")
