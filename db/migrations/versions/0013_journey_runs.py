"""journey runs

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 04:50:00

The journey engine's durable state (automation/runner.py): one run per journey and booking (or
conversation, for a quote follow-up), the
step it is on and when it is due; a log of every step taken (its primary key is the step's
idempotency key); staff tasks journeys create.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS automation")
    op.create_table(
        "journey_runs",
        sa.Column("id", postgresql.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("journey", sa.String(length=64), nullable=False),
        sa.Column("booking_id", postgresql.UUID(as_uuid=False), nullable=True),
        sa.Column("thread_id", postgresql.UUID(as_uuid=False), nullable=True),
        sa.Column("step_index", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'active'"), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'finished', 'exited', 'stopped', 'failed')",
            name=op.f("ck_journey_runs_status_known"),
        ),
        sa.CheckConstraint(
            "(booking_id IS NULL) <> (thread_id IS NULL)", name=op.f("ck_journey_runs_booking_or_thread")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_runs")),
        sa.UniqueConstraint("journey", "booking_id", name="uq_journey_runs_journey_booking"),
        sa.UniqueConstraint("journey", "thread_id", name="uq_journey_runs_journey_thread"),
        schema="automation",
    )
    op.create_index("ix_journey_runs_due", "journey_runs", ["status", "due_at"], schema="automation")
    op.create_index("ix_journey_runs_booking_id", "journey_runs", ["booking_id"], schema="automation")
    op.create_table(
        "journey_steps",
        sa.Column("run_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["automation.journey_runs.id"], name=op.f("fk_journey_steps_run_id_journey_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "step_index", name=op.f("pk_journey_steps")),
        schema="automation",
    )
    op.create_table(
        "staff_tasks",
        sa.Column("id", postgresql.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("booking_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("run_id", postgresql.UUID(as_uuid=False), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_tasks")),
        schema="automation",
    )


def downgrade() -> None:
    op.drop_table("staff_tasks", schema="automation")
    op.drop_table("journey_steps", schema="automation")
    op.drop_index("ix_journey_runs_booking_id", table_name="journey_runs", schema="automation")
    op.drop_index("ix_journey_runs_due", table_name="journey_runs", schema="automation")
    op.drop_table("journey_runs", schema="automation")
    op.execute("DROP SCHEMA IF EXISTS automation")
