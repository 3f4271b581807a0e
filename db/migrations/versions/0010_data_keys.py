"""data keys (envelope encryption) and erasure

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 03:40:00

One data key per customer and per thread, wrapped by a master key (db/envelope.py); a customer can
be erased (crypto-shredded): `erased_at`, and an erased customer keeps no contact.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("owner_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("owner_kind", sa.String(length=16), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("master_key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("owner_kind IN ('customer', 'thread')", name=op.f("ck_data_keys_owner_kind_known")),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_data_keys")),
        schema="core",
    )
    op.create_index("ix_data_keys_master_key_id", "data_keys", ["master_key_id"], schema="core")
    op.add_column("customers", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True), schema="core")
    op.drop_constraint(op.f("ck_customers_has_contact"), "customers", schema="core", type_="check")
    op.create_check_constraint(
        op.f("ck_customers_has_contact"),
        "customers",
        "erased_at IS NOT NULL OR email_bidx IS NOT NULL OR phone_bidx IS NOT NULL",
        schema="core",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_customers_has_contact"), "customers", schema="core", type_="check")
    op.execute("DELETE FROM core.customers WHERE erased_at IS NOT NULL AND email_bidx IS NULL AND phone_bidx IS NULL")
    op.create_check_constraint(
        op.f("ck_customers_has_contact"), "customers", "email_bidx IS NOT NULL OR phone_bidx IS NOT NULL", schema="core"
    )
    op.drop_column("customers", "erased_at", schema="core")
    op.drop_index("ix_data_keys_master_key_id", table_name="data_keys", schema="core")
    op.drop_table("data_keys", schema="core")
