"""audit

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 09:00:00

The tamper-evident audit log (schema `audit`): hash-chained entries, and the pending entries a
deferred trigger chains at commit (see db.audit). Append-only at the database level too: triggers
refuse UPDATE, DELETE and TRUNCATE of entries for every role; only someone who can disable
triggers (the table's owner, a superuser) gets past them, and the hash chain shows what they
changed (`hibachi audit verify`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# db.audit.AUDIT_LOCK, written out: a migration must not change when the code does.
AUDIT_LOCK = 4707744067224554567

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
    op.create_table(
        "pending",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("canonical_prefix", sa.LargeBinary(), nullable=False),
        sa.Column("canonical_suffix", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending")),
        schema="audit",
    )
    # At commit, in insertion order: lock the chain, read the head (each statement of a plpgsql
    # function takes a fresh snapshot, so the previous holder's commit is seen), chain the entry.
    op.execute(
        f"""
        CREATE FUNCTION audit.chain_pending() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            head_position bigint;
            head_hash bytea;
        BEGIN
            PERFORM pg_advisory_xact_lock({AUDIT_LOCK});
            SELECT position, hash INTO head_position, head_hash
                FROM audit.entries ORDER BY position DESC LIMIT 1;
            IF NOT FOUND THEN
                head_position := 0;
                head_hash := decode(repeat('00', 32), 'hex');
            END IF;
            INSERT INTO audit.entries (position, at, actor, action, subject, detail, prev_hash, hash)
            VALUES (
                head_position + 1, NEW.at, NEW.actor, NEW.action, NEW.subject, NEW.detail, head_hash,
                sha256(head_hash || NEW.canonical_prefix || convert_to((head_position + 1)::text, 'UTF8')
                       || NEW.canonical_suffix)
            );
            DELETE FROM audit.pending WHERE id = NEW.id;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER pending_chain AFTER INSERT ON audit.pending "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit.chain_pending()"
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
    op.drop_table("pending", schema="audit")  # its trigger goes with it
    op.execute("DROP FUNCTION IF EXISTS audit.chain_pending()")
    op.drop_table("entries", schema="audit")
    op.execute("DROP FUNCTION IF EXISTS audit.refuse_change()")
    op.execute("DROP SCHEMA IF EXISTS audit")
