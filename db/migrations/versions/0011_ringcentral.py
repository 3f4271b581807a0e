"""ringcentral: sent texts and the webhook subscription

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 04:25:00

`integra.sms_deliveries`: one row per outbox message a provider accepted (its message id, written
before the outbox row is marked done, so a retry does not send it again) and the latest delivery
status the provider reported. `integra.webhook_subscriptions`: the provider's subscription to renew.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_deliveries",
        sa.Column("outbox_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_message_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", postgresql.UUID(as_uuid=False), nullable=True),
        sa.Column("message_id", postgresql.UUID(as_uuid=False), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_sms_deliveries")),
        sa.UniqueConstraint("provider", "provider_message_id", name="uq_sms_deliveries_provider_message_id"),
        schema="integra",
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_webhook_subscriptions")),
        schema="integra",
    )


def downgrade() -> None:
    op.drop_table("webhook_subscriptions", schema="integra")
    op.drop_table("sms_deliveries", schema="integra")
