"""channels: thread versions, handoff reason, encrypted contact; one thread per identity; message order

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00

`messages.seq` orders a thread's messages as they were stored (turns run in that order);
`in_reply_to` ties a reply to the customer message it answers; `handled_at` marks a customer
message whose turn has run (or that staff mode took), so the next turn under the thread lock
knows what is still waiting.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("message_threads", sa.Column("contact_enc", sa.LargeBinary(), nullable=True), schema="core")
    op.add_column("message_threads", sa.Column("handoff_reason", sa.String(length=32), nullable=True), schema="core")
    op.add_column(
        "message_threads",
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        schema="core",
    )
    op.create_index(
        "uq_message_threads_channel_contact",
        "message_threads",
        ["channel", "contact_bidx"],
        unique=True,
        schema="core",
    )
    op.add_column(
        "messages",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        schema="core",
    )
    op.add_column("messages", sa.Column("in_reply_to", postgresql.UUID(as_uuid=False), nullable=True), schema="core")
    op.add_column("messages", sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True), schema="core")
    op.create_foreign_key(
        op.f("fk_messages_in_reply_to_messages"),
        "messages",
        "messages",
        ["in_reply_to"],
        ["id"],
        source_schema="core",
        referent_schema="core",
    )
    op.create_index("ix_messages_thread_seq", "messages", ["thread_id", "seq"], unique=False, schema="core")


def downgrade() -> None:
    op.drop_index("ix_messages_thread_seq", table_name="messages", schema="core")
    op.drop_constraint(op.f("fk_messages_in_reply_to_messages"), "messages", schema="core", type_="foreignkey")
    op.drop_column("messages", "handled_at", schema="core")
    op.drop_column("messages", "in_reply_to", schema="core")
    op.drop_column("messages", "seq", schema="core")
    op.drop_index("uq_message_threads_channel_contact", table_name="message_threads", schema="core")
    op.drop_column("message_threads", "version", schema="core")
    op.drop_column("message_threads", "handoff_reason", schema="core")
    op.drop_column("message_threads", "contact_enc", schema="core")
