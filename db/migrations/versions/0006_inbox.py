"""inbox: thread status (open, pending, snoozed, resolved), assignment, snooze, private notes, staff
authors of messages, the inbox alert and preview columns, customer name blind indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 10:00:00

A thread the agent handles is `pending`; one that needs or has staff (handoff, takeover) is `open`.
Existing threads take that status from their mode. The customers' name blind indexes start empty
for existing rows (a customer's name is indexed when it is next written); staff search finds by
exact first, last or full name only, since an encrypted name has no prefix to match.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=False)


def upgrade() -> None:
    for column in ("first_name_bidx", "last_name_bidx", "full_name_bidx"):
        op.add_column("customers", sa.Column(column, sa.LargeBinary(), nullable=True), schema="core")
        op.create_index(f"ix_customers_{column}", "customers", [column], unique=False, schema="core")

    op.add_column("message_threads", sa.Column("assignee_id", UUID, nullable=True), schema="core")
    op.add_column(
        "message_threads", sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True), schema="core"
    )
    op.create_foreign_key(
        op.f("fk_message_threads_assignee_id_staff_users"),
        "message_threads",
        "staff_users",
        ["assignee_id"],
        ["id"],
        source_schema="core",
        referent_schema="identity",
    )
    op.execute("UPDATE core.message_threads SET status = CASE WHEN mode = 'human' THEN 'open' ELSE 'pending' END")
    op.alter_column("message_threads", "status", server_default=sa.text("'pending'"), schema="core")
    op.create_check_constraint(
        op.f("ck_message_threads_status_known"),
        "message_threads",
        "status IN ('open', 'pending', 'snoozed', 'resolved')",
        schema="core",
    )

    op.add_column("messages", sa.Column("staff_id", UUID, nullable=True), schema="core")
    op.create_foreign_key(
        op.f("fk_messages_staff_id_staff_users"),
        "messages",
        "staff_users",
        ["staff_id"],
        ["id"],
        source_schema="core",
        referent_schema="identity",
    )

    op.create_table(
        "thread_notes",
        sa.Column("id", UUID, server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("thread_id", UUID, nullable=False),
        sa.Column("author_id", UUID, nullable=False),
        sa.Column("body_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["core.message_threads.id"], name=op.f("fk_thread_notes_thread_id_message_threads")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["identity.staff_users.id"], name=op.f("fk_thread_notes_author_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_thread_notes")),
        schema="core",
    )
    op.create_index(
        "ix_thread_notes_thread_created", "thread_notes", ["thread_id", "created_at"], unique=False, schema="core"
    )

    op.add_column("inbox_threads", sa.Column("handoff_reason", sa.String(length=32), nullable=True), schema="read")
    op.add_column(
        "inbox_threads",
        sa.Column("handoff_requested", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="read",
    )
    op.add_column("inbox_threads", sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True), schema="read")
    op.add_column("inbox_threads", sa.Column("last_message_id", UUID, nullable=True), schema="read")
    op.add_column("inbox_threads", sa.Column("last_author", sa.String(length=16), nullable=True), schema="read")
    op.execute(
        "UPDATE read.inbox_threads i SET status = t.status, handoff_reason = t.handoff_reason"
        " FROM core.message_threads t WHERE t.id = i.thread_id"
    )
    op.execute(
        "UPDATE read.inbox_threads i SET last_message_id = m.id, last_author = m.author FROM ("
        " SELECT DISTINCT ON (thread_id) thread_id, id, author FROM core.messages ORDER BY thread_id, seq DESC"
        ") m WHERE m.thread_id = i.thread_id"
    )
    op.create_index(
        "ix_inbox_threads_order",
        "inbox_threads",
        [
            sa.text("handoff_requested DESC"),
            sa.text("waiting_since ASC NULLS LAST"),
            sa.text("last_message_at DESC NULLS LAST"),
        ],
        unique=False,
        schema="read",
    )
    op.create_index("ix_inbox_threads_status", "inbox_threads", ["status"], unique=False, schema="read")
    op.create_index("ix_inbox_threads_assignee_id", "inbox_threads", ["assignee_id"], unique=False, schema="read")
    op.create_index("ix_inbox_threads_customer_id", "inbox_threads", ["customer_id"], unique=False, schema="read")


def downgrade() -> None:
    op.drop_index("ix_inbox_threads_customer_id", table_name="inbox_threads", schema="read")
    op.drop_index("ix_inbox_threads_assignee_id", table_name="inbox_threads", schema="read")
    op.drop_index("ix_inbox_threads_status", table_name="inbox_threads", schema="read")
    op.drop_index("ix_inbox_threads_order", table_name="inbox_threads", schema="read")
    for column in ("last_author", "last_message_id", "snoozed_until", "handoff_requested", "handoff_reason"):
        op.drop_column("inbox_threads", column, schema="read")
    op.drop_index("ix_thread_notes_thread_created", table_name="thread_notes", schema="core")
    op.drop_table("thread_notes", schema="core")
    op.drop_constraint(op.f("fk_messages_staff_id_staff_users"), "messages", schema="core", type_="foreignkey")
    op.drop_column("messages", "staff_id", schema="core")
    op.drop_constraint(op.f("ck_message_threads_status_known"), "message_threads", schema="core", type_="check")
    op.execute("UPDATE core.message_threads SET status = 'open'")
    op.execute("UPDATE read.inbox_threads SET status = 'open'")
    op.alter_column("message_threads", "status", server_default=sa.text("'open'"), schema="core")
    op.drop_constraint(
        op.f("fk_message_threads_assignee_id_staff_users"), "message_threads", schema="core", type_="foreignkey"
    )
    op.drop_column("message_threads", "snoozed_until", schema="core")
    op.drop_column("message_threads", "assignee_id", schema="core")
    for column in ("full_name_bidx", "last_name_bidx", "first_name_bidx"):
        op.drop_index(f"ix_customers_{column}", table_name="customers", schema="core")
        op.drop_column("customers", column, schema="core")
