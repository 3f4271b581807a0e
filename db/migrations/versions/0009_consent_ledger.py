"""consent ledger

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 10:00:00

The consent ledger grows the evidence TCPA asks for: what the customer said (encrypted), the web
client's IP and page, the phone's blind index (an opt-out is found by number without storing it)
and a sequence that orders entries recorded at the same instant. Existing sms rows get their
customer's phone index (the same HMAC). `integra.sms_refusals` records every outbound text the SMS
sender refused or held, and why.

Another engineer's 0008 is written in parallel; this one is re-chained after it at merge.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "consents", sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False), schema="core"
    )
    op.add_column("consents", sa.Column("phone_bidx", sa.LargeBinary(), nullable=True), schema="core")
    op.add_column("consents", sa.Column("text_enc", sa.LargeBinary(), nullable=True), schema="core")
    op.add_column("consents", sa.Column("ip_enc", sa.LargeBinary(), nullable=True), schema="core")
    op.add_column("consents", sa.Column("page_enc", sa.LargeBinary(), nullable=True), schema="core")
    op.execute(
        "UPDATE core.consents c SET phone_bidx = u.phone_bidx FROM core.customers u"
        " WHERE u.id = c.customer_id AND c.channel = 'sms'"
    )
    op.create_index("ix_consents_phone_bidx", "consents", ["phone_bidx", "channel", "seq"], unique=False, schema="core")
    op.create_index(
        "ix_consents_customer_id", "consents", ["customer_id", "channel", "seq"], unique=False, schema="core"
    )
    op.create_table(
        "sms_refusals",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("outbox_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("booking_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "reason IN ('opted_out', 'no_consent', 'quiet_hours', 'no_phone')",
            name=op.f("ck_sms_refusals_reason_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_refusals")),
        schema="integra",
    )
    op.create_index("ix_sms_refusals_thread_id", "sms_refusals", ["thread_id"], unique=False, schema="integra")


def downgrade() -> None:
    op.drop_index("ix_sms_refusals_thread_id", table_name="sms_refusals", schema="integra")
    op.drop_table("sms_refusals", schema="integra")
    op.drop_index("ix_consents_customer_id", table_name="consents", schema="core")
    op.drop_index("ix_consents_phone_bidx", table_name="consents", schema="core")
    for column in ("page_enc", "ip_enc", "text_enc", "phone_bidx", "seq"):
        op.drop_column("consents", column, schema="core")
