"""audit

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 09:00:00

The tamper-evident audit log (schema `audit`): hash-chained entries, append-only at the database
level too. Triggers refuse UPDATE, DELETE and TRUNCATE for every role; only someone who can
disable triggers (the table's owner, a superuser) gets past them, and the hash chain shows what
they changed (`hibachi audit verify`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS audit")
    op.create_table(
        "entries",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_entries")),
        schema="audit",
    )
    op.execute(
        """
        CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit.entries is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON audit.entries "
        "FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON audit.entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()"
    )


def downgrade() -> None:
    op.drop_table("entries", schema="audit")  # its triggers go with it
    op.execute("DROP FUNCTION IF EXISTS audit.refuse_change()")
    op.execute("DROP SCHEMA IF EXISTS audit")
